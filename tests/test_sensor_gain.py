"""The detector's input gain (`DetectorConfig.input_gain_db`): YAMNet hears each window amplified
up to the headroom knee, never past it; onset picking and reported levels stay on the audio as
captured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ouie.app.demo import street_detector
from ouie.sensor.config import DetectorConfig, DetectorProfile, input_gain_for_full_scale_db
from ouie.sensor.yamnet import HEADROOM_KNEE, headroom_gains


@settings(deadline=None)  # a slow, shared machine must not fail it
@given(
    st.lists(st.floats(1e-6, 2.0), min_size=1, max_size=16),
    st.floats(0.0, 40.0),
)
def test_headroom_gain_never_attenuates_nor_lifts_a_peak_past_the_knee(
    peaks: list[float], gain_db: float
) -> None:
    windows = np.zeros((len(peaks), 64), np.float32)
    windows[:, 7] = peaks
    windows[:, 9] = -0.5 * np.array(peaks)
    gains = headroom_gains(windows, 10 ** (gain_db / 20))
    assert np.all(gains >= 1.0)
    assert np.all(gains <= 10 ** (gain_db / 20) * (1 + 1e-6))
    lifted = np.array(peaks) * gains
    assert np.all((lifted <= HEADROOM_KNEE * (1 + 1e-5)) | (gains == 1.0))


def test_a_quiet_window_gets_the_whole_gain_a_loud_one_up_to_the_knee_a_louder_none() -> None:
    """A scream across the street at −50 dBFS gets the +20 dB; a gunshot 60 m away at −12 dBFS
    only the 6 dB that lift it to −6 dBFS; an explosion at −2 dBFS none (the limiter this
    replaces bent it into a shape the verifier rejected)."""
    windows = np.zeros((3, 100), np.float32)
    windows[:, 50] = [10 ** (-50 / 20), 10 ** (-12 / 20), 10 ** (-2 / 20)]
    gains_db = 20 * np.log10(headroom_gains(windows, 10.0))
    assert np.allclose(gains_db, [20.0, 12.0 - 20 * np.log10(1 / HEADROOM_KNEE), 0.0], atol=0.01)


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
