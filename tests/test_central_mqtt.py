"""End to end through a real Mosquitto into a real PostgreSQL: three sensors with
store-and-forward publish while the broker is stopped and restarted; the central service stores
every report exactly once and announces the incident on `ouie/v1/incidents`."""

from __future__ import annotations

import json
import threading
import time
from functools import partial
from pathlib import Path

from ouie.central.service import CentralService
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.store.repository import Store
from ouie.transport.broker import CENTRAL_USER, LocalMosquitto
from ouie.transport.mqtt import MqttBus
from ouie.transport.outbox import Outbox, SensorUplink
from ouie.transport.topics import INCIDENTS_TOPIC, status_topic
from tests import builders
from tests.builders import SITES, FakeFusion, make_report

wait_until = partial(builders.wait_until, timeout_s=30.0)  # broker restarts: longer waits


def test_no_report_lost_across_a_broker_restart(
    mosquitto: LocalMosquitto, postgres_url: str, tmp_path: Path
) -> None:
    store = Store.open(postgres_url)
    central_bus = MqttBus(mosquitto.settings(CENTRAL_USER), client_id="ouie-central")
    assert central_bus.wait_connected(10), central_bus.last_error
    service = CentralService(store, central_bus, FakeFusion(), SITES, tick_s=0.2)
    service.start()
    assert central_bus.wait_subscribed(10)
    announced: list[dict[str, object]] = []
    # One connection per account (client id = user name): the central hears its own incidents.
    central_bus.subscribe(INCIDENTS_TOPIC, lambda _t, p: announced.append(json.loads(p)))
    assert central_bus.wait_subscribed(10)
    sensor_ids = ["s1", "s2", "s3"]
    uplinks = {
        sid: SensorUplink(
            sid,
            MqttBus(
                mosquitto.settings(sid),
                client_id=f"sensor-{sid}",
                will=(status_topic(sid), b"offline"),
            ),
            Outbox(tmp_path / f"{sid}.db"),
        )
        for sid in sensor_ids
    }
    sent: list[str] = []
    lock = threading.Lock()

    def produce(seq_range: range) -> None:
        for seq in seq_range:
            for sid, uplink in uplinks.items():
                report = make_report(sid, seq=seq, onset_ns=now_ns() - NS_PER_S)
                uplink.send(report)
                with lock:
                    sent.append(report.report_id)

    produce(range(0, 20))
    assert wait_until(lambda: store.count_reports() == 60)
    mosquitto.stop()
    produce(range(20, 60))  # 120 reports while the broker is down
    time.sleep(1.0)
    assert sum(u.pending() for u in uplinks.values()) >= 100
    assert store.count_reports() == 60
    mosquitto.start()
    produce(range(60, 70))
    assert all(u.flush(30) for u in uplinks.values())
    assert wait_until(lambda: store.count_reports() == len(sent))
    assert store.report_ids() == set(sent)  # every id, none lost
    assert service.metrics.reports_accepted._value.get() == len(sent) == 210
    duplicates = service.metrics.reports_rejected.labels(reason="duplicate")._value.get()
    assert service.metrics.reports_received._value.get() == len(sent) + duplicates
    assert wait_until(lambda: {s.id for s in store.list_sensors() if s.online} == set(sensor_ids))
    assert service.flush(10)  # fusion has seen every committed report
    [incident] = store.list_incidents()
    assert wait_until(lambda: bool(announced) and announced[-1]["revision"] == incident.revision)
    assert announced[0]["incident_id"] == incident.id and incident.revision >= 100
    for uplink in uplinks.values():
        uplink.close()
    assert wait_until(lambda: not any(s.online for s in store.list_sensors()))
    service.stop()
    central_bus.close()
    store.close()


def test_reports_sent_while_the_central_is_down_wait_in_its_broker_session(
    mosquitto: LocalMosquitto, tmp_path: Path
) -> None:
    """The central's persistent MQTT session keeps QoS 1 reports for it while it restarts."""
    url = f"sqlite:///{tmp_path / 'central.db'}"

    def start_central() -> tuple[Store, MqttBus, CentralService]:
        store = Store.open(url)
        bus = MqttBus(mosquitto.settings(CENTRAL_USER), client_id="ouie-central", start=False)
        service = CentralService(store, bus, FakeFusion(), SITES, tick_s=0.2)
        service.start()
        bus.start()  # after subscribing: what the broker kept is handled, not dropped
        assert bus.wait_subscribed(10), bus.last_error
        return store, bus, service

    store, bus, service = start_central()
    sensor = SensorUplink(
        "s1", MqttBus(mosquitto.settings("s1"), "sensor-s1"), Outbox(tmp_path / "o.db")
    )
    first = [make_report("s1", seq=k, onset_ns=now_ns()) for k in range(10)]
    for report in first:
        sensor.send(report)
    assert wait_until(lambda: store.count_reports() == 10)
    service.stop()
    bus.close()  # a clean disconnect: the broker keeps the session and queues for it
    store.close()
    while_down = [make_report("s1", seq=10 + k, onset_ns=now_ns()) for k in range(100)]
    for report in while_down:
        sensor.send(report)
    assert sensor.flush(20)  # the broker has acknowledged all of them
    store, bus, service = start_central()
    assert wait_until(lambda: store.count_reports() == 110)
    assert store.report_ids() == {r.report_id for r in first + while_down}
    sensor.close()
    service.stop()
    bus.close()
    store.close()
