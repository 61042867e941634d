"""The generated Mosquitto configuration binds each client id to its account: a sensor that
asks for the central's client id gets its own instead, and the central is never disconnected."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from ouie.transport.broker import (
    BROKER_USER,
    CENTRAL_USER,
    MESSAGE_SIZE_LIMIT_BYTES,
    LocalMosquitto,
    acl_text,
    free_port,
    mosquitto_binary,
    write_mosquitto_config,
)
from ouie.transport.mqtt import BrokerSettings, MqttBus
from ouie.transport.topics import ALL_REPORTS_FILTER, PREFIX, reports_topic
from tests.builders import Inbox, make_report, wait_until


def test_a_sensor_cannot_take_the_central_client_id(mosquitto: LocalMosquitto) -> None:
    central = MqttBus(mosquitto.settings(CENTRAL_USER), client_id="ouie-central", start=False)
    connections = threading.Semaphore(0)
    central.on_connected.append(connections.release)
    inbox = Inbox()
    central.subscribe(ALL_REPORTS_FILTER, inbox)
    central.start()
    assert central.wait_subscribed(10), central.last_error
    impostors = [
        MqttBus(mosquitto.settings(user), client_id=client_id)
        for user, client_id in (("s1", "ouie-central"), ("s3", CENTRAL_USER))
    ]
    assert all(impostor.wait_connected(10) for impostor in impostors)
    sensor = MqttBus(mosquitto.settings("s2"), client_id="sensor-s2")
    acked = threading.Semaphore(0)
    sent = [make_report("s2", seq=k) for k in range(20)]
    for report in sent:
        sensor.publish(reports_topic("s2"), report.to_json().encode(), on_acked=acked.release)
    assert all(acked.acquire(timeout=10) for _ in sent)
    assert wait_until(lambda: len(inbox.messages) >= len(sent), timeout_s=15)
    assert [p for _t, p in inbox.messages] == [r.to_json().encode() for r in sent]
    assert connections.acquire(timeout=0)  # connected once ...
    assert not connections.acquire(timeout=2)  # ... and never taken over
    assert central.connected
    for bus in [*impostors, sensor, central]:
        bus.close()


def test_the_acl_is_built_from_the_topic_contract() -> None:
    lines = [line for line in acl_text().splitlines() if line and not line.startswith("#")]
    assert all(PREFIX in line for line in lines if line.startswith(("pattern", "topic")))
    assert f"pattern write {reports_topic('%u')}" in lines


def test_the_broker_drops_messages_beyond_its_size_limit(mosquitto: LocalMosquitto) -> None:
    """A sensor's 2 MB message is acknowledged and dropped by Mosquitto (message_size_limit):
    never held nor forwarded; the sensor's next report reaches the central."""
    central, inbox = MqttBus(mosquitto.settings(CENTRAL_USER), client_id="c"), Inbox()
    central.subscribe(ALL_REPORTS_FILTER, inbox)
    assert central.wait_subscribed(10), central.last_error
    sensor = MqttBus(mosquitto.settings("s4"), client_id="s4")
    acked = threading.Semaphore(0)
    huge = b"x" * (MESSAGE_SIZE_LIMIT_BYTES + 1)
    sensor.publish(reports_topic("s4"), huge, on_acked=acked.release)
    report = make_report("s4").to_json().encode()
    sensor.publish(reports_topic("s4"), report, on_acked=acked.release)
    assert acked.acquire(timeout=10) and acked.acquire(timeout=10)
    assert inbox.wait_for(1)
    assert not wait_until(lambda: len(inbox.messages) > 1, timeout_s=1)
    assert inbox.messages == [(reports_topic("s4"), report)]
    sensor.close()
    central.close()


def test_a_config_written_by_root_into_a_relative_folder_serves_logins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ouie broker-config --out broker` run as root: the files are named absolutely in
    mosquitto.conf (the broker starts from another folder) and handed to the mosquitto user,
    which the broker drops to before reading them, so the accounts log in."""
    binary = mosquitto_binary()
    if binary is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    if os.geteuid() != 0:
        pytest.skip("only root hands the files over (run as root to check it)")
    try:
        pwd.getpwnam(BROKER_USER)
    except KeyError:
        pytest.skip(f"no {BROKER_USER} system user (the mosquitto package creates it)")
    base = Path(tempfile.mkdtemp(prefix="ouie-broker-"))
    base.chmod(0o755)  # as /etc/mosquitto: the broker's user may enter it
    monkeypatch.chdir(base)
    port = free_port()
    conf = write_mosquitto_config(Path("broker"), port, {CENTRAL_USER: "pw-central"})
    assert f"password_file {base}/broker/passwd" in conf.read_text()
    assert (base / "broker" / "passwd").stat().st_mode & 0o777 == 0o600
    broker = subprocess.Popen(
        [binary, "-c", str(conf)], cwd="/", stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        settings = BrokerSettings(
            port=port, username=CENTRAL_USER, password=SecretStr("pw-central")
        )
        central = MqttBus(settings, client_id="c")
        assert central.wait_connected(10), central.last_error
        central.close()
    finally:
        broker.terminate()
        broker.wait(timeout=10)
        shutil.rmtree(base)
