"""The trained head: its one-layer export equals the scikit-learn model it folds, it survives a
save/load round trip, grouping never splits a recording, and the shipped head classifies real
clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ouie.sensor.dataset import LabelledClip, load_labelled_set, recording_group
from ouie.sensor.features import FeatureTable, analysis_windows
from ouie.sensor.head import DEFAULT_HEAD_PATH, Head
from ouie.sensor.training import HEAD_LABELS, fit_head, training_rows
from ouie.sensor.yamnet import N_AUDIOSET, N_EMBEDDING


def synthetic_table(rng: np.random.Generator, n_clips: int = 60) -> tuple[FeatureTable, list]:
    """Clips whose features are a label-specific mean plus noise."""
    centres = rng.normal(0, 1, (len(HEAD_LABELS), N_EMBEDDING + N_AUDIOSET))
    clips, rows, clip_ids = [], [], []
    for i in range(n_clips):
        label = HEAD_LABELS[i % len(HEAD_LABELS)]
        clips.append(LabelledClip(Path(f"{i}.wav"), label, label, f"g{i}", "test"))
        for _ in range(4):
            rows.append(centres[i % len(HEAD_LABELS)] + rng.normal(0, 2.0, centres.shape[1]))
            clip_ids.append(i)
    n = len(rows)
    features = np.array(rows, np.float32)
    features[:, N_EMBEDDING:] = 1 / (1 + np.exp(-features[:, N_EMBEDDING:]))  # scores in (0, 1)
    table = FeatureTable(
        features=features,
        clip=np.array(clip_ids),
        variant=np.zeros(n, np.int8),
        background=np.full(n, -1),
        labelled=np.ones(n, bool),
    )
    return table, clips


def test_folded_head_learns_separable_classes_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table, clips = synthetic_table(rng)
    head = fit_head(table, clips, np.arange(40))
    test_rows = np.isin(table.clip, np.arange(40, 60))
    probs = head.probabilities(table.features[test_rows])
    truth = [HEAD_LABELS.index(clips[i].label) for i in table.clip[test_rows]]
    assert (probs.argmax(axis=1) == truth).mean() > 0.95
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    head.save(tmp_path / "head.npz")
    loaded = Head.load(tmp_path / "head.npz")
    assert np.allclose(loaded.probabilities(table.features[test_rows]), probs, atol=1e-5)
    assert loaded.thresholds == head.thresholds and loaded.labels == head.labels


def test_augmented_rows_whose_background_is_held_out_are_not_trained_on() -> None:
    table = FeatureTable(
        features=np.zeros((4, 3), np.float32),
        clip=np.array([0, 0, 1, 2]),
        variant=np.array([0, 1, 0, 0], np.int8),
        background=np.array([-1, 2, -1, -1]),
        labelled=np.array([True, True, True, False]),
    )
    assert training_rows(table, np.array([0, 1])).tolist() == [True, False, True, False]
    assert training_rows(table, np.array([0, 1, 2])).tolist() == [True, True, True, False]


@pytest.mark.parametrize(
    ("repo", "path_a", "path_b"),
    [
        (
            "a/AC-II",
            "UrbanSound8K/audio/fold1/102305-6-0-0.wav",
            "UrbanSound8K/audio/fold3/102305-6-1-0.wav",
        ),
        ("k/ESC-10", "001 - Dog bark/1-30226-A.ogg", "001 - Dog bark/1-30226-B.ogg"),
        ("j/fsdd", "recordings/0_george_0.wav", "recordings/7_george_12.wav"),
        (
            "m/SirenDetection",
            "SirenDetection/siren_fr_ambulance/ambulance10_0.wav",
            "SirenDetection/siren_fr_ambulance/ambulance10_3.wav",
        ),
    ],
)
def test_slices_of_one_recording_share_a_group(repo: str, path_a: str, path_b: str) -> None:
    assert recording_group(repo, path_a) == recording_group(repo, path_b)


def test_windows_match_the_pipeline_grid() -> None:
    samples = np.arange(20_000, dtype=np.float32)
    windows = analysis_windows(samples, 7_680)
    assert windows.shape == (3, 15_600)
    assert windows[1, 0] == 7_680 and windows[2, 0] == 15_360
    assert windows[2, 20_000 - 15_360] == 0.0  # zero-padded tail


def test_real_groups_never_mix_labels(shared_audio_dir: Path) -> None:
    clips = load_labelled_set(shared_audio_dir)
    by_group: dict[str, set[str]] = {}
    for clip in clips:
        by_group.setdefault(clip.group, set()).add(clip.label)
    assert len(by_group) > 1000
    assert all(len(labels) == 1 for labels in by_group.values())


def test_shipped_head_is_a_small_artefact_with_its_training_list() -> None:
    assert DEFAULT_HEAD_PATH.stat().st_size < 2_000_000
    head = Head.load(DEFAULT_HEAD_PATH)
    assert head.labels == list(HEAD_LABELS)
    training_list = DEFAULT_HEAD_PATH.with_name("head_training.csv").read_text().splitlines()
    assert training_list[0].startswith("file,folder,label,group,license_note")
    assert len(training_list) > 2000
