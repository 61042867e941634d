"""Transport and ingest benchmark: N simulated sensors publish `ouie.report/2` reports through
a real Mosquitto on loopback (per-sensor accounts + ACL, QoS 1) to one central subscriber. For
each offered rate the run says how many reports were sent, acknowledged by the broker (PUBACK)
and stored, and tells a shortfall's two causes apart:

- `backlog_at_step_end`: sent but not yet received/committed when the last sensor finished
  publishing (the central is behind: the reports wait in the broker or the ingest queue), and
  `caught_up_s`, how long after that the last one was stored;
- `lost`: still missing `--drain-s` seconds later, counted by report id (in the database with
  `--service-db`). Zero loss is the requirement; a backlog only costs latency.

Latencies (p50/p99, ms): publish → receipt by the central, and with `--service-db` receipt →
commit (the ingest writer's batch committed; its fusion hand-off is timed) and publish → commit.

    python bench/mqtt_throughput.py --sensors 1000 --rates 1000 2000 --seconds 5 \
        --service-db postgresql+psycopg://postgres@127.0.0.1:5432/bench

Method: the sensors are paho-mqtt clients (one connection each, user = sensor id) spread over
`--workers` processes; each worker offers its share of the rate in 10 ms ticks, round-robin over
its sensors. `--outbox` adds each sensor's on-disk store-and-forward queue (SQLite, fsync) to
the path; `--service-db URL` receives with the real CentralService (validation, batched storage
with ack-after-commit, de-duplication) instead of an in-memory counter. Everything runs on this
one machine: broker, sensors, central and database share its cores.
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
from load_reports import load_report
from rich.console import Console

from ouie.core.report import EventReport
from ouie.transport.broker import CENTRAL_USER, LocalMosquitto
from ouie.transport.mqtt import BrokerSettings, MqttBus
from ouie.transport.outbox import Outbox, SensorUplink
from ouie.transport.topics import ALL_REPORTS_FILTER, reports_topic


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
            report = load_report(sid, seq)
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


Arrival = tuple[int, int, int]
"""(onset = publish time, receipt by the central, commit) of one report, UTC ns."""


class CountingCentral:
    """Receiving side without storage: validates each report, de-duplicates in memory
    (receipt = commit)."""

    def __init__(self, bus: MqttBus) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, Arrival] = {}
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
            self.arrivals.setdefault(report.report_id, (report.onset_ns, arrived_ns, arrived_ns))

    def arrived(self, report_ids: list[str]) -> dict[str, Arrival]:
        """Arrivals of those of `report_ids` received so far."""
        with self.lock:
            return {rid: self.arrivals[rid] for rid in report_ids if rid in self.arrivals}

    def counts(self) -> dict[str, float]:
        """Messages, duplicates and invalid ones received."""
        with self.lock:
            duplicates = self.messages - len(self.arrivals)
            return {"duplicates": duplicates, "invalid": self.invalid}


class CommitClock:
    """Stands in for fusion (random reports from 1,000 sensors make no incidents) and notes
    when each report reaches it: the ingest writer hands reports to fusion right after their
    batch is committed, so this is the commit time."""

    def __init__(self) -> None:
        self.committed_ns: dict[str, int] = {}

    def add(self, report: EventReport, now_ns: int) -> list[object]:
        self.committed_ns[report.report_id] = time.time_ns()
        return []

    def poll(self, now_ns: int) -> list[object]:
        return []


class ServiceCentral:
    """Receiving side = the real `CentralService` (validation, batched storage, ack after
    commit, de-duplication); presence is counted by id in the database."""

    def __init__(
        self, bus: MqttBus, database_url: str, ids: list[str], ingest: dict[str, float]
    ) -> None:
        from ouie.central.config import IngestSettings
        from ouie.central.service import CentralService
        from ouie.core.recording import SensorSite
        from ouie.store.repository import Store

        self.store = Store.open(database_url)
        self.clock = CommitClock()
        sites = [SensorSite(id=sid, lat=45.4 + k * 1e-5, lon=4.38) for k, sid in enumerate(ids)]
        self.settings = IngestSettings(**ingest)
        self.service = CentralService(
            self.store, bus, self.clock, sites, tick_s=1.0, ingest=self.settings
        )
        self.service.start()

    def arrived(self, report_ids: list[str]) -> dict[str, Arrival]:
        """Arrivals of those of `report_ids` stored in the database so far."""
        from sqlalchemy import select

        from ouie.store.models import ReportRow

        found: dict[str, Arrival] = {}
        with self.store.session() as session:
            for start in range(0, len(report_ids), 5000):
                chunk = report_ids[start : start + 5000]
                query = select(
                    ReportRow.report_id, ReportRow.onset_ns, ReportRow.received_at_ns
                ).where(ReportRow.report_id.in_(chunk))
                for rid, onset, received in session.execute(query):
                    found[rid] = (onset, received, self.clock.committed_ns.get(rid, received))
        return found

    def counts(self) -> dict[str, float]:
        """Duplicates and invalid messages, from the service's counters."""
        rejected = self.service.metrics.reports_rejected
        duplicates = rejected.labels(reason="duplicate")._value.get()
        invalid = sum(rejected.labels(reason=r)._value.get() for r in ("malformed", "schema"))
        return {"duplicates": duplicates, "invalid": invalid}


def percentiles_ms(values_ns: list[int]) -> dict[str, float | None]:
    """p50 and p99 of durations given in ns, in ms (None when there are none)."""
    if not values_ns:
        return {"p50": None, "p99": None}
    values_ms = np.asarray(values_ns, dtype=float) / 1e6
    return {
        "p50": round(float(np.percentile(values_ms, 50)), 2),
        "p99": round(float(np.percentile(values_ms, 99)), 2),
    }


def measure_step(
    rate: float, sent: list[str], parts: list[dict[str, Any]], sink: Any, t0_ns: int, drain_s: float
) -> dict[str, Any]:
    """One offered rate: the rate the sensors managed to send (`sent_per_s`; below the offered
    one when they lack CPU), backlog when publishing ended, loss after `drain_s`, held rate
    (reports stored / time from the step's start to the last commit) and latencies."""
    arrived = sink.arrived(sent)
    backlog = len(sent) - len(arrived)
    t_end = time.monotonic()
    while len(arrived) < len(sent) and time.monotonic() < t_end + drain_s:
        time.sleep(0.2)
        arrived = sink.arrived(sent)
    caught_up_s = round(time.monotonic() - t_end, 2) if backlog else 0.0
    last_commit_ns = max((committed for _o, _r, committed in arrived.values()), default=t0_ns)
    publish_s = max(p["publish_s"] for p in parts)
    held_s = max((last_commit_ns - t0_ns) / 1e9, publish_s)
    receipt = percentiles_ms([r - o for o, r, _c in arrived.values()])
    commit = percentiles_ms([c - r for _o, r, c in arrived.values()])
    end_to_end = percentiles_ms([c - o for o, _r, c in arrived.values()])
    return {
        "offered_per_s": rate,
        "sent": len(sent),
        "sent_per_s": round(len(sent) / publish_s, 1),
        "acked_by_broker": sum(p["acked"] for p in parts),
        "stored_unique": len(arrived),
        "backlog_at_step_end": backlog,
        "caught_up_s": caught_up_s if len(arrived) == len(sent) else None,
        "lost": len(sent) - len(arrived),
        "held_per_s": round(len(arrived) / held_s, 1),
        "latency_publish_to_receipt_ms": receipt,
        "latency_receipt_to_commit_ms": commit,
        "latency_publish_to_commit_ms": end_to_end,
    }


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
    for quantile in ("p50", "p99"):
        latency = [s["latency_publish_to_commit_ms"][quantile] for s in steps]
        latency_ax.plot(offered, latency, "o-", label=quantile)
    latency_ax.set(
        xlabel="offered reports/s", ylabel="publish → stored, ms", yscale="log", title="latency"
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
        "--batch-max-reports", type=int, default=500, help="Ingest batch size bound (service)."
    )
    parser.add_argument(
        "--batch-max-wait-ms", type=float, default=20.0, help="Ingest batch time bound, ms."
    )
    parser.add_argument(
        "--drain-s", type=float, default=60.0, help="How long to wait for a backlog, s."
    )
    parser.add_argument(
        "--plot", type=Path, default=None, help="Write a PNG: held rate and latency."
    )
    args = parser.parse_args()
    progress = Console(stderr=True)

    args.workers = args.workers or max(2, -(-args.sensors // 250))
    load_at_start = round(os.getloadavg()[0], 2)
    ids = sensor_ids(args.sensors)
    folder = Path(tempfile.mkdtemp(prefix="ouie-bench-mqtt-"))
    accounts = {CENTRAL_USER: "pw-central", **{sid: f"pw-{sid}" for sid in ids}}
    broker = LocalMosquitto(folder / "broker", accounts)
    broker.start()
    central = MqttBus(broker.settings(CENTRAL_USER), "bench-central", clean_session=True)
    sink: CountingCentral | ServiceCentral = (
        ServiceCentral(
            central,
            args.service_db,
            ids,
            {
                "batch_max_reports": args.batch_max_reports,
                "batch_max_wait_ms": args.batch_max_wait_ms,
            },
        )
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
            steps.append(measure_step(rate, sent, parts, sink, t0_ns, args.drain_s))
        progress.log(
            f"{rate:.0f}/s offered: {steps[-1]['held_per_s']}/s held, backlog at step end "
            f"{steps[-1]['backlog_at_step_end']}, lost {steps[-1]['lost']}, receipt → commit "
            f"p99 {steps[-1]['latency_receipt_to_commit_ms']['p99']} ms"
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
    zero_loss = [s for s in steps if s["lost"] == 0 and s["acked_by_broker"] == s["sent"]]
    print(
        json.dumps(
            {
                "benchmark": "mqtt_throughput",
                "method": (
                    "paho-mqtt 2 clients (one per sensor, QoS 1, own account) in "
                    f"{args.workers} processes -> Mosquitto on loopback -> "
                    + (
                        f"the CentralService storing into {args.service_db.split(':')[0]} "
                        f"(batches of <= {args.batch_max_reports} reports or "
                        f"{args.batch_max_wait_ms:g} ms, PUBACK after commit)"
                        if args.service_db
                        else "one subscriber validating ouie.report/2 and de-duplicating in memory"
                    )
                    + (" ; sensors use the SQLite store-and-forward outbox" if args.outbox else "")
                ),
                "cpu_count": os.cpu_count(),
                "load_average_1min_at_start": load_at_start,
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
