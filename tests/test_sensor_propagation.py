"""The propagation augmentation (`ouie.learn.features.propagated`): built from the simulator's
own propagation functions, it loses high frequencies with distance and adds the street's tail;
the evaluation rendering is never trained on."""

from __future__ import annotations

import numpy as np

from ouie.learn.features import BASE_VARIANTS, VARIANTS, FeatureTable, propagated
from ouie.learn.training import training_rows


def band_ratio_db(x: np.ndarray) -> float:
    """Energy above 4 kHz over energy below 1 kHz, dB."""
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 16_000)
    return float(10 * np.log10(spectrum[f > 4_000].sum() / spectrum[f < 1_000].sum()))


def test_propagation_loses_highs_with_distance_and_adds_the_tail() -> None:
    impulse = np.random.default_rng(1).standard_normal(4_000).astype(np.float32)
    near = propagated(impulse, np.random.default_rng(0), (20.0, 20.0), None, 0.0)
    far = propagated(impulse, np.random.default_rng(0), (300.0, 300.0), None, 0.0)
    assert band_ratio_db(far) < band_ratio_db(near) - 3.0  # ISO 9613-1: highs die first
    reverberant = propagated(impulse, np.random.default_rng(0), (50.0, 50.0), (0.8, 0.8), 0.0)
    assert len(reverberant) >= len(impulse) + 0.8 * 16_000
    tail = reverberant[len(impulse) + 1_600 :]
    assert np.sqrt(np.mean(tail[:1_600] ** 2)) > 10 * np.sqrt(np.mean(tail[-1_600:] ** 2))
    again = propagated(impulse, np.random.default_rng(0), (50.0, 50.0), (0.8, 0.8), 0.0)
    assert np.array_equal(reverberant, again)


def test_the_evaluation_rendering_is_never_trained_on() -> None:
    variants = [VARIANTS.index(v) for v in ("clean", "prop", "prop_eval", "clean")]
    table = FeatureTable(
        features=np.zeros((4, 3), np.float32),
        clip=np.array([0, 0, 0, 1]),
        variant=np.array(variants, np.int8),
        background=np.array([-1, 1, 1, -1]),
        labelled=np.ones(4, bool),
    )
    assert training_rows(table, np.array([0, 1])).tolist() == [True, True, False, True]
    assert training_rows(table, np.array([0])).tolist() == [True, False, False, False]
    old_recipe = training_rows(table, np.array([0, 1]), BASE_VARIANTS)
    assert old_recipe.tolist() == [True, False, False, True]
