"""MQTT over TLS against a real Mosquitto TLS listener with a CA and certificates made for the
test: a sensor publishes to the central over TLS; a client trusting another CA is refused with
a message that says why; a client in clear cannot talk to the TLS port; the port defaults to
8883 with TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from ouie.core.config import ConfigError
from ouie.transport.broker import CENTRAL_USER, LocalMosquitto
from ouie.transport.mqtt import BrokerConfig, BrokerSettings, MqttBus, TlsConfig
from ouie.transport.topics import ALL_REPORTS_FILTER
from tests.builders import Inbox, assert_reports_delivered, wait_until
from tests.services import make_ca


def test_a_sensor_publishes_to_the_central_over_tls(tls_mosquitto: LocalMosquitto) -> None:
    settings = tls_mosquitto.settings(CENTRAL_USER)
    assert settings.tls is not None
    central, inbox = MqttBus(settings, "central-tls"), Inbox()
    central.subscribe(ALL_REPORTS_FILTER, inbox)
    assert central.wait_subscribed(10), central.last_error
    sensor = MqttBus(tls_mosquitto.settings("s1"), "sensor-s1-tls")
    assert sensor.wait_connected(10), sensor.last_error
    assert_reports_delivered(sensor, inbox, "s1", 5)
    sensor.close()
    central.close()


def test_a_broker_signed_by_another_ca_is_refused_with_a_clear_message(
    tls_mosquitto: LocalMosquitto, tmp_path: Path
) -> None:
    other_ca = make_ca(tmp_path, "other-ca")
    settings = tls_mosquitto.settings("s2").model_copy(update={"tls": TlsConfig(ca_file=other_ca)})
    client = MqttBus(settings, "sensor-s2-wrong-ca")
    assert not client.wait_connected(3)
    error = client.last_error or ""
    assert "the broker's certificate is not trusted" in error, error
    assert str(other_ca) in error and f"127.0.0.1:{tls_mosquitto.port} (TLS)" in error
    client.close()


def test_a_client_in_clear_gets_no_session_on_the_tls_port(tls_mosquitto: LocalMosquitto) -> None:
    clear = tls_mosquitto.settings("s3").model_copy(update={"tls": None})
    client = MqttBus(clear, "sensor-s3-clear")
    assert not client.wait_connected(3)
    client.close()


def test_tls_settings_default_to_port_8883_and_name_unreadable_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUIE_BROKER_PASSWORD", "from-env")
    ca = tmp_path / "ca.crt"
    config = BrokerConfig.model_validate(
        {"username": "central", "client_id": "c", "tls": {"ca_file": str(ca)}}
    )
    assert config.settings().port == 8883
    assert BrokerConfig(username="central", client_id="c").settings().port == 1883
    assert BrokerSettings(tls=TlsConfig(ca_file=ca)).port == 8883
    with pytest.raises(ConfigError, match=r"broker\.tls\.ca_file .*ca\.crt: cannot load it"):
        MqttBus(config.settings(), "c", start=False)
    with pytest.raises(ValueError, match="cert_file and key_file go together"):
        TlsConfig(ca_file=ca, cert_file=tmp_path / "client.crt")


def test_broker_config_command_writes_a_tls_listener_on_8883(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from ouie.cli import app
    from ouie.core.recording import SensorSite, sensors_geojson

    geojson = tmp_path / "sensors.geojson"
    geojson.write_text(json.dumps(sensors_geojson([SensorSite(id="s1", lat=45.0, lon=4.0)])))
    files = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca")}
    base = ["broker-config", "--sensors", str(geojson), "--out", str(tmp_path / "b")]
    tls_args = [arg for n, f in files.items() for arg in (f"--tls-{n}", str(f))]
    run = CliRunner().invoke(app, base + tls_args)
    assert run.exit_code == 0, run.output
    conf = (tmp_path / "b" / "mosquitto.conf").read_text().splitlines()
    assert conf[0] == "listener 8883 127.0.0.1"
    assert f"certfile {files['cert']}" in conf and f"cafile {files['ca']}" in conf
    partial = CliRunner().invoke(app, [*base, "--tls-cert", str(files["cert"])])
    assert partial.exit_code == 2 and "together" in partial.output


def test_a_broker_that_requires_client_certificates_takes_only_signed_clients(
    tmp_path: Path,
) -> None:
    from ouie.transport.broker import mosquitto_binary
    from tests.services import make_broker_tls, make_signed_cert

    if mosquitto_binary() is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    pki = tmp_path / "pki"
    tls = make_broker_tls(pki, require_client_certificate=True)
    cert, key = make_signed_cert(pki, "s1", "extendedKeyUsage=clientAuth")
    broker = LocalMosquitto(tmp_path / "broker", {"s1": "pw-s1"}, tls=tls)
    broker.start()
    try:
        signed = broker.settings("s1").model_copy(
            update={"tls": TlsConfig(ca_file=tls.ca_file, cert_file=cert, key_file=key)}
        )
        with_cert = MqttBus(signed, "s1-with-cert")
        assert with_cert.wait_connected(10), with_cert.last_error
        without_cert = MqttBus(broker.settings("s1"), "s1-without-cert")
        assert not without_cert.wait_connected(3)
        assert wait_until(lambda: "(TLS)" in (without_cert.last_error or ""), timeout_s=10)
        with_cert.close()
        without_cert.close()
    finally:
        broker.stop()
