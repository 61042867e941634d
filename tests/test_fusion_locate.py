"""`ouie locate` on a recording folder: detection is replaced by reports synthesised from the
geometry (the sensor pipeline has its own tests), so that fusion, scoring and the plot are
checked against a known truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ouie.app import locate_commands as commands
from ouie.app.locate import frame_for
from ouie.core.recording import SensorSite, sensors_geojson
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S, iso_to_ns, ns_to_iso
from ouie.fusion.config import FusionConfig
from ouie.fusion.synthetic import ReportNoise, synthesize_deliveries, truth_event

START_NS = iso_to_ns("2026-06-21T21:00:00Z")
EVENTS_EN = [
    ("gunshot", 5.0, 20.0, 30.0),
    ("scream", 12.0, -60.0, 10.0),
    ("glass_break", 20.0, 50.0, -70.0),
]


def run_cli(*args: str):  # type: ignore[no-untyped-def]
    """Invoke `ouie <args>` with the fusion commands (a callback keeps typer in group mode)."""
    app = typer.Typer()
    app.callback()(lambda: None)
    commands.register(app)
    return CliRunner().invoke(app, list(args))


@pytest.fixture()
def recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with 6 sensors and 3 true events; `_detector` returns their reports."""
    layout = [(-120, -100), (120, -100), (130, 110), (-110, 120), (0, 0), (10, -160)]
    base = frame_for([SensorSite(id="o", lat=45.4420, lon=4.3930)])
    sensors = []
    for index, (east, north) in enumerate(layout):
        lat, lon, _ = base.to_wgs84(east, north, 0.0)
        sensors.append(SensorSite(id=f"mic{index}", lat=float(lat), lon=float(lon)))
    frame = frame_for(sensors)
    truth = [
        truth_event(frame, cls, START_NS + round(t * NS_PER_S), east, north)
        for cls, t, east, north in EVENTS_EN
    ]
    noise = ReportNoise(
        nlos_fraction=0, miss_rate=0, false_alarms_per_sensor_hour=0, duplicate_rate=0
    )
    deliveries = synthesize_deliveries(
        sensors, frame, truth, FusionConfig().speed_of_sound_mps, noise, np.random.default_rng(4)
    )
    by_sensor: dict[str, list[EventReport]] = {}
    for delivery in deliveries:
        by_sensor.setdefault(delivery.report.sensor_id, []).append(delivery.report)
    (tmp_path / "sensors.geojson").write_text(json.dumps(sensors_geojson(sensors)))
    (tmp_path / "meta.json").write_text(json.dumps({"start_utc": ns_to_iso(START_NS)}))
    (tmp_path / "truth.json").write_text(json.dumps([t.model_dump(by_alias=True) for t in truth]))
    for site in sensors:
        (tmp_path / f"{site.id}.wav").write_bytes(b"")

    def detect(path: Path, start_ns: int, sensor_id: str) -> list[EventReport]:
        if sensor_id == "mic5" and (tmp_path / "break-mic5").exists():
            raise OSError("unreadable audio")
        return by_sensor.get(sensor_id, [])

    monkeypatch.setattr(commands, "_detector", lambda *args: detect)
    return tmp_path


def test_locate_prints_one_json_object_per_incident_close_to_the_truth(recording: Path) -> None:
    result = run_cli("locate", str(recording), "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["class"] for line in lines] == ["gunshot", "scream", "glass_break"]
    frame = frame_for(
        [
            SensorSite(
                **f["properties"]
                | {"lat": f["geometry"]["coordinates"][1], "lon": f["geometry"]["coordinates"][0]}
            )
            for f in json.loads((recording / "sensors.geojson").read_text())["features"]
        ]
    )
    for line, (_, t, east, north) in zip(lines, EVENTS_EN, strict=True):
        assert {"onset_utc", "lat", "lon", "uncertainty_m", "n_sensors"} <= line.keys()
        got = frame.to_enu(line["lat"], line["lon"], 0.0)[:2]
        assert np.hypot(got[0] - east, got[1] - north) < 1.0
        assert line["uncertainty_m"] < 5.0 and line["n_sensors"] >= 4
        assert abs(iso_to_ns(line["onset_utc"]) - START_NS - t * NS_PER_S) < 2e6
    assert "median" in result.stderr and "3/3" in result.stderr


def test_locate_writes_a_plot_and_keeps_going_when_a_sensor_fails(recording: Path) -> None:
    (recording / "break-mic5").touch()
    plot = recording / "locate.png"
    result = run_cli("locate", str(recording), "--plot", str(plot))
    assert result.exit_code == 1
    assert "sensor mic5: unreadable audio" in result.stderr
    assert "gunshot" in result.stdout and "fix" in result.stdout
    assert plot.stat().st_size > 20_000
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_locate_refuses_a_folder_that_is_not_a_recording(tmp_path: Path) -> None:
    result = run_cli("locate", str(tmp_path))
    assert result.exit_code == 2
    assert "sensors.geojson" in result.stderr
