"""The detector's input gain (`DetectorConfig.input_gain_db`): YAMNet hears the audio amplified
and soft-limited; onset picking and reported levels stay on the audio as captured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ouie.app.demo import street_detector
from ouie.sensor.config import DetectorConfig, DetectorProfile, input_gain_for_full_scale_db
from ouie.sensor.yamnet import soft_limited


@given(st.lists(st.floats(-50.0, 50.0), min_size=2, max_size=64))
def test_soft_limiting_is_identity_below_the_knee_monotone_and_bounded(values: list[float]) -> None:
    x = np.sort(np.array(values, np.float32))
    y = soft_limited(x)
    assert np.all(np.abs(y) <= 1.0)
    assert np.all(np.diff(y) >= 0.0)  # order kept: a peak keeps its shape
    small = np.abs(x) <= 0.5
    assert np.array_equal(y[small], x[small])
    assert np.array_equal(soft_limited(-x), -y)


def test_the_limiter_is_continuous_with_slope_one_at_the_knee() -> None:
    x = np.array([0.5 - 1e-4, 0.5, 0.5 + 1e-4], np.float32)
    y = soft_limited(x)
    assert np.allclose(np.diff(y), np.diff(x), rtol=1e-2)


def test_gain_lets_yamnet_hear_quiet_real_screams(
    shared_audio_dir: Path, yamnet_model_path: Path
) -> None:
    """Five real screams at −50 dBFS peak (a scream across a street at a microphone with
    headroom for gunshots): YAMNet's scream label stays near 0 without gain and rises with
    +30 dB (mean of the clips' best windows)."""
    from ouie.audio.io import read_audio
    from ouie.core.classes import EventClass
    from ouie.sensor.scoring import EVENT_CLASSES
    from ouie.sensor.yamnet import YamnetModel, grouped_scores

    scream = EVENT_CLASSES.index(EventClass.SCREAM)
    plain = YamnetModel(yamnet_model_path)
    amplified = YamnetModel(yamnet_model_path, input_gain_db=30.0)
    best: dict[str, list[float]] = {"plain": [], "amplified": []}
    for clip in sorted(shared_audio_dir.rglob("*femaleScream*"))[:5]:
        audio = read_audio(clip)
        windows = np.stack(
            [audio[i : i + 15_600] for i in range(0, max(1, len(audio) - 15_600), 7_680)]
        )
        quiet = windows / np.abs(audio).max() * 10 ** (-50 / 20)
        for name, model in (("plain", plain), ("amplified", amplified)):
            best[name].append(float(grouped_scores(model.run(quiet)[0])[:, scream].max()))
    assert np.mean(best["plain"]) < 0.1
    assert np.mean(best["amplified"]) > np.mean(best["plain"]) + 0.3


def test_the_demo_runs_street_sensors_calibrated_from_the_microphone_unless_set() -> None:
    assert input_gain_for_full_scale_db(130.0) == 20.0
    assert input_gain_for_full_scale_db(100.0) == 0.0  # never an attenuation
    street = street_detector(DetectorConfig(), 130.0)
    assert (street.profile, street.input_gain_db) == (DetectorProfile.STREET, 20.0)
    explicit = street_detector(DetectorConfig(input_gain_db=0.0, profile="recording"), 130.0)
    assert (explicit.profile, explicit.input_gain_db) == (DetectorProfile.RECORDING, 0.0)
