"""Recording groups of ../shared/audio (README's table): a fold never trains on a slice of a
recording it tests, and no key of a new source reaches into another source."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from ouie.learn.dataset import load_labelled_set, recording_group
from ouie.learn.groups import SOURCE_GROUP_KEYS, source_group
from ouie.learn.loso import loso_splits


@pytest.mark.parametrize(
    ("repo", "path", "key"),
    [
        ("heyadrsh/gunshot-detection-system", "dataset/AK-12/3 (1).wav", "heyadrsh-AK-12"),
        (
            "tuantje/firework_thesis",
            "Firework Detection/Gathered Data/fireworks1 ogg/zkIlnWqrDQE_part1s4.ogg",
            "fireworks-zkIlnWqrDQE",
        ),
        (
            "tuantje/firework_thesis",
            "Firework Detection/Gathered Data/fireworks1 ogg/1-115545-A-48_part0.ogg",
            "fireworks-esc-115545",
        ),
        (
            "gveres/donateacry-corpus",
            "d/hungry/31e785de-b0c9-464f-88e2-bd8f1dd5cda4-1433403682898-1.7-m-04-hu.wav",
            "donateacry-31e785de-b0c9-464f-88e2-bd8f1dd5cda4",
        ),
        ("ahmetnihat/ses_analizi", "Dataguncel/ciglik/2CVI_15_11_0_15_0_0_0.wav", "ses-2CVI"),
        (
            "prathambansal-swaja/Glass_break_sound_classification_using_transfer_learning",
            "g/glass_break/Glass_Breaking.glass.cbor.5s48f1sm.ingestion-7-7bncz_chunk4.wav.5u.wav",
            "eiglass-5s48f1sm",
        ),
        (
            "prathambansal-swaja/Glass_break_sound_classification_using_transfer_learning",
            "g/glass_break/Glass_Breaking.glass.1748587834262.wav",
            "eiglass-1748587834262",
        ),
    ],
)
def test_each_new_source_is_keyed_as_the_readme_says(repo: str, path: str, key: str) -> None:
    assert source_group(repo, path) == key
    assert recording_group(repo, path) == key


def test_the_old_sources_keep_their_keys() -> None:
    assert source_group("karolpiczak/ESC-10", "001 - Dog bark/1-100032-A.ogg") is None
    assert recording_group("karolpiczak/ESC-10", "001 - Dog bark/1-100032-A.ogg") == "esc-100032"
    assert recording_group("x/y", "a/b.wav") == "x/y:a/b.wav"


def test_slices_of_one_esc_recording_share_a_group() -> None:
    repo = "tuantje/firework_thesis"
    a = source_group(repo, "f/1-115545-A-48_part0.ogg")
    assert a == source_group(repo, "f/1-115545-B-48_part3.ogg")
    assert a != source_group(repo, "f/1-115546-A-48_part0.ogg")


def test_on_the_real_labels_only_copied_recordings_span_two_sources(
    shared_audio_dir: Path,
) -> None:
    clips = load_labelled_set(shared_audio_dir)
    sources_of = defaultdict(set)
    for clip in clips:
        sources_of[clip.group].add(clip.source)
    spanning = {g for g, s in sources_of.items() if len(s) > 1}
    # one UrbanSound8K recording copied into two repositories is the only kind allowed
    assert all(g.startswith("us8k-") for g in spanning)
    new = [c for c in clips if c.source in SOURCE_GROUP_KEYS]
    assert len(new) >= 600
    assert not any(c.group.startswith(c.source + ":") for c in new)  # every one keyed
    per_source = defaultdict(set)
    for clip in new:
        per_source[clip.source].add(clip.group)
    assert len(per_source["heyadrsh/gunshot-detection-system"]) <= 10  # gun models
    assert 20 <= len(per_source["tuantje/firework_thesis"]) <= 53
    assert len(per_source["gveres/donateacry-corpus"]) < 145


def test_a_held_out_source_shares_no_recording_with_its_training_side(
    shared_audio_dir: Path,
) -> None:
    clips = load_labelled_set(shared_audio_dir)
    groups = np.array([c.group for c in clips])
    splits = list(loso_splits(clips))
    assert len(splits) >= 10
    for split in splits:
        assert not set(groups[split.train]) & set(groups[split.test])
        assert {clips[i].source for i in split.test} == {split.name}
