"""Source signals: synthetic generators per class, real recordings, the level convention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouie.core.classes import EventClass
from ouie.sim.sources import (
    RECORDING_FOLDERS,
    SOURCE_NAMES,
    loudest_rms,
    onset_index,
    recording_source,
    recordings_for,
    synthesize,
)

FS = 16000


def spectral_centroid_hz(x: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    return float(np.sum(np.fft.rfftfreq(x.size, 1 / FS) * power) / np.sum(power))


def test_every_ouie_class_and_the_distractors_have_a_generator() -> None:
    assert {c.value for c in EventClass} <= set(SOURCE_NAMES)
    distractors = {"door_slam", "car_horn", "construction", "people_talking", "music", "traffic"}
    assert distractors <= set(SOURCE_NAMES)


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_a_synthetic_source_is_normalized_finite_and_reproducible(name: str) -> None:
    x = synthesize(name, FS, np.random.default_rng(3))
    assert np.all(np.isfinite(x)) and 0.2 < x.size / FS < 30
    assert loudest_rms(x, FS) == pytest.approx(1.0)
    assert np.array_equal(x, synthesize(name, FS, np.random.default_rng(3)))
    assert not np.array_equal(x, synthesize(name, FS, np.random.default_rng(4)))


@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(["scream", "gunshot", "glass_break"]))
@settings(max_examples=40, deadline=None)
def test_a_synthetic_source_is_finite_for_any_seed(seed: int, name: str) -> None:
    x = synthesize(name, FS, np.random.default_rng(seed))
    assert np.all(np.isfinite(x))


def test_a_synthetic_source_starts_at_its_onset() -> None:
    for name in ("gunshot", "explosion", "glass_break", "door_slam"):
        x = synthesize(name, FS, np.random.default_rng(0))
        assert onset_index(x, FS) < FS // 1000, name  # within 1 ms of sample 0


def test_impulses_are_short_and_sustained_sounds_take_their_duration() -> None:
    rng = np.random.default_rng(1)
    gunshot = synthesize("gunshot", FS, rng)
    envelope_db = 20 * np.log10(np.abs(gunshot) + 1e-12)
    assert np.max(envelope_db[FS // 5 :]) < np.max(envelope_db) - 30  # silent after 200 ms
    assert synthesize("siren", FS, rng, duration_s=7.0).size == 7 * FS


def test_classes_sound_different_where_it_matters() -> None:
    rng = np.random.default_rng(2)
    centroid = {n: spectral_centroid_hz(synthesize(n, FS, rng)) for n in SOURCE_NAMES}
    assert centroid["glass_break"] > 2500 > centroid["door_slam"]
    assert centroid["explosion"] < centroid["gunshot"]
    assert 400 < centroid["siren"] < 2000


def test_an_unknown_source_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match=r"no synthetic source 'gunshoot'.*gunshot"):
        synthesize("gunshoot", FS, np.random.default_rng(0))


def test_real_recordings_exist_for_every_mapped_folder(shared_audio_dir: Path) -> None:
    for name in RECORDING_FOLDERS:
        assert recordings_for(name, shared_audio_dir), name


def test_a_real_recording_becomes_a_trimmed_normalized_source(shared_audio_dir: Path) -> None:
    path = recordings_for("gunshot", shared_audio_dir)[0]
    x = recording_source("gunshot", path, FS)
    assert loudest_rms(x, FS) == pytest.approx(1.0)
    assert x.size <= 1.5 * FS  # gunshot excerpts are capped at 1.5 s
    assert onset_index(x, FS) < FS // 1000  # trimmed to its onset (within 1 ms)
