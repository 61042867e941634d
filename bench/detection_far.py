"""Heard across a street: how does a head fare on clips rendered 40–200 m away?

A spread of `labels.csv` clips (every `--every`-th of each alerting class and siren, every
`--every-everyday`-th everyday and fireworks clip, and the street backgrounds the rendering mixes
in) is rendered once as a sensor 40–200 m away hears it (`ouie.learn.features.propagated_variant
("prop_eval")`: 1/r, ISO 9613-1 air absorption, ground reflection or a building's barrier, the
street's reverberation tail, then street noise at SNR 10–30 dB and gain −25…0 dB) and measured as
the sensor measures it (YAMNet embedding ‖ scores ‖ impulse evidence per 0.975 s window every
0.48 s, and each window's aligned window for a verifier), cached under ~/.cache/ouie/features.

Each clip is decided as the sensor decides it (`EventStream` replayed: speech gate, competition,
hysteresis, sustained classes, the verifier's second look when one is given); the strongest event
decides the clip. Figures as `bench/detection_cross_source.py` gives them
(`ouie.learn.loso.figures`: macro F1 over the alerting classes and siren, false alarms on
everyday clips, fireworks called a bang).

Heads judged:
- `--head H [--verifier V]` (default: the shipped head, with a verifier only where its profile
  has one: none for the `recording` head)
  at its own thresholds (`DetectorConfig`'s operating point for the shipped head). The clips'
  sources were trained on, as recorded (and, for `ouie-head/4`, as propagated by the training
  renderings `prop`/`prop2`, 20–300 m): this rendering is new, the recordings are not;
- `--loso`: the light recipe (`ouie.learn.loso.LIGHT_HEAD`) fitted per held-out source on the
  other sources' clips as recorded (`loso_splits`), scoring the far renderings of the held-out
  source's clips at the shipped operating point: sources and rendering both unseen.

Usage: `python bench/detection_far.py [AUDIO_DIR] [--model M] [--head H]
[--verifier V | --no-verifier] [--loso] [--json out.json]`. Run it with
`OPENBLAS_NUM_THREADS=1` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
from labelled_set import SHARED
from rich.console import Console
from rich.progress import Progress

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.learn.dataset import STREET_BACKGROUND_FOLDERS, TRAINED_CLASSES, load_labelled_set
from ouie.learn.features import _cached_extract, cache_key, grid_aligned_measure, head_input_measure
from ouie.learn.loso import (
    CONTEXT_CLASSES,
    LIGHT_HEAD,
    NONE_LABEL,
    detector_config,
    figures,
    fit_on,
    loso_splits,
    replayed_predictions,
    threshold_vector,
)
from ouie.learn.recorded import recorded_features
from ouie.sensor.backends import load_head, load_verifier
from ouie.sensor.config import Backend, DetectorConfig
from ouie.sensor.head import Head
from ouie.sensor.model_files import cache_dir
from ouie.sensor.yamnet import YamnetModel, head_window_scores

FAR_VERSION = "1"
"""Bump when the spread of clips or the rendering changes (invalidates the far cache)."""


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("audio_dir", type=Path, nargs="?", default=SHARED / "audio")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yamnet.tflite")
    parser.add_argument("--head", type=Path, help="Head .npz; default: the shipped one.")
    parser.add_argument(
        "--verifier", type=Path, help="Verifier .npz; default: the profile's (recording: none)."
    )
    parser.add_argument("--no-verifier", action="store_true", help="Judge the head alone.")
    parser.add_argument("--loso", action="store_true", help="Also the light recipe per source.")
    parser.add_argument("--every", type=int, default=3, help="Every n-th event clip.")
    parser.add_argument("--every-everyday", type=int, default=8, help="Every n-th other clip.")
    parser.add_argument("--json", type=Path, help="Also write the JSON report here.")
    return parser.parse_args()


def far_spread(clips: list, every: int, every_everyday: int) -> list[int]:
    """Indices of the clips rendered: every `every`-th clip of each alerting class and siren,
    every `every_everyday`-th of every other folder, and all street backgrounds."""
    chosen, seen = [], {}
    for i, clip in enumerate(clips):
        k = seen[clip.folder] = seen.get(clip.folder, -1) + 1
        step = every if clip.folder in TRAINED_CLASSES else every_everyday
        if clip.folder in STREET_BACKGROUND_FOLDERS or k % step == 0:
            chosen.append(i)
    return chosen


def judged_ids(clips: list, subset: list[int]) -> list[int]:
    """The rendered clips that are judged: events, everyday sounds, fireworks."""
    from ouie.learn.loso import is_everyday

    return [
        i
        for i in subset
        if clips[i].label != NONE_LABEL
        or is_everyday(clips[i])
        or clips[i].folder in CONTEXT_CLASSES
    ]


def main() -> None:
    args = arguments()
    clips = load_labelled_set(args.audio_dir)
    subset = far_spread(clips, args.every, args.every_everyday)
    sub_clips = [clips[i] for i in subset]
    model = YamnetModel(args.model)
    hop = round(detector_config().hop_s * SAMPLE_RATE_HZ)
    console = Console(width=150)
    started = time.perf_counter()
    features = cache_dir() / "features"
    key = cache_key(sub_clips, model, hop)
    with Progress(console=console) as progress:
        task = progress.add_task("far renderings (40–200 m)", total=len(sub_clips))
        windows, aligned = _cached_extract(
            sub_clips,
            {
                features / f"far-{FAR_VERSION}-{key}.npz": head_input_measure(model),
                features / f"far-aligned-{FAR_VERSION}-{key}.npz": grid_aligned_measure(model, hop),
            },
            hop,
            ("prop_eval",),
            partial(progress.advance, task),
        )
    clip_of_row = np.array(subset)[windows.clip]  # rows → indices into `clips`
    ids = judged_ids(clips, sorted(set(clip_of_row.tolist())))
    config = DetectorConfig(
        backend=Backend.YAMNET,
        head_path=args.head,
        verifier_path=args.verifier,
        verify=False if args.no_verifier else (True if args.verifier else None),
    )
    head = load_head(config)
    verifier = load_verifier(config)
    assert head is not None
    thresholds = {**head.thresholds, **config.thresholds}
    scores = head_window_scores(head, windows.features)
    verdicts = (
        None if verifier is None else head_window_scores(verifier, aligned.features).class_scores
    )
    verified = None if verifier is None else dict(verifier.thresholds)
    name = head.name + (f" + {verifier.name}" if verifier else "")
    decided = replayed_predictions(
        scores, clip_of_row, np.array(ids), threshold_vector(thresholds), verdicts, verified
    )
    found = figures(clips, np.array(ids), decided)
    report: dict[str, object] = {
        "method": "every clip of the spread rendered once at 40–200 m (prop_eval), decided as "
        "the sensor decides it (EventStream replayed); the strongest event decides the clip",
        "rendered_clips": len(sub_clips),
        "judged_clips": len(ids),
        "cores": os.cpu_count(),
        "heads": {
            name: {"thresholds": {str(c): t for c, t in thresholds.items()}, **found.as_dict()}
        },
    }
    console.print(
        f"{name}, 40–200 m: macro F1 {found.result.macro_f1:.3f}, false alarms "
        f"{found.false_alarms}/{found.everyday} ({100 * found.false_alarm_rate:.1f} %), recall "
        + ", ".join(f"{c} {f.recall:.2f}" for c, f in found.result.per_class.items() if f.support)
        + f"; fireworks called a bang {found.fireworks_as_bang}/{found.fireworks}"
    )
    if args.loso:
        recorded = recorded_features(clips, model, hop, features).windows
        predicted: dict[int, str] = {}
        for split in loso_splits(clips):
            held = [i for i in ids if i in set(split.test.tolist())]
            if not held:
                continue
            fold_head: Head = fit_on(recorded, clips, split.train, LIGHT_HEAD)
            rows = np.isin(clip_of_row, held)
            fold_scores = head_window_scores(fold_head, windows.features[rows])
            decided = replayed_predictions(
                fold_scores, clip_of_row[rows], np.array(held), threshold_vector(thresholds)
            )
            predicted.update(zip(held, decided, strict=True))
        held_ids = sorted(predicted)
        loso = figures(clips, np.array(held_ids), [predicted[i] for i in held_ids])
        report["heads"]["light recipe, each source held out"] = loso.as_dict()  # type: ignore[index]
        console.print(
            f"light recipe, each source held out, 40–200 m: macro F1 "
            f"{loso.result.macro_f1:.3f}, false alarms {loso.false_alarms}/{loso.everyday} "
            f"({100 * loso.false_alarm_rate:.1f} %)"
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
