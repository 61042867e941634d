"""The per-window features of every clip as recorded (no augmentation), cached once under
`~/.cache/ouie/features/`: what leave-one-source-out judging and light heads train on.

Two tables with the same rows (one per analysis window of 0.975 s every hop, as `EventStream`
scores them): the head's input (`features.head_input_measure`: embedding ‖ 521 AudioSet scores ‖
impulse evidence) and the same of each window's aligned window (`features.grid_aligned_measure`,
what the verifier is shown when that window opens a candidate). Both come from one rendering pass
of `ouie.learn.features` (the code the augmented caches use)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ouie.learn.dataset import LabelledClip
from ouie.learn.features import (
    FeatureTable,
    _cached_extract,
    cache_key,
    grid_aligned_measure,
    head_input_measure,
)
from ouie.sensor.yamnet import YamnetModel

RECORDED_VERSION = "1"
"""Bump when the recorded tables change (invalidates their caches only)."""


@dataclass
class RecordedFeatures:
    """`windows`: the head's input of every window of every clip as recorded; `aligned`: rows as
    `windows`, the head's input of each window's aligned window (for replaying a verifier)."""

    windows: FeatureTable
    aligned: FeatureTable


def recorded_features(
    clips: list[LabelledClip],
    model: YamnetModel,
    hop: int,
    cache_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> RecordedFeatures:
    """Both tables of `clips` as recorded, from `cache_dir` when this set was measured before
    (same clips, model, hop: `features.cache_key`)."""
    key = cache_key(clips, model, hop)
    windows, aligned = _cached_extract(
        clips,
        {
            cache_dir / f"recorded-{RECORDED_VERSION}-{key}.npz": head_input_measure(model),
            cache_dir / f"recorded-aligned-{RECORDED_VERSION}-{key}.npz": grid_aligned_measure(
                model, hop
            ),
        },
        hop,
        ("clean",),
        progress,
    )
    return RecordedFeatures(windows, aligned)
