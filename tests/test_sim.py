"""The city simulator: what a sensor records is what physics and the scenario say it should be.

Positions are laid out in the scenario's ENU frame (metres) and converted to WGS84, so every
expectation below is a plain distance / speed-of-sound computation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from scipy.optimize import minimize_scalar

from ouie.core.geo import LocalFrame
from ouie.core.recording import RecordingFolder
from ouie.core.timebase import iso_to_ns
from ouie.sim.render import simulate
from ouie.sim.scenario import Scenario
from ouie.sim.sources import loudest_rms

FRAME = LocalFrame(45.44, 4.385, 500.0)
FS = 16000


def site(east_m: float, north_m: float) -> dict[str, float]:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, 0.0)
    return {"lat": float(lat), "lon": float(lon)}


def scenario(
    sensors: list[tuple[float, float]],
    events: list[dict[str, Any]],
    *,
    free_field: bool = True,
    quiet: bool = True,
    buildings: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Scenario:
    """A scenario laid out in metres: sensors at (east, north) 5 m up, events given in metres."""
    data: dict[str, Any] = {
        "name": "test",
        "origin": {"lat": FRAME.origin_lat_deg, "lon": FRAME.origin_lon_deg, "height_m": 500.0},
        "duration_s": 3.0,
        "sensors": [
            {"id": f"m{i}", "height_m": 5.0, **site(e, n)} for i, (e, n) in enumerate(sensors)
        ],
        "events": [
            {"time_s": 0.5, "class": "gunshot", "source": "synthetic", "height_m": 5.0, **ev}
            | site(ev["east_m"], ev["north_m"])
            for ev in events
        ],
        "clocks": {"default": {"offset_s": 0.0, "jitter_s": 0.0}},
        "buildings": buildings or [],
    }
    for ev in data["events"]:
        ev.pop("east_m"), ev.pop("north_m")
    if free_field:
        data["propagation"] = {"ground_reflection_gain": 0.0, "air_absorption": False}
    if quiet:
        data["background"] = {"level_dba": -30.0}
        data["microphone"] = {"self_noise_db_spl": -30.0}
    return Scenario.model_validate(data | extra)


def read_wav(folder: RecordingFolder, sensor_id: str) -> np.ndarray:
    audio, rate = soundfile.read(folder.wav_path(sensor_id), dtype="float64")
    assert rate == FS
    return audio


def delay_samples(reference: np.ndarray, delayed: np.ndarray) -> float:
    """How many (fractional) samples `delayed` lags `reference`: the maximum of the band-limited
    cross-correlation, found on the exact sinc-interpolated curve around its integer peak."""
    n = 2 * max(reference.size, delayed.size)
    cross = np.fft.rfft(delayed, n) * np.conj(np.fft.rfft(reference, n))
    k = np.arange(cross.size)
    integer = np.fft.irfft(cross, n)
    peak = int(np.argmax(integer))
    peak = peak - n if peak > n // 2 else peak

    def negative_correlation(lag: float) -> float:
        return -float(np.real(np.sum(cross * np.exp(2j * np.pi * k * lag / n))))

    return float(minimize_scalar(negative_correlation, bounds=(peak - 1, peak + 1)).x)


def test_arrival_delays_in_the_wavs_match_geometry_within_a_tenth_of_a_sample(
    tmp_path: Path,
) -> None:
    sensors = [(37.3, 0.0), (0.0, 81.17), (-120.9, -33.3), (200.05, 150.5)]
    folder = simulate(
        scenario(sensors, [{"east_m": 0.0, "north_m": 0.0}]), tmp_path, progress=False
    )
    c = scenario(sensors, [{"east_m": 0.0, "north_m": 0.0}]).weather.speed_of_sound_mps
    wavs = [read_wav(folder, f"m{i}") for i in range(len(sensors))]
    distances_m = [np.hypot(e, n) for e, n in sensors]
    for i in range(1, len(sensors)):
        expected = (distances_m[i] - distances_m[0]) / c * FS
        assert delay_samples(wavs[0], wavs[i]) == pytest.approx(expected, abs=0.1)


def test_truth_arrivals_are_emission_plus_travel_time(tmp_path: Path) -> None:
    folder = simulate(
        scenario([(300.0, 400.0)], [{"east_m": 0.0, "north_m": 0.0}]), tmp_path, progress=False
    )
    truth = json.loads((tmp_path / "truth.json").read_text())[0]
    travel_ns = iso_to_ns(truth["arrivals"]["m0"]["arrival_utc"]) - iso_to_ns(truth["onset_utc"])
    c = scenario([(0, 0)], []).weather.speed_of_sound_mps
    assert travel_ns == pytest.approx(500.0 / c * 1e9, abs=1_000)  # 500 m, µs rounding
    assert truth["onset_utc"] == "2026-06-21T21:00:00.500000Z"
    assert folder.truth is not None and folder.truth[0].lat == pytest.approx(FRAME.origin_lat_deg)


def test_level_falls_six_db_per_doubling_of_distance_in_free_field(tmp_path: Path) -> None:
    distances_m = [25.0, 50.0, 100.0, 200.0, 400.0]
    folder = simulate(
        scenario(
            [(d, 0.0) for d in distances_m],
            [{"east_m": 0.0, "north_m": 0.0, "source_level_db_spl": 120.0}],
        ),
        tmp_path,
        progress=False,
    )
    recorded_db = [20 * np.log10(loudest_rms(read_wav(folder, f"m{i}"), FS)) for i in range(5)]
    assert np.diff(recorded_db) == pytest.approx([-6.02] * 4, abs=0.1)
    truth = json.loads((tmp_path / "truth.json").read_text())[0]["arrivals"]
    levels = [truth[f"m{i}"]["level_db_spl"] for i in range(5)]
    # 0.1 dB: the converter's anti-aliasing taper removes the source's energy above 6.4 kHz
    assert levels[0] == pytest.approx(120.0 - 20 * np.log10(25.0), abs=0.1)
    assert np.diff(levels) == pytest.approx([-6.02] * 4, abs=0.05)


BLOCK = {
    "id": "block",
    "height_m": 20.0,
    "footprint": [
        [site(e, n)["lon"], site(e, n)["lat"]]
        for e, n in [(40, -30), (60, -30), (60, 30), (40, 30)]
    ],
}


def test_a_blocked_path_arrives_later_and_weaker_than_the_free_field_one(tmp_path: Path) -> None:
    """Two sensors 100 m from the source: north in the open, east behind a 20 m block."""
    layout = scenario(
        [(0.0, 100.0), (100.0, 0.0)],
        [{"east_m": 0.0, "north_m": 0.0}],
        buildings=[BLOCK],
    )
    folder = simulate(layout, tmp_path, progress=False)
    open_, hidden = read_wav(folder, "m0"), read_wav(folder, "m1")
    assert delay_samples(open_, hidden) > 0.5  # the roof path is longer
    assert np.max(np.abs(hidden)) < np.max(np.abs(open_)) / 2  # over 6 dB of diffraction loss
    arrivals = json.loads((tmp_path / "truth.json").read_text())[0]["arrivals"]
    assert arrivals["m1"]["nlos"] and not arrivals["m0"]["nlos"]
    assert arrivals["m1"]["path"] == "roof"
    assert arrivals["m1"]["arrival_utc"] > arrivals["m0"]["arrival_utc"]
    assert arrivals["m1"]["level_db_spl"] < arrivals["m0"]["level_db_spl"] - 6.0


def test_a_clock_offset_shifts_the_recorded_onset_by_exactly_the_offset(tmp_path: Path) -> None:
    offset_s = 0.012_345
    base = scenario([(80.0, 0.0)], [{"east_m": 0.0, "north_m": 0.0}])
    shifted = base.model_copy(deep=True)
    shifted.sensors[0].clock = shifted.clocks.default.model_copy(update={"offset_s": offset_s})
    a = simulate(base, tmp_path / "a", progress=False)
    b = simulate(shifted, tmp_path / "b", progress=False)
    measured = delay_samples(read_wav(a, "m0"), read_wav(b, "m0"))
    assert measured == pytest.approx(offset_s * FS, abs=0.02)
    arrivals = json.loads((tmp_path / "b" / "truth.json").read_text())[0]["arrivals"]["m0"]
    stamped_ns = iso_to_ns(arrivals["recorded_utc"]) - iso_to_ns(arrivals["arrival_utc"])
    assert stamped_ns == pytest.approx(offset_s * 1e9, abs=1_000)


def test_the_same_seed_gives_the_same_files_and_another_seed_does_not(tmp_path: Path) -> None:
    layout = scenario(
        [(50.0, 0.0), (0.0, 70.0)],
        [{"east_m": 0.0, "north_m": 0.0}, {"east_m": 10.0, "north_m": 5.0, "class": "scream"}],
        quiet=False,
        free_field=False,
        clocks={"default": {"jitter_s": 0.001}, "offset_spread_s": 0.002},
    )
    for run in ("one", "two"):
        simulate(layout, tmp_path / run, seed=5, progress=False)
    simulate(layout, tmp_path / "other", seed=6, progress=False)
    for name in ("m0.wav", "m1.wav", "truth.json", "meta.json", "sensors.geojson"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    other = (tmp_path / "other" / "m0.wav").read_bytes()
    assert (tmp_path / "one" / "m0.wav").read_bytes() != other


def test_the_folder_follows_the_recording_contract(tmp_path: Path) -> None:
    layout = scenario([(50.0, 0.0), (0.0, 70.0)], [{"east_m": 0.0, "north_m": 0.0}], quiet=False)
    folder = simulate(layout, tmp_path, duration_s=2.0, progress=False)
    assert [s.id for s in folder.sensors] == ["m0", "m1"]
    assert folder.start_ns == iso_to_ns(layout.start_utc)
    assert folder.truth is not None and folder.truth[0].class_ == "gunshot"
    info = soundfile.info(folder.wav_path("m0"))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (FS, 1, 2 * FS, "PCM_16")
    background = read_wav(folder, "m0")[: FS // 4]  # before the shot arrives
    level_db_spl = 130.0 + 20 * np.log10(np.std(background) * np.sqrt(2))  # full scale 130 dB
    assert 45.0 < level_db_spl < 75.0  # 55 dB(A) street noise, unweighted a little louder


def test_a_shot_next_to_a_sensor_clips_the_converter_and_a_far_one_does_not(
    tmp_path: Path,
) -> None:
    folder = simulate(
        scenario([(2.0, 0.0), (300.0, 0.0)], [{"east_m": 0.0, "north_m": 0.0}]),
        tmp_path,
        progress=False,
    )
    near, far = (soundfile.read(folder.wav_path(s), dtype="int16")[0] for s in ("m0", "m1"))
    assert near.max() == 32767 or near.min() == -32768
    assert np.abs(far).max() < 32767
    arrivals = json.loads((tmp_path / "truth.json").read_text())[0]["arrivals"]
    assert arrivals["m0"]["clipped"] and not arrivals["m1"]["clipped"]


def test_clock_errors_have_the_configured_offset_spread_and_jitter(tmp_path: Path) -> None:
    sensors = [(float(40 * i), 0.0) for i in range(40)]
    events = [{"east_m": 0.0, "north_m": 50.0, "time_s": 0.1 * k} for k in range(10)]
    layout = scenario(
        sensors,
        events,
        clocks={"default": {"offset_s": 0.0, "jitter_s": 0.0005}, "offset_spread_s": 0.002},
    )
    simulate(layout, tmp_path, duration_s=1.5, progress=False)
    truth = json.loads((tmp_path / "truth.json").read_text())
    errors = np.array([[t["arrivals"][f"m{j}"]["clock_error_s"] for j in range(40)] for t in truth])
    offsets = np.array(
        list(json.loads((tmp_path / "meta.json").read_text())["clock_offsets_s"].values())
    )
    assert np.std(offsets) == pytest.approx(0.002, rel=0.35)
    jitter = errors - offsets[None, :]
    assert np.std(jitter) == pytest.approx(0.0005, rel=0.15)  # 400 draws
    assert abs(np.mean(jitter)) < 0.0001


def test_nothing_arrives_before_the_sound_does(tmp_path: Path) -> None:
    """The fractional delay must not smear a blast's step ahead of its arrival (the converter's
    anti-aliasing taper keeps the ringing 1 ms ahead under −60 dB of the peak)."""
    folder = simulate(
        scenario([(60.0, 0.0)], [{"east_m": 0.0, "north_m": 0.0}]), tmp_path, progress=False
    )
    audio = read_wav(folder, "m0")
    arrival = json.loads((tmp_path / "truth.json").read_text())[0]["arrivals"]["m0"]
    index = (iso_to_ns(arrival["recorded_utc"]) - folder.start_ns) * FS / 1e9
    ahead = audio[int(index) - 48 : int(index) - 16]  # 3 ms to 1 ms before the arrival
    assert 20 * np.log10(np.max(np.abs(ahead)) / np.max(np.abs(audio))) < -60.0
    # a blast jumps to its peak at once: half the peak is first reached at the arrival sample
    first_half_peak = int(np.argmax(np.abs(audio) >= 0.5 * np.max(np.abs(audio))))
    assert first_half_peak == pytest.approx(index, abs=1.0)


def test_ouie_detect_finds_the_shot_where_truth_says_it_arrived(tmp_path: Path) -> None:
    """The recording folder is read by the sensor's `ouie detect` as is; its onset picker lands
    within 2 ms of the arrival the sensor's clock stamped (it picks a blast 0–1.5 ms early)."""
    from typer.testing import CliRunner

    from ouie.cli import app

    layout = scenario(
        [(45.0, 20.0), (-80.0, 60.0)],
        [{"east_m": 0.0, "north_m": 0.0, "time_s": 1.0}],
        quiet=False,
        clocks={"default": {"offset_s": 0.003, "jitter_s": 0.0}},
    )
    folder = simulate(layout, tmp_path, progress=False)
    arrivals = json.loads((tmp_path / "truth.json").read_text())[0]["arrivals"]
    for sensor in ("m0", "m1"):
        result = CliRunner().invoke(
            app, ["detect", str(folder.wav_path(sensor)), "--backend", "builtin", "--json"]
        )
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        expected_s = (iso_to_ns(arrivals[sensor]["recorded_utc"]) - folder.start_ns) / 1e9
        assert min(abs(e["onset_s"] - expected_s) for e in events) < 0.002


def test_street_reverberation_follows_its_decay_time_and_distance_law(tmp_path: Path) -> None:
    rt60_s, critical_m, distance_m = 0.8, 15.0, 120.0
    shot = [{"east_m": 0.0, "north_m": 0.0, "source_level_db_spl": 120.0}]
    dry = simulate(scenario([(distance_m, 0.0)], shot), tmp_path / "dry", progress=False)
    wet_layout = scenario([(distance_m, 0.0)], shot)
    wet_layout.propagation.street_reverb_rt60_s = rt60_s
    wet_layout.propagation.street_reverb_critical_distance_m = critical_m
    wet_layout.propagation.street_reverb_excess_attenuation_db_per_m = 0.05
    wet = simulate(wet_layout, tmp_path / "wet", progress=False)
    dry_audio, wet_audio = read_wav(dry, "m0"), read_wav(wet, "m0")
    tail = wet_audio - dry_audio
    # the tail carries r/r_c · 10^(−κr/10) times the direct sound's energy (1/r²)
    ratio_db = 10 * np.log10(np.sum(tail**2) / np.sum(dry_audio**2))
    expected_db = 10 * np.log10(distance_m / critical_m) - 0.05 * distance_m
    assert ratio_db == pytest.approx(expected_db, abs=1.5)
    # and decays by 60 dB in rt60_s: fit the slope of its energy in 20 ms frames
    arrival = int(np.argmax(np.abs(dry_audio) > 0.5 * np.max(np.abs(dry_audio))))
    frames = tail[arrival + 1600 : arrival + 1600 + 20 * 320].reshape(20, 320)
    level_db = 10 * np.log10(np.mean(frames**2, axis=1))
    slope_db_per_s = np.polyfit(np.arange(20) * 0.02, level_db, 1)[0]
    assert slope_db_per_s == pytest.approx(-60.0 / rt60_s, rel=0.2)
    # it starts after the direct sound, never before
    assert np.max(np.abs(tail[: arrival - 16])) < 1e-3 * np.max(np.abs(dry_audio))


def test_sensitivity_errors_scale_each_recording_by_its_own_gain(tmp_path: Path) -> None:
    """Two sensors at the same distance record the same sound, each off by its drawn error."""
    layout = scenario(
        [(0.0, 100.0), (0.0, -100.0)],
        [{"east_m": 0.0, "north_m": 0.0, "source_level_db_spl": 120.0}],
        microphone={"self_noise_db_spl": -30.0, "sensitivity_spread_db": 3.0},
    )
    folder = simulate(layout, tmp_path, progress=False)
    errors = json.loads((tmp_path / "meta.json").read_text())["sensitivity_error_db"]
    assert errors["m0"] != errors["m1"]
    recorded_db = [20 * np.log10(loudest_rms(read_wav(folder, s), FS)) for s in ("m0", "m1")]
    assert recorded_db[0] - recorded_db[1] == pytest.approx(errors["m0"] - errors["m1"], abs=0.05)
    arrivals = json.loads((tmp_path / "truth.json").read_text())[0]["arrivals"]
    assert arrivals["m0"]["level_db_spl"] == pytest.approx(arrivals["m1"]["level_db_spl"])


def test_a_drifting_clock_is_late_in_proportion_to_the_time(tmp_path: Path) -> None:
    drift_ppm = 200.0
    events = [{"east_m": 0.0, "north_m": 0.0, "time_s": t} for t in (1.0, 9.0)]
    layout = scenario(
        [(70.0, 0.0)],
        events,
        clocks={"default": {"offset_s": 0.001, "jitter_s": 0.0, "drift_ppm": drift_ppm}},
    )
    simulate(layout, tmp_path, duration_s=10.0, progress=False)
    truth = json.loads((tmp_path / "truth.json").read_text())
    c = layout.weather.speed_of_sound_mps
    for event, emitted_s in zip(truth, (1.0, 9.0), strict=True):
        expected_s = 0.001 + drift_ppm * 1e-6 * (emitted_s + 70.0 / c)
        assert event["arrivals"]["m0"]["clock_error_s"] == pytest.approx(expected_s, abs=1e-9)


def test_a_moving_siren_is_heard_doppler_shifted_where_and_when_geometry_says(
    tmp_path: Path,
) -> None:
    """A two-tone siren (435 Hz first) driving at 20 m/s straight at a sensor 300 m away is
    heard at 435·c/(c − v) while it approaches, its first sound arriving after 300/c."""
    speed = 20.0
    layout = scenario(
        [(300.0, 0.0)],
        [
            {
                "east_m": 0.0,
                "north_m": 0.0,
                "class": "siren",
                "duration_s": 4.0,
                "velocity_mps": [speed, 0.0],
                "time_s": 0.5,
            }
        ],
    )
    folder = simulate(layout, tmp_path, duration_s=6.0, progress=False)
    c = layout.weather.speed_of_sound_mps
    arrival_s = 0.5 + 300.0 / c
    audio = read_wav(folder, "m0")
    # the first 0.6 s of emission is the low tone; it is heard compressed by (c − v)/c
    start = int((arrival_s + 0.05) * FS)
    window = audio[start : start + int(0.45 * FS)] * np.hanning(int(0.45 * FS))
    spectrum = np.abs(np.fft.rfft(window, 16 * FS))
    low = np.fft.rfftfreq(16 * FS, 1 / FS) < 600
    peak_hz = np.fft.rfftfreq(16 * FS, 1 / FS)[low][np.argmax(spectrum[low])]
    assert peak_hz == pytest.approx(435.0 * c / (c - speed), abs=1.5)
    # 120 dB at 1 m is 70 dB at 300 m, −60 dBFS: nothing before the arrival, then the tone
    assert np.max(np.abs(audio[: int((arrival_s - 0.005) * FS)])) < 1e-4
    assert np.max(np.abs(audio[int(arrival_s * FS) : int((arrival_s + 0.1) * FS)])) > 5e-4
    truth = json.loads((tmp_path / "truth.json").read_text())[0]
    assert truth["velocity_mps"] == [speed, 0.0]
