"""Onset error distribution: real gunshot / explosion / glass_break clips from ../shared/audio
inserted into real street noise (traffic recordings) at known offsets, SNR 10 and 20 dB, each
clip REPEATS times (another offset and traffic recording each time). With `--far`, each
insertion is the clip as a sensor 40–200 m away hears it (`ouie.learn.features.propagated`:
1/r, air absorption, ground reflection, street reverberation T60 0.3–1.2 s; no building), the
truth staying the close-up clip's onset. Prints JSON (see ouie/learn/onset_trials.py for the
method).

Usage: `python bench/detection_onset.py [AUDIO_DIR] [--repeats 3] [--far]`."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from ouie.audio.io import read_audio
from ouie.core.classes import EventClass
from ouie.learn.features import propagated
from ouie.learn.onset_trials import has_clear_leading_edge, onset_trial

SHARED_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "audio"
CLASSES = (EventClass.GUNSHOT, EventClass.EXPLOSION, EventClass.GLASS_BREAK)
FAR_M = (40.0, 200.0)


def heard_far(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`clip` as a sensor 40–200 m away across a street hears it (no building in the way)."""
    return propagated(clip, rng, distance_m=FAR_M, barrier_probability=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio_dir", type=Path, nargs="?", default=SHARED_AUDIO)
    parser.add_argument("--repeats", type=int, default=3, help="insertions per clip and SNR")
    parser.add_argument("--far", action="store_true", help="insert the clip heard 40–200 m away")
    args = parser.parse_args()
    audio_dir = args.audio_dir
    started = time.perf_counter()
    noises = [read_audio(p) for p in sorted((audio_dir / "traffic").glob("*"))]
    rng = np.random.default_rng(0)
    figures: dict[str, object] = {}
    for event_class in CLASSES:
        clips = [read_audio(p) for p in sorted((audio_dir / event_class.value).glob("*"))]
        clear = [c for c in clips if has_clear_leading_edge(c, event_class)]
        for snr_db in (10.0, 20.0):
            errors = np.array(
                [
                    onset_trial(
                        c,
                        noises[rng.integers(len(noises))],
                        event_class,
                        snr_db,
                        rng,
                        heard=heard_far(c, rng) if args.far else None,
                    ).error_ms
                    for c in clear
                    for _ in range(args.repeats)
                ]
            )
            absolute = np.abs(errors)
            figures[f"{event_class.value}@{snr_db:g}dB"] = {
                "clips": len(clips),
                "clear_leading_edge": len(clear),
                "trials": len(errors),
                "median_abs_ms": round(float(np.median(absolute)), 3),
                "p90_abs_ms": round(float(np.percentile(absolute, 90)), 3),
                "p99_abs_ms": round(float(np.percentile(absolute, 99)), 3),
                "mean_signed_ms": round(float(errors.mean()), 3),
                "within_1ms": round(float((absolute <= 1).mean()), 3),
                "within_3ms": round(float((absolute <= 3).mean()), 3),
            }
    print(
        json.dumps(
            {
                "bench": "detection_onset",
                "method": "clips inserted into traffic noise at random offsets; truth = offset + "
                "clean-clip onset; span = the 0.975 s / 0.48 s windows containing it; "
                f"{args.repeats} insertions per clip and SNR"
                + (
                    "; each heard 40–200 m away (propagated), truth from the close-up clip"
                    if args.far
                    else ""
                ),
                "cpu_count": os.cpu_count(),
                "seconds": round(time.perf_counter() - started, 1),
                "results": figures,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
