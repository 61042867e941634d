"""The shared contracts: coordinates, time, reports, config errors, recording folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from ouie.core.classes import ALERTING_CLASSES, AUDIOSET_LABELS, SPEECH_LABELS, EventClass
from ouie.core.config import ConfigError, load_yaml_config
from ouie.core.geo import LocalFrame, speed_of_sound_mps
from ouie.core.recording import RecordingFolder, RecordingFormatError, SensorSite, sensors_geojson
from ouie.core.report import EventReport, ModelId
from ouie.core.timebase import iso_to_ns, ns_to_iso, sample_time_ns

FRAME = LocalFrame(45.440, 4.385, 500.0)
MODEL = ModelId(name="builtin/1", sha256="0" * 64)


@given(east=st.floats(-5000, 5000), north=st.floats(-5000, 5000), up=st.floats(-50, 200))
def test_enu_round_trip_is_exact_to_a_millimetre(east: float, north: float, up: float) -> None:
    lat, lon, h = FRAME.to_wgs84(east, north, FRAME.origin_height_m * 0 + up)
    back = FRAME.to_enu(lat, lon, h)
    assert back == pytest.approx([east, north, up], abs=1e-3)


def test_enu_is_metric_one_degree_of_latitude_is_about_111_km() -> None:
    north_m = FRAME.to_enu(46.440, 4.385, 500.0)[1]
    assert 111_000 < north_m < 111_300


def test_speed_of_sound_follows_temperature() -> None:
    assert speed_of_sound_mps(20.0) == pytest.approx(343.2, abs=0.2)
    assert speed_of_sound_mps(0.0) == pytest.approx(331.3)


@given(st.integers(min_value=1, max_value=4_000_000_000_000_000_000))
def test_time_round_trip_keeps_microseconds(t_ns: int) -> None:
    assert iso_to_ns(ns_to_iso(t_ns)) == t_ns - t_ns % 1000


def test_naive_time_is_refused_and_sample_times_are_exact() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        iso_to_ns("2026-11-25T18:00:00")
    start = iso_to_ns("2026-11-25T18:00:00Z")
    assert sample_time_ns(start, 16_000, 16_000) - start == 1_000_000_000
    assert sample_time_ns(start, 1, 16_000) - start == 62_500


def test_class_maps_are_disjoint_and_never_speech() -> None:
    seen: set[int] = set()
    for labels in AUDIOSET_LABELS.values():
        assert not seen & labels.keys()
        seen |= labels.keys()
    assert not seen & SPEECH_LABELS.keys()
    assert EventClass.FIREWORKS not in ALERTING_CLASSES
    assert EventClass.GUNSHOT in ALERTING_CLASSES


@given(
    seq=st.integers(0, 2**40),
    score=st.floats(0, 1),
    onset=st.integers(1, 2**62),
    cls=st.sampled_from(list(EventClass)),
)
def test_report_round_trips_through_its_wire_form(
    seq: int, score: float, onset: int, cls: EventClass
) -> None:
    report = EventReport(
        sensor_id="s01",
        seq=seq,
        **{"class": cls, "onset": onset},
        score=score,
        onset_uncertainty_s=0.001,
        duration_s=0.5,
        peak_dbfs=-6.0,
        model=MODEL,
    )
    wire = json.loads(report.to_json())
    assert wire["schema"] == "ouie.report/2" and wire["class"] == cls.value
    assert wire["onset"] == onset
    assert EventReport.from_json(report.to_json()) == report


def test_report_refuses_speech_and_unknown_fields() -> None:
    base = {
        "sensor_id": "s01",
        "seq": 0,
        "score": 0.9,
        "onset": 10**18,
        "onset_uncertainty_s": 0.001,
        "duration_s": 0.1,
        "peak_dbfs": -3.0,
        "model": MODEL.model_dump(),
    }
    with pytest.raises(ValidationError, match="class"):
        EventReport.model_validate({**base, "class": "speech"})
    with pytest.raises(ValidationError, match="speech_score"):
        EventReport.model_validate({**base, "class": "gunshot", "speech_score": 0.2})


class _Demo(BaseModel):
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port.")


def test_config_error_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("port: 70000\n")
    with pytest.raises(ConfigError, match=r"c.yaml: port: .*65535"):
        load_yaml_config(path, _Demo)
    path.write_text("port: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml_config(path, _Demo)


def test_recording_folder_reads_back_and_names_missing_audio(tmp_path: Path) -> None:
    sites = [SensorSite(id="a", lat=45.44, lon=4.385), SensorSite(id="b", lat=45.441, lon=4.386)]
    (tmp_path / "sensors.geojson").write_text(json.dumps(sensors_geojson(sites)))
    (tmp_path / "meta.json").write_text(json.dumps({"start_utc": "2026-11-25T18:00:00Z"}))
    (tmp_path / "a.wav").write_bytes(b"")
    with pytest.raises(RecordingFormatError, match="no audio for sensors b"):
        RecordingFolder.read(tmp_path)
    (tmp_path / "b.wav").write_bytes(b"")
    folder = RecordingFolder.read(tmp_path)
    assert [s.id for s in folder.sensors] == ["a", "b"]
    assert folder.start_ns == iso_to_ns("2026-11-25T18:00:00Z")
    assert folder.truth is None
