"""Arguments of the detection benchmarks that study a labelled set (`detection_aligned.py`):
the folder-per-class set and the YAMNet model, ../shared by default."""

from __future__ import annotations

import argparse
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def labelled_set_args(doc: str) -> argparse.Namespace:
    """`audio_dir` (default ../shared/audio) and `--model` (default ../shared/models/yamnet.tflite),
    parsed from the command line; `doc`'s first line describes the script."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("audio_dir", type=Path, nargs="?", default=SHARED / "audio")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yamnet.tflite")
    return parser.parse_args()
