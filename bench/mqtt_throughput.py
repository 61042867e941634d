"""Transport benchmark: N simulated sensors publish `ouie.report/1` reports through a real
Mosquitto on loopback (per-sensor accounts + ACL, QoS 1); one central subscriber validates each
message and de-duplicates on report_id. For each offered rate the run says how many reports
were sent, acknowledged (PUBACK) and received, how many were still missing 60 s after the step
(lost, or queued behind a central that cannot keep up), the rate actually held and the
publish → central latency. Prints one JSON object.

    python bench/mqtt_throughput.py --sensors 1000 --rates 1000 2000 3000 --seconds 5

Method: the sensors are paho-mqtt clients (one connection each, user = sensor id) spread over
`--workers` processes; each worker offers its share of the rate in 10 ms ticks, round-robin over
its sensors. `--outbox` adds each sensor's on-disk store-and-forward queue (SQLite, fsync) to
the path; `--service-db URL` receives with the real CentralService (validation, de-duplication,
storage) instead of an in-memory counter. Everything runs on this one machine: broker, sensors
and central share its cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from ouie.core.report import EventReport, ModelId
from ouie.transport.broker import CENTRAL_USER, LocalMosquitto
from ouie.transport.mqtt import BrokerSettings, MqttBus
from ouie.transport.outbox import Outbox, SensorUplink
from ouie.transport.topics import ALL_REPORTS_FILTER, reports_topic

MODEL = ModelId(name="bench/1", sha256="0" * 64)


def sensor_ids(count: int) -> list[str]:
    """Sensor ids se-0000 … se-(count−1)."""
    return [f"se-{k:04d}" for k in range(count)]


class AckCounter:
    """Counts PUBACKs (called from the MQTT network thread)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1


def worker(
    ids: list[str],
    settings: dict[str, Any],
    rates: list[float],
    seconds: float,
    outbox_dir: str | None,
    start_barrier: Any,
    step_barrier: Any,
    results: Any,
) -> None:
    """Connect `ids`, then for each rate publish rate·seconds reports, paced in 10 ms ticks."""
    buses = {
        sid: MqttBus(BrokerSettings(**settings, username=sid, password=f"pw-{sid}"), f"bench-{sid}")
        for sid in ids
    }
    connected = sum(bus.wait_connected(60) for bus in buses.values())
    uplinks = (
        {
            sid: SensorUplink(sid, bus, Outbox(Path(outbox_dir) / f"{sid}.db"))
            for sid, bus in buses.items()
        }
        if outbox_dir
        else {}
    )
    start_barrier.wait()
    seq = 0
    for rate in rates:
        step_barrier.wait()
        acks = AckCounter()
        sent: list[str] = []
        total = round(rate * seconds)
        t_start = time.perf_counter()
        for k in range(total):
            due = t_start + k / rate
            delay = due - time.perf_counter()
            if delay > 0.01:
                time.sleep(delay)
            sid = ids[k % len(ids)]
            report = EventReport.model_validate(
                {
                    "sensor_id": sid,
                    "seq": seq,
                    "class": "gunshot",
                    "score": 0.9,
                    "onset": time.time_ns(),
                    "onset_uncertainty_s": 0.0005,
                    "duration_s": 0.2,
                    "peak_dbfs": -10.0,
                    "model": MODEL,
                }
            )
            seq += 1
            if uplinks:
                uplinks[sid].send(report)
            else:
                buses[sid].publish(reports_topic(sid), report.to_json().encode(), on_acked=acks)
            sent.append(report.report_id)
        publish_s = time.perf_counter() - t_start
        if uplinks:
            all(u.flush(60) for u in uplinks.values())
            acks.count = len(sent) - sum(u.pending() for u in uplinks.values())
        else:
            deadline = time.monotonic() + 60
            while acks.count < len(sent) and time.monotonic() < deadline:
                time.sleep(0.01)
        results.put(
            {
                "rate": rate,
                "sent": sent,
                "acked": acks.count,
                "publish_s": publish_s,
                "connected": connected,
            }
        )
    for bus in buses.values():
        bus.close()


class CountingCentral:
    """Receiving side without storage: validates each report, de-duplicates in memory."""

    def __init__(self, bus: MqttBus) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, tuple[int, int]] = {}
        self.messages = 0
        self.invalid = 0
        bus.subscribe(ALL_REPORTS_FILTER, self.on_message)

    def on_message(self, topic: str, payload: bytes) -> None:
        arrived_ns = time.time_ns()
        try:
            report = EventReport.from_json(payload)
        except ValueError:
            with self.lock:
                self.invalid += 1
            return
        with self.lock:
            self.messages += 1
            self.arrivals.setdefault(report.report_id, (arrived_ns, report.onset_ns))

    def arrived(self, report_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(arrival ns, onset ns) of those of `report_ids` received so far."""
        with self.lock:
            return {rid: self.arrivals[rid] for rid in report_ids if rid in self.arrivals}

    def counts(self) -> dict[str, float]:
        """Messages, duplicates and invalid ones received."""
        with self.lock:
            duplicates = self.messages - len(self.arrivals)
            return {"duplicates": duplicates, "invalid": self.invalid}


class ServiceCentral:
    """Receiving side = the real `CentralService` (validation, de-duplication and storage in
    the database; fusion left out: random reports from 1,000 sensors make no incidents)."""

    class NoFusion:
        def add(self, report: EventReport, now_ns: int) -> list[object]:
            return []

        def poll(self, now_ns: int) -> list[object]:
            return []

    def __init__(self, bus: MqttBus, database_url: str, ids: list[str]) -> None:
        from ouie.central.service import CentralService
        from ouie.core.recording import SensorSite
        from ouie.store.repository import Store

        self.store = Store.open(database_url)
        sites = [SensorSite(id=sid, lat=45.4 + k * 1e-5, lon=4.38) for k, sid in enumerate(ids)]
        self.service = CentralService(self.store, bus, self.NoFusion(), sites, tick_s=1.0)
        self.service.start()

    def arrived(self, report_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(received_at ns, onset ns) of those of `report_ids` stored so far."""
        from sqlalchemy import select

        from ouie.store.models import Report

        found: dict[str, tuple[int, int]] = {}
        with self.store.session() as session:
            for start in range(0, len(report_ids), 5000):
                chunk = report_ids[start : start + 5000]
                query = select(Report.report_id, Report.received_at_ns, Report.onset_ns).where(
                    Report.report_id.in_(chunk)
                )
                found.update(
                    {rid: (received, onset) for rid, received, onset in session.execute(query)}
                )
        return found

    def counts(self) -> dict[str, float]:
        """Duplicates and invalid messages, from the service's counters."""
        rejected = self.service.metrics.reports_rejected
        duplicates = rejected.labels(reason="duplicate")._value.get()
        invalid = sum(rejected.labels(reason=r)._value.get() for r in ("malformed", "schema"))
        return {"duplicates": duplicates, "invalid": invalid}


def plot_steps(steps: list[dict[str, Any]], path: Path, title: str) -> None:
    """Held vs offered rate (with the ideal line) and p50/p99 latency per offered rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [s["offered_per_s"] for s in steps]
    fig, (rate_ax, latency_ax) = plt.subplots(1, 2, figsize=(10, 4))
    rate_ax.plot(offered, offered, "--", color="grey", label="offered")
    rate_ax.plot(offered, [s["held_per_s"] for s in steps], "o-", label="held")
    rate_ax.set(xlabel="offered reports/s", ylabel="reports/s", title="throughput")
    rate_ax.legend()
    for key, label in (("latency_p50_ms", "p50"), ("latency_p99_ms", "p99")):
        latency_ax.plot(offered, [s[key] for s in steps], "o-", label=label)
    latency_ax.set(
        xlabel="offered reports/s", ylabel="publish → central, ms", yscale="log", title="latency"
    )
    latency_ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--rates", type=float, nargs="+", default=[1000.0, 2000.0, 3000.0])
    parser.add_argument("--seconds", type=float, default=5.0, help="Duration of each step, s.")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="Sensor processes (default: one per 250 sensors, at least 2: paho uses select(), "
        "which takes no file descriptor above 1024, and each client holds 3).",
    )
    parser.add_argument("--outbox", action="store_true", help="Store-and-forward on each sensor.")
    parser.add_argument(
        "--service-db",
        default=None,
        help="Receive with the real CentralService storing into this database URL "
        "(e.g. sqlite:////tmp/bench.db); default: validate and count in memory.",
    )
    parser.add_argument(
        "--plot", type=Path, default=None, help="Write a PNG: held rate and latency."
    )
    args = parser.parse_args()
    progress = Console(stderr=True)

    args.workers = args.workers or max(2, -(-args.sensors // 250))
    ids = sensor_ids(args.sensors)
    folder = Path(tempfile.mkdtemp(prefix="ouie-bench-mqtt-"))
    accounts = {CENTRAL_USER: "pw-central", **{sid: f"pw-{sid}" for sid in ids}}
    broker = LocalMosquitto(folder / "broker", accounts)
    broker.start()
    central = MqttBus(broker.settings(CENTRAL_USER), "bench-central", clean_session=True)
    sink: CountingCentral | ServiceCentral = (
        ServiceCentral(central, args.service_db, ids)
        if args.service_db
        else CountingCentral(central)
    )
    assert central.wait_subscribed(10), central.last_error

    ctx = mp.get_context("fork")
    start_barrier = ctx.Barrier(args.workers + 1, timeout=300)
    step_barrier = ctx.Barrier(args.workers + 1, timeout=300)
    results = ctx.Queue()
    shares = [ids[w :: args.workers] for w in range(args.workers)]
    outbox_dir = str(folder / "outboxes") if args.outbox else None
    if outbox_dir:
        os.makedirs(outbox_dir)
    settings = {"host": broker.host, "port": broker.port}
    t_connect = time.perf_counter()
    processes = [
        ctx.Process(
            target=worker,
            args=(
                share,
                settings,
                [r / args.workers for r in args.rates],
                args.seconds,
                outbox_dir,
                start_barrier,
                step_barrier,
                results,
            ),
        )
        for share in shares
    ]
    for process in processes:
        process.start()
    with progress.status(f"connecting {args.sensors} sensors…"):
        start_barrier.wait()
    connect_s = time.perf_counter() - t_connect
    progress.log(f"{args.sensors} sensors connected in {connect_s:.1f} s")

    steps = []
    for rate in args.rates:
        step_barrier.wait()
        t0_ns = time.time_ns()
        with progress.status(f"offering {rate:.0f} reports/s for {args.seconds} s…"):
            parts = [results.get(timeout=300) for _ in processes]
            sent = [rid for part in parts for rid in part["sent"]]
            deadline = time.monotonic() + 60
            arrived = sink.arrived(sent)
            while len(arrived) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.2)
                arrived = sink.arrived(sent)
        last_ns = max((received for received, _onset in arrived.values()), default=t0_ns)
        latencies = np.array([(r - o) / 1e9 for r, o in arrived.values()])
        received = list(arrived)
        held_s = max((last_ns - t0_ns) / 1e9, max(p["publish_s"] for p in parts))
        steps.append(
            {
                "offered_per_s": rate,
                "sent": len(sent),
                "acked": sum(p["acked"] for p in parts),
                "received_unique": len(received),
                "missing_after_60s": len(sent) - len(received),
                "held_per_s": round(len(received) / held_s, 1),
                "latency_p50_ms": round(float(np.percentile(latencies, 50)) * 1e3, 2)
                if len(latencies)
                else None,
                "latency_p99_ms": round(float(np.percentile(latencies, 99)) * 1e3, 2)
                if len(latencies)
                else None,
            }
        )
        progress.log(
            f"{rate:.0f}/s offered: {steps[-1]['held_per_s']}/s held, "
            f"{steps[-1]['missing_after_60s']} missing, p99 {steps[-1]['latency_p99_ms']} ms"
        )
    for process in processes:
        process.join(timeout=30)
    if isinstance(sink, ServiceCentral):
        sink.service.stop()
    central.close()
    broker.stop()
    shutil.rmtree(folder, ignore_errors=True)
    if args.plot is not None:
        plot_steps(steps, args.plot, f"{args.sensors} sensors, {os.cpu_count()} cores")
    zero_loss = [s for s in steps if s["missing_after_60s"] == 0 and s["acked"] == s["sent"]]
    print(
        json.dumps(
            {
                "benchmark": "mqtt_throughput",
                "method": (
                    "paho-mqtt 2 clients (one per sensor, QoS 1, own account) in "
                    f"{args.workers} processes -> Mosquitto on loopback -> "
                    + (
                        f"the CentralService storing into {args.service_db.split(':')[0]}"
                        if args.service_db
                        else "one subscriber validating ouie.report/1 and de-duplicating in memory"
                    )
                    + (" ; sensors use the SQLite store-and-forward outbox" if args.outbox else "")
                ),
                "cpu_count": os.cpu_count(),
                "load_average_1min_at_end": round(os.getloadavg()[0], 2),
                "sensors": args.sensors,
                "sensors_connected": sum(p["connected"] for p in parts),
                "connect_all_s": round(connect_s, 2),
                "seconds_per_step": args.seconds,
                "steps": steps,
                **{f"{name}_received": value for name, value in sink.counts().items()},
                "max_held_per_s_with_zero_loss": max(
                    (s["held_per_s"] for s in zero_loss), default=0.0
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
