"""`ouie sensor` publishing over MQTT with store-and-forward, against a real Mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ouie.cli import app
from ouie.core.config import ConfigError, load_yaml_config
from ouie.core.report import EventReport
from ouie.sensor.config import SensorConfig
from ouie.sensor.example import write_example
from ouie.transport.broker import CENTRAL_USER, LocalMosquitto
from ouie.transport.outbox import Outbox
from ouie.transport.topics import OFFLINE, reports_topic, status_topic
from tests.builders import Inbox, mqtt


def sensor_yaml(tmp_path: Path, broker: dict[str, object], extra: str = "") -> Path:
    """A sensor file on the synthesised example scene, built-in detector, MQTT uplink."""
    audio = write_example(tmp_path / "street.wav")
    path = tmp_path / "sensor.yaml"
    path.write_text(
        f"sensor_id: s1\n"
        f"source: {{kind: file, path: {audio}, start_utc: '2026-11-25T18:00:00Z'}}\n"
        f"detector: {{backend: builtin}}\n"
        f"uplink: {{broker: {json.dumps(broker)}, outbox_path: {tmp_path / 'outbox.sqlite'}, "
        f"drain_timeout_s: 20}}\n{extra}"
    )
    return path


def test_the_broker_account_defaults_to_the_sensor_and_one_destination_is_required(
    tmp_path: Path,
) -> None:
    config = load_yaml_config(sensor_yaml(tmp_path, {"port": 1884}), SensorConfig)
    assert config.uplink is not None
    assert (config.uplink.broker.username, config.uplink.broker.client_id) == ("s1", "sensor-s1")
    both = sensor_yaml(tmp_path, {"port": 1884}, extra=f"output: {tmp_path / 'r.jsonl'}\n")
    with pytest.raises(ConfigError, match="either `output`"):
        load_yaml_config(both, SensorConfig)


def test_sensor_command_publishes_every_report_and_leaves_nothing_queued(
    tmp_path: Path, mosquitto: LocalMosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    central, inbox = mqtt(mosquitto, CENTRAL_USER), Inbox()
    central.subscribe("ouie/v1/sensors/+/#", inbox)
    assert central.wait_subscribed(10)
    monkeypatch.setenv("OUIE_BROKER_PASSWORD", mosquitto.accounts["s1"])
    path = sensor_yaml(tmp_path, {"host": mosquitto.host, "port": mosquitto.port})

    result = CliRunner().invoke(app, ["sensor", "--config", str(path)])

    assert result.exit_code == 0, result.output
    sent = int(result.output.rsplit("source ended, ", 1)[1].split()[0])
    assert sent >= 1  # the example scene's impulsive burst at least
    assert inbox.wait_for(sent + 1, timeout_s=20)  # reports and the final status
    reports = [EventReport.from_json(p) for t, p in inbox.messages if t == reports_topic("s1")]
    assert len(reports) == sent
    assert [r.seq for r in reports] == list(range(sent))
    assert (status_topic("s1"), OFFLINE.encode()) in inbox.messages
    assert len(Outbox(tmp_path / "outbox.sqlite")) == 0
    central.close()
