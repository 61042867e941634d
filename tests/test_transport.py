"""Transport: the in-process bus and MQTT through a real Mosquitto behave the same; per-sensor
ACLs; retained status and last will; store-and-forward loses nothing while the broker is down."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from ouie.core.report import EventReport
from ouie.transport.broker import CENTRAL_USER, LocalMosquitto
from ouie.transport.bus import Bus, InProcessBus
from ouie.transport.mqtt import MqttBus
from ouie.transport.outbox import Outbox, SensorUplink
from ouie.transport.topics import (
    ALL_REPORTS_FILTER,
    ALL_STATUS_FILTER,
    receipts_topic,
    reports_topic,
    sensor_of,
    status_topic,
)
from tests.builders import Inbox, assert_reports_delivered, make_report, mqtt


def test_topics_round_trip() -> None:
    assert sensor_of(reports_topic("se-07")) == "se-07"
    assert sensor_of(status_topic("se-07")) == "se-07"
    assert sensor_of("ouie/v1/incidents") is None
    assert sensor_of("other/v1/sensors/x/reports") is None


def test_in_process_bus_delivers_in_order_and_replays_retained() -> None:
    bus = InProcessBus()
    bus.publish(status_topic("s1"), b"online", retain=True)
    acked: list[int] = []
    inbox = Inbox()
    bus.subscribe(ALL_REPORTS_FILTER, inbox)
    for k in range(50):
        bus.publish(
            reports_topic(f"s{k % 3}"), str(k).encode(), on_acked=lambda k=k: acked.append(k)
        )
    assert bus.drain(5)
    status = Inbox()
    bus.subscribe(ALL_STATUS_FILTER, status)
    bus.close()
    assert [int(p) for _t, p in inbox.messages] == list(range(50))
    assert acked == list(range(50))
    assert status.messages == [(status_topic("s1"), b"online")]


def test_mqtt_reports_reach_central_through_mosquitto(mosquitto: LocalMosquitto) -> None:
    central, inbox = mqtt(mosquitto, CENTRAL_USER), Inbox()
    central.subscribe(ALL_REPORTS_FILTER, inbox)
    assert central.wait_subscribed(10)
    sensor = mqtt(mosquitto, "s1")
    assert_reports_delivered(sensor, inbox, "s1", 20)
    sensor.close()
    central.close()


def test_acl_keeps_a_sensor_to_its_own_topics(mosquitto: LocalMosquitto) -> None:
    central, inbox = mqtt(mosquitto, CENTRAL_USER), Inbox()
    central.subscribe(ALL_REPORTS_FILTER, inbox)
    assert central.wait_subscribed(10)
    impostor = mqtt(mosquitto, "s2")
    impostor.publish(reports_topic("s1"), make_report("s1").to_json().encode())  # not its topic
    impostor.publish(reports_topic("s2"), make_report("s2").to_json().encode())
    assert inbox.wait_for(1)
    time.sleep(0.3)
    assert [sensor_of(t) for t, _p in inbox.messages] == ["s2"]
    wrong_password = MqttBus(mosquitto.settings("s3").model_copy(update={"password": None}), "x")
    assert not wrong_password.wait_connected(1.5)
    assert wrong_password.last_error is not None and "refused" in wrong_password.last_error
    wrong_password.close()
    impostor.close()
    central.close()


def test_status_is_retained_and_the_last_will_says_offline(mosquitto: LocalMosquitto) -> None:
    sensor = MqttBus(mosquitto.settings("s4"), "sensor-s4", will=(status_topic("s4"), b"offline"))
    assert sensor.wait_connected(10)
    stored = threading.Event()
    sensor.publish(status_topic("s4"), b"online", retain=True, on_acked=stored.set)
    assert stored.wait(10)
    late, inbox = mqtt(mosquitto, CENTRAL_USER), Inbox()
    late.subscribe(ALL_STATUS_FILTER, inbox)
    assert inbox.wait_for(1)
    assert inbox.messages[0] == (status_topic("s4"), b"online")  # retained for a late subscriber
    sensor._client.socket().close()  # unclean loss of the sensor: the broker sends the will
    assert inbox.wait_for(2, timeout_s=40)
    assert inbox.messages[1] == (status_topic("s4"), b"offline")
    late.close()


@pytest.mark.parametrize("kind", ["inprocess", "mqtt"])
def test_uplink_loses_nothing_across_an_outage(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Reports produced while the broker is down wait on disk and all arrive after restart."""
    inbox = Inbox()
    if kind == "mqtt":
        broker: LocalMosquitto = request.getfixturevalue("mosquitto")
        central_mqtt = mqtt(broker, CENTRAL_USER)
        central_mqtt.subscribe(ALL_REPORTS_FILTER, inbox)
        assert central_mqtt.wait_subscribed(10)
        central: Bus = central_mqtt
        bus: Bus = MqttBus(
            broker.settings("s5"), "sensor-s5", will=(status_topic("s5"), b"offline")
        )
    else:
        central = bus = InProcessBus()
        central.subscribe(ALL_REPORTS_FILTER, inbox)
    uplink = SensorUplink("s5", bus, Outbox(tmp_path / "outbox.db"))
    sent = [make_report("s5", seq=k) for k in range(150)]
    for report in sent[:50]:
        uplink.send(report)
    assert uplink.flush(20)
    if kind == "mqtt":
        broker.stop()
        time.sleep(0.5)
    for report in sent[50:120]:  # produced during the outage
        uplink.send(report)
    if kind == "mqtt":
        time.sleep(1.0)
        assert uplink.pending() >= 70 - 1  # on disk, not acknowledged
        broker.start()
    for report in sent[120:]:
        uplink.send(report)
    assert uplink.flush(30)
    assert inbox.wait_for(150, timeout_s=30)
    received = inbox.report_ids()
    assert set(received) == {r.report_id for r in sent}  # nothing lost
    assert len(received) - len(set(received)) <= uplink._window  # at-least-once, bounded
    assert uplink.pending() == 0
    uplink.close()
    bus.close()
    central.close()


def test_outbox_survives_a_restart_of_the_sensor(tmp_path: Path) -> None:
    """Rows not acknowledged when the sensor process dies are sent by the next one."""
    path = tmp_path / "outbox.db"
    first = Outbox(path)
    for k in range(5):
        first.put(reports_topic("s6"), make_report("s6", seq=k).to_json().encode())
    first.close()
    inbox, bus = Inbox(), InProcessBus()
    bus.subscribe(ALL_REPORTS_FILTER, inbox)
    uplink = SensorUplink("s6", bus, Outbox(path))
    assert uplink.flush(10) and inbox.wait_for(5)
    assert [EventReport.from_json(p).seq for _t, p in inbox.messages] == [0, 1, 2, 3, 4]
    uplink.close()
    bus.close()


def test_uplink_heartbeats_online_and_says_offline_on_close(tmp_path: Path) -> None:
    bus, status = InProcessBus(), Inbox()
    bus.subscribe(ALL_STATUS_FILTER, status)
    uplink = SensorUplink("s7", bus, Outbox(tmp_path / "o.db"), heartbeat_s=0.1)
    assert status.wait_for(3, timeout_s=20)  # on start, then again and again
    uplink.close()
    assert bus.drain(5)
    payloads = [p for _t, p in status.messages]
    assert payloads[-1] == b"offline" and set(payloads[:-1]) == {b"online"}
    bus.close()


def test_broker_config_gives_each_sensor_its_own_secret(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ouie.cli import app
    from ouie.core.recording import SensorSite, sensors_geojson

    geojson = tmp_path / "sensors.geojson"
    sites = [SensorSite(id=f"s{k}", lat=45.0, lon=4.0) for k in (1, 2)]
    geojson.write_text(json.dumps(sensors_geojson(sites)))
    out = tmp_path / "broker"
    run = CliRunner().invoke(app, ["broker-config", "--sensors", str(geojson), "--out", str(out)])
    assert run.exit_code == 0, run.output
    secrets = {p.stem: p.read_text().strip() for p in (out / "secrets").glob("*.secret")}
    assert set(secrets) == {"central", "s1", "s2"} and len(set(secrets.values())) == 3
    assert all(((out / "secrets" / f"{u}.secret").stat().st_mode & 0o077) == 0 for u in secrets)
    passwd = (out / "passwd").read_text()
    assert all(f"{u}:$7$" in passwd for u in secrets) and secrets["s1"] not in passwd
    assert "pattern write ouie/v1/sensors/%u/reports" in (out / "acl").read_text()
    assert "user root" not in (out / "mosquitto.conf").read_text()
    sites.append(SensorSite(id="s3", lat=45.0, lon=4.0))  # a new sensor; old secrets are kept
    geojson.write_text(json.dumps(sensors_geojson(sites)))
    CliRunner().invoke(app, ["broker-config", "--sensors", str(geojson), "--out", str(out)])
    assert (out / "secrets" / "s1.secret").read_text().strip() == secrets["s1"]
    assert (out / "secrets" / "s3.secret").exists()


def test_provisioned_secrets_open_the_broker_only_for_their_owner(tmp_path: Path) -> None:
    from ouie.transport.broker import mosquitto_binary, provision_accounts

    if mosquitto_binary() is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    accounts = provision_accounts(tmp_path / "secrets", ["central", "s1", "s2"])
    broker = LocalMosquitto(tmp_path / "broker", accounts)
    broker.start()
    try:
        owner = MqttBus(broker.settings("s1"), "s1")
        assert owner.wait_connected(10)
        borrowed = broker.settings("s1").model_copy(
            update={"password": broker.settings("s2").password}
        )
        thief = MqttBus(borrowed, "thief")
        assert not thief.wait_connected(1.5) and "refused" in (thief.last_error or "")
        owner.close()
        thief.close()
    finally:
        broker.stop()


class _AcksAndLosesFirst(InProcessBus):
    """A broker that PUBACKs every report but loses the first `lose` of them, as NATS's MQTT
    listener may across a stream's leader election."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose = lose

    def publish(self, topic, payload, qos=1, retain=False, on_acked=None):  # type: ignore[no-untyped-def]
        if topic.endswith("/reports") and self.lose > 0:
            self.lose -= 1
            if on_acked is not None:
                on_acked()
            return
        super().publish(topic, payload, qos, retain, on_acked)


def test_an_uplink_with_receipts_publishes_again_what_was_acknowledged_then_lost(
    tmp_path: Path,
) -> None:
    """With receipts, a PUBACK alone deletes nothing: the 3 reports the broker PUBACKed and lost
    are published again after receipt_timeout_s, and every report is deleted on its receipt."""
    bus = _AcksAndLosesFirst(lose=3)
    arrived: list[str] = []

    def cluster(topic: str, payload: bytes) -> None:  # the ingest stage: store, then receipt
        report_id = EventReport.from_json(payload).report_id
        arrived.append(report_id)
        bus.publish(receipts_topic("s1"), json.dumps([report_id]).encode(), qos=0)

    bus.subscribe(ALL_REPORTS_FILTER, cluster)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    uplink = SensorUplink("s1", bus, outbox, receipt_timeout_s=0.2)
    try:
        reports = [make_report("s1", seq=k) for k in range(10)]
        for report in reports:
            uplink.send(report)
        assert uplink.flush(30.0)
        assert sorted(arrived) == sorted(r.report_id for r in reports)
        assert uplink.republished == 3 and len(outbox) == 0
    finally:
        uplink.close(timeout_s=0.0)
        outbox.close()
        bus.close()
