"""Would a second look at an onset-aligned window help? A feasibility study for a two-stage
detector (not the shipped pipeline): grouped 5-fold cross-validation on ../shared/audio.

Every clip is heard as recorded (`clean`) and from 40–200 m across a street (`far`:
`ouie.learn.features.propagated_variant("prop_eval")`, street noise at SNR 10–30 dB). Two
YAMNet views of each rendering:
- the pipeline's grid: 0.975 s windows every 0.48 s (`analysis_windows`), event clips' windows
  within 10 dB of their loudest (`event_windows`) labelled;
- one **aligned** window (`ouie.sensor.impulse.aligned_window`) that starts 0.1 s before the
  clip's strongest leading edge, argmax_t (E[t] − min_{t−10 ≤ s < t} E[s]) over 10 ms frames of
  broadband energy E (dB), among frames within 20 dB of the loudest: the event's start and its
  tail, whatever the grid.
One head member per view (`ouie.learn.training.fit_member`: PCA-whitened MLP, early stopping
on held-out groups of the training fold; no augmentation, no ensemble, so the figures sit below
the shipped recipe's), trained on both renderings of the training fold's clips. Rules judged on
the held-out fold, per clip:
- `grid`: the class of the highest grid-window probability if it reaches t (today's rule,
  without hysteresis);
- `two_stage`: impulsive classes (gunshot, explosion, glass_break) are candidates when a grid
  window reaches t_low and are confirmed when the aligned window's head gives them ≥ t_high;
  scream and siren keep the grid rule at 0.8.
Prints JSON: macro F1 and false-alarm rate (alerting class on a non-alerting clip) per rule,
threshold and rendering, with the core count.

Usage: `python bench/detection_aligned.py [AUDIO_DIR] [--model yamnet.tflite]`."""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
from labelled_set import labelled_set_args
from rich.console import Console
from rich.progress import track

from ouie.audio.io import read_audio
from ouie.learn.dataset import NONE_LABEL, STREET_BACKGROUND_FOLDERS, load_labelled_set
from ouie.learn.evaluation import evaluate
from ouie.learn.features import analysis_windows, event_windows, propagated_variant
from ouie.learn.training import HEAD_LABELS, fit_member, split_groups
from ouie.sensor.impulse import aligned_window
from ouie.sensor.scoring import WINDOW_SAMPLES
from ouie.sensor.yamnet import YamnetModel

HOP = 7_680
IMPULSIVE = ("gunshot", "explosion", "glass_break")
GRID_THRESHOLDS = (0.6, 0.7, 0.8, 0.85, 0.9)
TWO_STAGE = ((0.3, 0.5), (0.3, 0.7), (0.5, 0.5), (0.5, 0.7), (0.5, 0.8))
SUSTAINED_THRESHOLD = 0.8
RENDERINGS = ("clean", "far")
PROGRESS = Console(stderr=True)
"""Progress goes to stderr: stdout is the JSON."""


def measure(clips: list, yamnet: YamnetModel) -> dict[str, np.ndarray]:
    """YAMNet features (embedding ‖ scores) of every rendering's grid windows and aligned window."""
    street_idx = [i for i, c in enumerate(clips) if c.folder in STREET_BACKGROUND_FOLDERS]
    street = [read_audio(clips[i].path) for i in street_idx]
    views: dict[str, list[np.ndarray]] = {
        k: [] for k in ("grid", "g_row", "g_lab", "aligned", "a_row")
    }
    for index, clip in track(
        list(enumerate(clips)), description="YAMNet, grid and aligned", console=PROGRESS
    ):
        samples = read_audio(clip.path)
        seed = int(hashlib.sha256(clip.path.name.encode()).hexdigest()[:8], 16)
        mixed, far, k = propagated_variant(
            "prop_eval", samples, np.random.default_rng([seed, 777]), street
        )
        for rendering, (heard, source) in enumerate(((samples, samples), (mixed, far))):
            if rendering == 1 and street_idx[k] == index:
                continue  # a background never mixes into itself
            for view, windows in (
                ("grid", analysis_windows(heard, HOP)),
                ("aligned", aligned_window(heard, WINDOW_SAMPLES)),
            ):
                scores, embeddings = yamnet.run(windows)
                views[view].append(np.concatenate([embeddings, scores], axis=1))
                views["g_row" if view == "grid" else "a_row"].append(
                    np.tile([index, rendering], (len(windows), 1))
                )
            views["g_lab"].append(event_windows(source, HOP, clip.label != NONE_LABEL))
    return {k: np.concatenate(v) for k, v in views.items()}


def fit_view(
    features: np.ndarray, rows: np.ndarray, labels: np.ndarray, clips: list, train: np.ndarray
):
    """One member trained on `train` clips' rows (validation groups drawn from them); returns
    p(label | rows) as a function."""
    fit_clips, validation_clips = split_groups(clips, train, seed=0)
    fit_rows, validation_rows = (
        np.isin(rows[:, 0], fit_clips),
        np.isin(rows[:, 0], validation_clips),
    )
    mean, scale = features[fit_rows].mean(axis=0), features[fit_rows].std(axis=0) + 1e-6
    member = fit_member(
        (features[fit_rows] - mean) / scale,
        labels[rows[fit_rows, 0]],
        (features[validation_rows] - mean) / scale,
        labels[rows[validation_rows, 0]],
        seed=0,
    )
    return lambda x: member.mlp.predict_proba(member.pca.transform((x - mean) / scale))


def decide(grid_p: np.ndarray, aligned_p: np.ndarray | None, t_low: float, t_high: float) -> str:
    """A clip's label from its grid windows' and aligned window's p(label) (rows × labels)."""
    best = grid_p[:, :-1].max(axis=0)
    label, score = NONE_LABEL, 0.0
    for k, name in enumerate(HEAD_LABELS[:-1]):
        if aligned_p is None or name not in IMPULSIVE:
            candidate = (
                best[k] if best[k] >= (t_low if aligned_p is None else SUSTAINED_THRESHOLD) else 0.0
            )
        else:
            candidate = aligned_p[0, k] if best[k] >= t_low and aligned_p[0, k] >= t_high else 0.0
        if candidate > score:
            label, score = name, candidate
    return label


def main() -> None:
    args = labelled_set_args(__doc__ or "")
    from sklearn.model_selection import StratifiedGroupKFold

    start = time.perf_counter()
    clips = load_labelled_set(args.audio_dir)
    views = measure(clips, YamnetModel(args.model))
    labels = np.array([HEAD_LABELS.index(c.label) for c in clips])
    grid_p = np.zeros((len(views["grid"]), len(HEAD_LABELS)))
    aligned_p = np.zeros((len(views["aligned"]), len(HEAD_LABELS)))
    splitter = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    folds = splitter.split(np.zeros(len(clips)), [c.label for c in clips], [c.group for c in clips])
    for train, test in track(list(folds), description="grouped 5-fold CV", console=PROGRESS):
        labelled = views["g_lab"]
        grid_model = fit_view(
            views["grid"][labelled], views["g_row"][labelled], labels, clips, train
        )
        aligned_model = fit_view(views["aligned"], views["a_row"], labels, clips, train)
        held = np.isin(views["g_row"][:, 0], test)
        grid_p[held] = grid_model(views["grid"][held])
        held = np.isin(views["a_row"][:, 0], test)
        aligned_p[held] = aligned_model(views["aligned"][held])

    def rows_by_clip(rows: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
        order = np.lexsort((rows[:, 1], rows[:, 0]))
        keys, first = np.unique(rows[order], axis=0, return_index=True)
        return {
            (int(c), int(r)): part
            for (c, r), part in zip(keys, np.split(order, first[1:]), strict=True)
        }

    grid_rows, aligned_rows = rows_by_clip(views["g_row"]), rows_by_clip(views["a_row"])

    def judge(rendering: int, t_low: float, t_high: float | None) -> dict[str, float]:
        truth, predicted, folders = [], [], []
        for index, clip in enumerate(clips):
            if (index, rendering) not in grid_rows:
                continue
            g = grid_p[grid_rows[index, rendering]]
            a = aligned_p[aligned_rows[index, rendering]]
            truth.append(clip.label)
            folders.append(clip.folder)
            predicted.append(decide(g, None if t_high is None else a, t_low, t_high or 0.0))
        result = evaluate(truth, predicted, folders)
        return {
            "macro_f1": round(result.macro_f1, 3),
            "false_alarm_rate": round(result.false_alarm_rate, 4),
            **{c: round(f.f1, 3) for c, f in result.per_class.items()},
        }

    figures = {
        rendering: {
            "grid": {str(t): judge(r, t, None) for t in GRID_THRESHOLDS},
            "two_stage": {f"{lo}/{hi}": judge(r, lo, hi) for lo, hi in TWO_STAGE},
        }
        for r, rendering in enumerate(RENDERINGS)
    }
    print(
        json.dumps(
            {
                "clips": len(clips),
                "grid_windows": len(views["grid"]),
                "figures": figures,
                "cpu_count": os.cpu_count(),
                "wall_s": round(time.perf_counter() - start, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
