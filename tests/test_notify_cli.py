"""`ouie notify sample` and `ouie notify test`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ouie.cli import app
from ouie.core.recording import sensors_geojson
from tests.builders import SITES
from tests.notify_receiver import Receiver

capvalidator = pytest.importorskip("capvalidator", reason="capvalidator (dev extra) not installed")


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["notify", *args], env={"COLUMNS": "200", **(env or {})})


def test_the_cap_sample_is_valid_cap_1_2() -> None:
    result = run("sample", "--format", "cap")
    assert result.exit_code == 0, result.output
    assert capvalidator.check_schema(result.output.encode()).passed


def test_the_onvif_json_sample_names_its_topic_and_a_gunshot() -> None:
    result = run("sample", "--format", "onvif-json")
    topic, body = result.output.split("\n", 1)
    assert topic == "topic: ouie/v1/onvif-ej/RuleEngine/AudioDetector/Class"
    assert json.loads(body)["Data"]["Class"] == "GunShot"


def city_yaml(folder: Path, notify: dict[str, object]) -> Path:
    """A city.yaml (one sensor) with this notify section."""
    (folder / "sensors.geojson").write_text(json.dumps(sensors_geojson(SITES[:1])))
    path = folder / "city.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "test",
                "origin": {"lat": 45.44, "lon": 4.387},
                "sensors_file": "sensors.geojson",
                "notify": notify,
            }
        )
    )
    return path


def test_notify_test_reports_each_destination(tmp_path: Path) -> None:
    up, down = Receiver(), Receiver()
    up.start()
    city = city_yaml(
        tmp_path,
        {
            "cap": {
                "enabled": True,
                "destinations": [
                    {"name": "hub", "url": up.url, "secret_env": "OUIE_T_KEY"},
                    {"name": "backup", "url": down.url},
                ],
            },
            "milestone": {"enabled": True, "destinations": [{"name": "xp", "url": up.url}]},
            "onvif_events": {"enabled": True},
        },
    )
    try:
        result = run("test", "--config", str(city), env={"OUIE_T_KEY": "k"})
    finally:
        up.stop()
    assert result.exit_code == 1  # one destination is down
    assert "cap → hub (127.0.0.1): ok" in result.output
    assert "cap → backup (127.0.0.1): connect" in result.output
    assert "milestone → xp (127.0.0.1): ok" in result.output
    assert "onvif_events: served by the running central" in result.output
    cap_body = next(r.body for r in up.received if b"urn:oasis" in r.body)
    assert b"<status>Test</status>" in cap_body


def test_a_bad_notify_section_names_the_field(tmp_path: Path) -> None:
    city = city_yaml(tmp_path, {"cap": {"enabled": True, "sendr": "x"}})
    result = run("test", "--config", str(city))
    assert result.exit_code == 2
    assert "notify.cap.sendr" in result.output.replace("\n", "")
