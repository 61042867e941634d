"""Scenario files, the built-in saint-etienne scenario, and the simulator's commands."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from ouie.cli import app
from ouie.core.classes import ALERTING_CLASSES
from ouie.core.config import ConfigError
from ouie.core.recording import RecordingFolder
from ouie.sim.render import enu_positions, nlos_fractions, scenario_problems, simulate
from ouie.sim.saint_etienne import scenario_yaml
from ouie.sim.scenario import (
    BUILTIN_DIR,
    Building,
    Scenario,
    ScriptedEvent,
    builtin_scenarios,
    load_scenario,
)
from ouie.sim.sources import DEFAULT_LEVEL_DB_SPL, SOURCE_NAMES, recordings_for

WIDE = {"COLUMNS": "200"}
"""A wide terminal, so that rich tables do not wrap names."""

SMALL = """
name: small
origin: {lat: 45.44, lon: 4.385}
duration_s: 3
sensors_file: sensors.geojson
events:
  - {time_s: 0.5, lat: 45.4402, lon: 4.3840, class: gunshot}
  - {time_s: 1.5, lat: 45.4405, lon: 4.3852, class: glass_break}
"""

SENSORS = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"id": sid, "height_m": 5.0},
        }
        for sid, lat, lon in [("a", 45.44, 4.385), ("b", 45.441, 4.385), ("c", 45.44, 4.3865)]
    ],
}


@pytest.fixture
def small_scenario(tmp_path: Path) -> Path:
    """A scenario YAML whose sensors file is given relative to the YAML's folder."""
    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "sensors.geojson").write_text(json.dumps(SENSORS))
    (folder / "small.yaml").write_text(SMALL)
    return folder / "small.yaml"


def test_a_relative_sensors_file_is_read_next_to_the_yaml(
    small_scenario: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(small_scenario.parents[1])  # elsewhere than the YAML's folder
    scenario = load_scenario(small_scenario)
    assert [s.id for s in scenario.sensors] == ["a", "b", "c"]


def test_a_bad_scenario_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("class: gunshot", "class: gunshoot").replace("sensors_file", "x"))
    with pytest.raises(ConfigError) as error:
        load_scenario(bad)
    assert "x: Extra inputs are not permitted" in str(error.value)
    assert "events.0" in str(error.value) and "gunshoot" in str(error.value)


def test_the_builtin_yaml_is_what_its_generator_writes() -> None:
    assert (BUILTIN_DIR / "saint-etienne.yaml").read_text(encoding="utf-8") == scenario_yaml()


def test_saint_etienne_is_shaped_like_the_real_deployment() -> None:
    scenario = load_scenario("saint-etienne")
    assert "saint-etienne" in builtin_scenarios()
    assert len(scenario.sensors) == 50 and len(scenario.cameras) == 6
    assert scenario.duration_s == 600.0
    assert abs(scenario.origin.lat - 45.44) < 0.01 and abs(scenario.origin.lon - 4.385) < 0.01
    assert all(4.0 <= s.height_m <= 6.0 for s in scenario.sensors)
    sensors = enu_positions(scenario, scenario.sensors, [0.0] * 50)
    gaps = np.linalg.norm(sensors[:, None] - sensors[None], axis=2) + np.eye(50) * 1e9
    assert 100.0 <= np.median(gaps.min(axis=1)) <= 200.0  # nearest-neighbour spacing
    assert scenario.clocks.default.jitter_s >= 0.0003
    classes = {e.class_ for e in scenario.events}
    assert {c.value for c in ALERTING_CLASSES} <= classes
    assert {"fireworks", "door_slam", "car_horn", "construction", "people_talking"} <= classes
    assert {"music", "traffic", "siren"} <= classes
    assert max(e.time_s for e in scenario.events) <= 600.0


def test_every_gunshot_in_saint_etienne_is_within_300_m_of_four_sensors() -> None:
    scenario = load_scenario("saint-etienne")
    shots = [e for e in scenario.events if e.class_ == "gunshot"]
    sensors = enu_positions(scenario, scenario.sensors, [0.0] * 50)
    for shot in enu_positions(scenario, shots, [0.0] * len(shots)):
        assert np.sum(np.linalg.norm(sensors - shot, axis=1) < 300.0) >= 4


def test_saint_etienne_buildings_hide_at_least_a_tenth_of_nearby_paths() -> None:
    everywhere, near = nlos_fractions(load_scenario("saint-etienne"), near_m=300.0)
    assert near >= 0.10 and everywhere >= near


def test_simulate_command_writes_a_folder_and_a_map(small_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    result = CliRunner().invoke(
        app, ["simulate", str(small_scenario), "--out", str(out), "--plot"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    assert "3 sensors, 2 events (2 alerting)" in result.output
    folder = RecordingFolder.read(out)
    assert soundfile.info(folder.wav_path("a")).duration == pytest.approx(3.0)
    assert (out / "map.png").stat().st_size > 20_000
    assert (out / "arrivals.png").read_bytes()[:4] == b"\x89PNG"  # the gunshot's spectrograms


def test_simulate_command_reports_a_bad_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\norigin: {lat: 100, lon: 0}\n")
    result = CliRunner().invoke(app, ["simulate", str(bad), "--out", str(tmp_path / "o")], env=WIDE)
    assert result.exit_code == 2
    assert "origin.lat" in result.output


def test_scenario_list_and_plot(tmp_path: Path) -> None:
    listing = CliRunner().invoke(app, ["scenario", "list"], env=WIDE)
    assert listing.exit_code == 0 and "saint-etienne" in listing.output and "50" in listing.output
    png = tmp_path / "map.png"
    plotted = CliRunner().invoke(
        app, ["scenario", "plot", "saint-etienne", "--out", str(png)], env=WIDE
    )
    assert plotted.exit_code == 0, plotted.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000


def test_real_recordings_are_used_when_an_audio_dir_is_given(
    small_scenario: Path, tmp_path: Path, shared_audio_dir: Path
) -> None:
    folder = simulate(
        load_scenario(small_scenario), tmp_path / "rec", audio_dir=shared_audio_dir, progress=False
    )
    truth = json.loads((tmp_path / "rec" / "truth.json").read_text())
    assert truth[0]["source"].startswith("gunshot/") and truth[1]["source"].startswith(
        "glass_break/"
    )
    assert all((shared_audio_dir / t["source"]).is_file() for t in truth)
    audio, _ = soundfile.read(folder.wav_path("a"))
    assert np.std(audio[:4000]) > 0.0  # the background is real street sound, not silence
    # arrivals keep their order in time for each sensor
    for t in truth:
        stamps = [a["arrival_utc"] for a in t["arrivals"].values()]
        assert all(isinstance(s, str) for s in stamps)
    assert [t["onset_utc"] for t in truth] == sorted(t["onset_utc"] for t in truth)
    assert all(a < b for a, b in pairwise([t["onset_utc"] for t in truth]))


def test_the_first_minute_of_saint_etienne_renders_clean_audio(tmp_path: Path) -> None:
    """50 sensors, the first gunshot: every file full length, none silent, the gunshot louder at
    the sensor nearest to it than at the farthest."""
    scenario = load_scenario("saint-etienne")
    folder = simulate(scenario, tmp_path, duration_s=50.0, progress=False)
    assert folder.truth is not None
    shot = next(t for t in folder.truth if t.class_ == "gunshot")
    arrivals = (shot.model_extra or {})["arrivals"]
    nearest = min(arrivals, key=lambda s: arrivals[s]["distance_m"])
    farthest = max(arrivals, key=lambda s: arrivals[s]["distance_m"])
    peaks = {}
    for sensor in folder.sensors:
        audio, _ = soundfile.read(folder.wav_path(sensor.id), dtype="int16")
        assert audio.size == 50 * 16000 and np.std(audio) > 1.0
        peaks[sensor.id] = np.abs(audio.astype(int)).max()
    assert peaks[nearest] > 4 * peaks[farthest]


def test_an_event_source_can_be_a_recording_relative_to_the_audio_dir_or_the_yaml(
    small_scenario: Path, tmp_path: Path, shared_audio_dir: Path
) -> None:
    chosen = recordings_for("scream", shared_audio_dir)[3]
    (small_scenario.parent / "mine.flac").write_bytes(chosen.read_bytes())
    text = (
        small_scenario.read_text()
        .replace(
            "class: gunshot}", f"class: gunshot, source: {chosen.relative_to(shared_audio_dir)}}}"
        )
        .replace("class: glass_break}", "class: scream, source: mine.flac}")
    )
    small_scenario.write_text(text)
    simulate(
        load_scenario(small_scenario), tmp_path / "rec", audio_dir=shared_audio_dir, progress=False
    )
    truth = json.loads((tmp_path / "rec" / "truth.json").read_text())
    assert truth[0]["source"] == str(chosen.relative_to(shared_audio_dir))
    assert truth[1]["source"] == str(small_scenario.parent / "mine.flac")


def test_a_missing_recording_is_a_clear_error(small_scenario: Path, tmp_path: Path) -> None:
    small_scenario.write_text(
        small_scenario.read_text().replace("class: gunshot}", "class: gunshot, source: nope.wav}")
    )
    result = CliRunner().invoke(
        app, ["simulate", str(small_scenario), "--out", str(tmp_path / "o")], env=WIDE
    )
    assert result.exit_code == 2
    assert "source 'nope.wav' not found" in result.output


def test_sources_and_sensors_inside_blocks_are_reported(small_scenario: Path) -> None:
    scenario = load_scenario(small_scenario)
    scenario.buildings.append(
        Building(
            footprint=[(4.3838, 45.4401), (4.3842, 45.4401), (4.3842, 45.4403), (4.3838, 45.4403)]
        )
    )
    problems = scenario_problems(scenario)
    assert problems == [
        "event 0 (gunshot at 0.5 s) at 45.440200, 4.384000 is inside a building block"
    ]


def test_only_steady_recordings_are_looped_as_background(shared_audio_dir: Path) -> None:
    from ouie.sim.background import MAX_BACKGROUND_CREST_DB, BackgroundRenderer, crest_db
    from ouie.sim.scenario import Background, Microphone

    paths = recordings_for("background_noise", shared_audio_dir)
    background = BackgroundRenderer.from_recordings(Background(), Microphone(), paths, limit=200)
    assert 0 < len(background.recordings) < len(paths)  # the knocks and bangs are left out
    # (+0.2 dB: the 10 ms fades at the ends lower the RMS a little)
    assert all(crest_db(c, 16000) <= MAX_BACKGROUND_CREST_DB + 0.2 for c in background.recordings)


def test_a_scenario_survives_a_round_trip_through_its_json_form() -> None:
    scenario = load_scenario("saint-etienne")
    again = Scenario.model_validate_json(scenario.model_dump_json(by_alias=True))
    assert again == scenario


@given(
    time_s=st.floats(0.0, 600.0),
    level=st.none() | st.floats(40.0, 180.0),
    name=st.sampled_from(SOURCE_NAMES),
)
def test_a_scripted_event_round_trips_and_keeps_its_level(
    time_s: float, level: float | None, name: str
) -> None:
    event = ScriptedEvent.model_validate(
        {"time_s": time_s, "lat": 45.44, "lon": 4.38, "class": name, "source_level_db_spl": level}
    )
    again = ScriptedEvent.model_validate_json(event.model_dump_json(by_alias=True))
    assert again == event
    assert again.level_db_spl == (level if level is not None else DEFAULT_LEVEL_DB_SPL[name])


def test_the_small_builtin_square_is_heard_by_all_its_sensors(tmp_path: Path) -> None:
    """`place-jean-jaures`: every alerting event reaches at least 3 of its 6 sensors 10 dB over
    the background (enough to locate it), and the file renders in a blink."""
    assert "place-jean-jaures" in builtin_scenarios()
    simulate(load_scenario("place-jean-jaures"), tmp_path, progress=False)
    truth = json.loads((tmp_path / "truth.json").read_text())
    alerting = [t for t in truth if t["alerting"]]
    assert {t["class"] for t in alerting} == {"gunshot", "scream", "glass_break", "explosion"}
    for event in alerting:
        heard = [a for a in event["arrivals"].values() if a["snr_db"] >= 10.0]
        assert len(heard) >= 3, event["class"]


def test_a_broken_recording_is_skipped_with_a_warning_and_the_rest_used(
    small_scenario: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An audio dir whose gunshot folder holds one corrupt file and one good one: the event
    takes the good one, the background skips the corrupt traffic clip, nothing is lost."""
    audio = tmp_path / "audio"
    for folder in ("gunshot", "glass_break", "traffic"):
        (audio / folder).mkdir(parents=True)
        (audio / folder / "broken.flac").write_bytes(b"not audio at all")
    fs = 16000
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(fs) / fs)
    soundfile.write(audio / "gunshot" / "good.wav", tone, fs)
    soundfile.write(audio / "traffic" / "good.wav", np.random.default_rng(0).normal(0, 0.1, fs), fs)
    with caplog.at_level("WARNING", logger="ouie.sim"):
        simulate(load_scenario(small_scenario), tmp_path / "rec", audio_dir=audio, progress=False)
    truth = json.loads((tmp_path / "rec" / "truth.json").read_text())
    assert truth[0]["source"] == "gunshot/good.wav"
    assert truth[1]["source"] == "synthetic"  # its only recording is broken
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert any("glass_break/broken.flac" in m for m in skipped)
    assert any("traffic/broken.flac" in m for m in skipped)
