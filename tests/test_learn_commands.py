"""`ouie eval detect` says how many of the clips it judges trained the head (in-sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ouie.learn.commands import _in_sample_note
from ouie.learn.dataset import load_labelled_set


def test_eval_detect_counts_the_clips_the_head_learnt_from(tmp_path: Path) -> None:
    data = tmp_path / "set"
    for name in ("gunshot/a.flac", "gunshot/b.flac", "dog_bark/c.flac"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(data / name, np.zeros(1600, np.float32), 16_000)
    head = tmp_path / "head.npz"
    (tmp_path / "head_training.csv").write_text(
        "file,folder,label,group,license_note\ngunshot/a.flac,gunshot,gunshot,g,CC0\n"
        "dog_bark/c.flac,dog_bark,none,h,CC0\n"
    )
    note = _in_sample_note(load_labelled_set(data), data, head)
    assert note.startswith("IN-SAMPLE: 2 of these 3 clips")
    assert "unknown" in _in_sample_note(load_labelled_set(data), data, tmp_path / "other.npz")
