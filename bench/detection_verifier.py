"""The two-stage rule of `bench/detection_aligned.py` on top of the full recipe: grouped 5-fold
cross-validation on ../shared/audio with the shipped head's recipe for both stages.

Per fold, on the training clips: the window head (`training.fit_head`, every training variant,
as shipped) and a **verifier** trained by the same recipe on one aligned window per rendering
(`features.extract_aligned`). On the held-out clips, rendered as recorded (`clean`), mixed into
street noise (`street`) and from 40–200 m (`prop_eval`):
- `shipped`: the clip's best event as the pipeline decides it (`training.clip_predictions`) at
  the trained-class threshold t;
- `two_stage`: gunshot, explosion and glass_break are candidates when a window's head score
  reaches t_low and are confirmed when the verifier gives them ≥ t_high on the rendering's aligned
  window (speech gate not applied to candidates); scream and siren as the pipeline decides them
  at 0.8.
Prints JSON: macro F1, false-alarm rate and per-class precision/recall per rule and rendering,
with the core count. Uses the feature caches of `ouie models train-head` (computed if missing).

Usage: `python bench/detection_verifier.py [AUDIO_DIR] [--model yamnet.tflite]`."""

from __future__ import annotations

import json
import os
import time

import numpy as np
from labelled_set import labelled_set_args
from rich.console import Console
from rich.progress import track

from ouie.sensor.dataset import NONE_LABEL, load_labelled_set
from ouie.sensor.evaluation import EvalResult, evaluate
from ouie.sensor.features import (
    VARIANTS,
    concatenate,
    extract_aligned,
    extract_features,
    extract_propagated,
)
from ouie.sensor.models import cache_dir
from ouie.sensor.training import (
    EVAL_VARIANTS,
    HEAD_LABELS,
    N_FOLDS,
    clip_predictions,
    fit_head,
    with_threshold,
)
from ouie.sensor.yamnet import YamnetModel

HOP = 7_680
IMPULSIVE = ("gunshot", "explosion", "glass_break")
SHIPPED_THRESHOLDS = (0.8, 0.85, 0.9)
TWO_STAGE = ((0.3, 0.7), (0.5, 0.7), (0.5, 0.8), (0.7, 0.8))
SUSTAINED_THRESHOLD = 0.8
PROGRESS = Console(stderr=True)
"""Progress goes to stderr: stdout is the JSON."""


def figures(result: EvalResult) -> dict[str, object]:
    return {
        "macro_f1": round(result.macro_f1, 3),
        "false_alarm_rate": round(result.false_alarm_rate, 4),
        "precision_recall": {
            c: [round(f.precision, 2), round(f.recall, 2)] for c, f in result.per_class.items()
        },
    }


def two_stage(
    sustained: str, best_window: np.ndarray, verifier: np.ndarray, t_low: float, t_high: float
) -> str:
    """A clip's label: the impulsive class the verifier is surest of among those whose best
    window score reaches t_low and whose verifier probability reaches t_high, else the
    pipeline's scream or siren, else none. `best_window`: the clip's max window score per
    label; `verifier`: p(label) of its aligned window (both in HEAD_LABELS order)."""
    label, score = (sustained if sustained in ("scream", "siren") else NONE_LABEL), 0.0
    for name in IMPULSIVE:
        k = HEAD_LABELS.index(name)
        if best_window[k] >= t_low and verifier[k] >= t_high and verifier[k] > score:
            label, score = name, float(verifier[k])
    return label


def main() -> None:
    args = labelled_set_args(__doc__ or "")
    from sklearn.model_selection import StratifiedGroupKFold

    start = time.perf_counter()
    clips = load_labelled_set(args.audio_dir)
    yamnet = YamnetModel(args.model)
    features_dir = cache_dir() / "features"
    with PROGRESS.status("feature caches (computed when missing: tens of minutes)"):
        windows = concatenate(
            [
                extract_features(clips, yamnet, HOP, features_dir),
                extract_propagated(clips, yamnet, HOP, features_dir),
            ]
        )
        aligned = extract_aligned(clips, yamnet, HOP, features_dir)
    shipped = {t: {v: dict[int, str]() for v in EVAL_VARIANTS} for t in SHIPPED_THRESHOLDS}
    staged = {r: {v: dict[int, str]() for v in EVAL_VARIANTS} for r in TWO_STAGE}
    labels = [c.label for c in clips]
    splitter = StratifiedGroupKFold(n_splits=N_FOLDS, shuffle=True, random_state=0)
    folds = list(splitter.split(np.zeros(len(clips)), labels, [c.group for c in clips]))
    for train, test in track(folds, description="grouped 5-fold CV", console=PROGRESS):
        head, verifier = fit_head(windows, clips, train), fit_head(aligned, clips, train)
        for variant in EVAL_VARIANTS:
            code = VARIANTS.index(variant)
            held = windows.subset(np.isin(windows.clip, test) & (windows.variant == code))
            present = np.unique(held.clip)
            for t in SHIPPED_THRESHOLDS:
                decided = clip_predictions(with_threshold(head, t), held, present)
                shipped[t][variant].update(zip(present.tolist(), decided, strict=True))
            sustained = shipped[SUSTAINED_THRESHOLD][variant]
            scores = head.probabilities(held.features)
            held_aligned = np.isin(aligned.clip, test) & (aligned.variant == code)
            verified = dict(
                zip(
                    aligned.clip[held_aligned].tolist(),
                    verifier.probabilities(aligned.features[held_aligned]),
                    strict=True,
                )
            )
            for clip_id in present.tolist():
                best = scores[held.clip == clip_id].max(axis=0)
                for t_low, t_high in TWO_STAGE:
                    staged[t_low, t_high][variant][clip_id] = two_stage(
                        sustained[clip_id], best, verified[clip_id], t_low, t_high
                    )

    def judge(by_clip: dict[int, str]) -> dict[str, object]:
        ids = sorted(by_clip)
        return figures(
            evaluate(
                [labels[i] for i in ids], [by_clip[i] for i in ids], [clips[i].folder for i in ids]
            )
        )

    print(
        json.dumps(
            {
                "clips": len(clips),
                "window_rows": len(windows.clip),
                "aligned_rows": len(aligned.clip),
                "shipped": {
                    str(t): {v: judge(p) for v, p in per.items()} for t, per in shipped.items()
                },
                "two_stage": {
                    f"{lo}/{hi}": {v: judge(p) for v, p in per.items()}
                    for (lo, hi), per in staged.items()
                },
                "cpu_count": os.cpu_count(),
                "wall_s": round(time.perf_counter() - start, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
