"""Fault benchmark: `ouie serve` killed with SIGKILL while sensors publish, then restarted.

A real Mosquitto (the `ouie broker-config` settings: accounts, ACL, client ids bound to
accounts), a real `ouie serve` process on SQLite (or `--db`), and `--sensors` MQTT sensors
publishing `--rate` reports/s in all for `--seconds`. At `--kill-at-s` the central gets SIGKILL;
`--down-s` later a new one starts on the same database. Then the script waits until every
report the broker acknowledged is stored, or `--drain-s`, and counts by report key:

    lost    = acknowledged by the broker, never stored
    doubled = stored rows − distinct (sensor_id, report_id) keys (the primary key makes it 0;
              counted anyway)

    python bench/fault_kill9.py --sensors 4 --rate 200 --seconds 8

Prints JSON (with the machine's core count). The test suite has the in-process forms of the
same faults (`test_central_ingest.py`, `test_central_mqtt.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_reports import load_report
from ouie.core.recording import SensorSite, sensors_geojson
from ouie.transport.broker import CENTRAL_USER, LocalMosquitto, free_port
from ouie.transport.mqtt import MqttBus
from ouie.transport.topics import reports_topic


def start_central(city: Path, http_port: int, log: Path) -> subprocess.Popen[bytes]:
    """`ouie serve --config city` as its own process; returns once /healthz says ok."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from ouie.cli import main; main()", "serve", "-c", str(city)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ouie serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("ouie serve did not become healthy within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200.0, help="Reports/s, all sensors.")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--kill-at-s", type=float, default=2.5)
    parser.add_argument("--down-s", type=float, default=2.0)
    parser.add_argument("--drain-s", type=float, default=60.0)
    parser.add_argument("--db", default=None, help="Database URL (default: a SQLite file).")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ouie-kill9-"))
    sensor_ids = [f"s{k}" for k in range(args.sensors)]
    accounts = {name: f"pw-{name}" for name in [CENTRAL_USER, *sensor_ids]}
    broker = LocalMosquitto(folder / "mosquitto", accounts)
    broker.start()
    (folder / "central.secret").write_text(accounts[CENTRAL_USER])
    sites = [SensorSite(id=s, lat=45.44 + 0.001 * k, lon=4.39) for k, s in enumerate(sensor_ids)]
    (folder / "sensors.geojson").write_text(json.dumps(sensors_geojson(sites)))
    database_url = args.db or f"sqlite:///{folder / 'central.db'}"
    http_port = free_port()
    city = folder / "city.yaml"
    city.write_text(
        json.dumps(
            {
                "name": "kill9",
                "origin": {"lat": 45.44, "lon": 4.39},
                "database_url": database_url,
                "transport": "mqtt",
                "broker": {
                    "host": broker.host,
                    "port": broker.port,
                    "password_file": "central.secret",
                },
                "sensors_file": "sensors.geojson",
                "http": {"port": http_port},
                "console": None,
            }
        )
    )
    log = folder / "central.log"
    central = start_central(city, http_port, log)

    acked: list[tuple[str, str]] = []
    lock = threading.Lock()
    buses = {s: MqttBus(broker.settings(s), client_id=s) for s in sensor_ids}
    assert all(bus.wait_connected(10) for bus in buses.values())

    def on_acked(key: tuple[str, str]) -> None:
        with lock:
            acked.append(key)

    sent = 0
    started = time.monotonic()
    centrals = [central]
    timings: dict[str, float] = {}

    def kill_and_restart() -> None:
        """SIGKILL at kill_at_s, a new central down_s later (the sensors keep publishing)."""
        time.sleep(args.kill_at_s)
        centrals[0].send_signal(signal.SIGKILL)
        centrals[0].wait()
        timings["killed_at_s"] = time.monotonic() - started
        time.sleep(args.down_s)
        timings["restarted_at_s"] = time.monotonic() - started
        centrals.append(start_central(city, http_port, log))
        timings["healthy_at_s"] = time.monotonic() - started

    fault = threading.Thread(target=kill_and_restart)
    fault.start()
    while time.monotonic() - started < args.seconds:
        sensor = sensor_ids[sent % len(sensor_ids)]
        report = load_report(sensor, sent)
        buses[sensor].publish(
            reports_topic(sensor),
            report.to_json().encode(),
            on_acked=lambda key=report.key: on_acked(key),
        )
        sent += 1
        time.sleep(max(0.0, started + sent / args.rate - time.monotonic()))

    fault.join()
    central = centrals[-1]
    engine = create_engine(database_url)
    deadline = time.monotonic() + args.drain_s
    while True:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT sensor_id, report_id FROM reports")).all()
        with lock:
            expected = set(acked)
        if {tuple(row) for row in stored} >= expected and len(acked) == sent:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    keys = {tuple(row) for row in stored}
    metrics = httpx.get(f"http://127.0.0.1:{http_port}/metrics", timeout=5).text
    counters = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line.startswith(("ouie_reports_", "ouie_ingest_backlog", "ouie_database_up"))
        and not line.startswith("ouie_reports_rejected_created")
    }
    result = {
        "benchmark": "fault_kill9",
        "method": "ouie serve (own process) killed with SIGKILL while sensors publish over "
        "Mosquitto (QoS 1), restarted on the same database; counted by report key",
        "cpu_count": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "database": database_url.split(":", 1)[0],
        "sensors": args.sensors,
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        **{name: round(at_s, 2) for name, at_s in timings.items()},
        "sent": sent,
        "acknowledged_by_broker": len(acked),
        "stored": len(stored),
        "lost": len(expected - keys),
        "doubled": len(stored) - len(keys),
        "stored_not_sent": len(keys - {(s, r) for s, r in expected}),
        "restarted_central_metrics": {k: v for k, v in counters.items() if "created" not in k},
    }
    for bus in buses.values():
        bus.close()
    central.terminate()
    central.wait(timeout=30)
    broker.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
