"""How do candidate heads fare on sources they never heard? Leave one source out, then grouped CV.

Every clip of `labels.csv` is measured once as recorded (`ouie.learn.recorded`: YAMNet embedding
‖ 521 scores ‖ impulse evidence per 0.975 s window, hop 0.48 s, cached under ~/.cache/ouie).
Each source of at least 50 clips is held out in turn (`ouie.learn.loso.loso_splits`; recording
groups of `ouie.learn.groups` keep one recording on one side even across repositories); a head
trained on the rest scores the held-out windows, and each clip is decided as the sensor decides
it (speech gate, competition, hysteresis, sustained classes: `ouie.learn.loso.ClipEvidence`).
Thresholds per class are chosen on the other folds' held-out clips (nested), never on the clips
they are reported on. Clips of a class the training side lacks (explosion: one source) are left
out of that fold's figures. Second figure: grouped-by-recording, label-stratified 5-fold CV.

Heads:
- `shipped`: the head the sensor runs (`ouie/sensor/head.npz` at `DetectorConfig`'s operating
  point), trained on every clip here: its figures are **in-sample** (the LOSO figures of its
  recipe are `light`'s); with a shipped verifier, also `shipped+verifier` (replayed through
  `EventStream` itself). `ouie-head/4` + `ouie-verifier/1` (trained on the sources of before
  December 2026) can be judged so with `--head`/`--verifier`;
- `ensemble`: the `ouie-head/4` recipe's five perceptrons (`training.fit_head`) retrained per
  held-out source on the same clips as recorded (no augmentation, no verifier; LOSO only);
- multinomial logistic regressions on 128 principal components, fireworks a trained context
  class: `light` (the shipped recipe, `loso.LIGHT_HEAD`: log(1 + YAMNet's embedding), class
  weights ∝ n_k^−0.75, YAMNet's grouped score as a prior for gunshot),
  `light-head5` (the same without the log and the prior: `ouie-head/5`), `light-log1p` (the
  log, no prior), `light-prior-bangs` (a prior for explosions too), `linear` (embedding
  ‖ scores, natural weights: the light recipe until ouie-head/5), `linear-balanced`,
  `linear-half-balanced` (weights ∝ n_k^−1, n_k^−0.5),
  `linear-impulse` (‖ impulse evidence), `embedding-balanced` (embedding, ∝ n_k^−1);
- `mlp`: one hidden layer of 64 ReLU units on embedding ‖ scores.

Run it with `OPENBLAS_NUM_THREADS=1` on a shared machine (two BLAS threads under load made one
logistic regression take over 10 min).

Prints a table per head and JSON (per source and pooled, the method, the core count).
Usage: `python bench/detection_cross_source.py [AUDIO_DIR] [--model yamnet.tflite]
[--heads light,linear] [--head H.npz --verifier V.npz] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from labelled_set import SHARED
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ouie.core.classes import EventClass
from ouie.learn.dataset import TRAINED_CLASSES, LabelledClip, load_labelled_set
from ouie.learn.groups import SOURCE_GROUP_KEYS
from ouie.learn.loso import (
    CV_FALSE_ALARM_LIMIT,
    LIGHT_BALANCE,
    LIGHT_C,
    LIGHT_EMBEDDING_TRANSFORM,
    LIGHT_HEAD,
    LIGHT_INPUTS,
    LIGHT_PRIOR,
    LOSO_FALSE_ALARM_LIMIT,
    ClipEvidence,
    Figures,
    HeadFitter,
    Judged,
    Nested,
    detector_config,
    figures,
    grouped_splits,
    held_out_evidence,
    judge,
    judged_clips,
    linear_fitter,
    loso_splits,
    mlp_fitter,
    nested_figures,
    replayed_predictions,
    threshold_vector,
)
from ouie.learn.recorded import recorded_features
from ouie.learn.training import fit_head
from ouie.sensor.backends import load_head, load_verifier
from ouie.sensor.config import Backend, DetectorConfig
from ouie.sensor.head import Head
from ouie.sensor.model_files import cache_dir
from ouie.sensor.scoring import EVENT_CLASSES
from ouie.sensor.yamnet import YamnetModel, head_window_scores

CLASS_NAMES = [c.value for c in EVENT_CLASSES]
YAMNET_PARTS = ("embedding", "scores")


def light_variant(name: str, **changes: Any) -> HeadFitter:
    """The light recipe's regression (C, balance, input) with `changes` to `linear_fitter`'s
    other arguments (no log, no prior by default: `ouie-head/5`)."""
    return linear_fitter(
        c=LIGHT_C, balance=LIGHT_BALANCE, inputs=LIGHT_INPUTS, name=name, **changes
    )


FITTERS = {
    "light": LIGHT_HEAD,
    "light-head5": light_variant("ouie-head/5"),
    "light-log1p": light_variant("log1p", embedding_transform=LIGHT_EMBEDDING_TRANSFORM),
    "light-prior-bangs": light_variant(
        "prior-bangs",
        embedding_transform=LIGHT_EMBEDDING_TRANSFORM,
        prior={**LIGHT_PRIOR, EventClass.EXPLOSION: LIGHT_PRIOR[EventClass.GUNSHOT]},
    ),
    "linear": linear_fitter(c=0.01, balance=0.0, inputs=YAMNET_PARTS, name="ouie-head/5"),
    "linear-balanced": linear_fitter(c=0.01, balance=1.0, inputs=YAMNET_PARTS, name="ouie-head/5"),
    "linear-half-balanced": linear_fitter(
        c=0.01, balance=0.5, inputs=YAMNET_PARTS, name="ouie-head/5"
    ),
    "linear-impulse": linear_fitter(
        c=0.01, balance=0.0, inputs=(*YAMNET_PARTS, "impulse"), name="ouie-head/5"
    ),
    "embedding-balanced": linear_fitter(
        c=0.01, balance=1.0, inputs=("embedding",), name="ouie-head/5"
    ),
    "mlp": mlp_fitter(hidden=64, alpha=1.0, inputs=YAMNET_PARTS, name="ouie-head/5-mlp"),
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("audio_dir", type=Path, nargs="?", default=SHARED / "audio")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yamnet.tflite")
    parser.add_argument(
        "--heads",
        default="shipped,light,linear",
        help="comma-separated: shipped, ensemble (LOSO only) and any of " + ", ".join(FITTERS),
    )
    parser.add_argument("--head", type=Path, help="`shipped`: this head file at its thresholds.")
    parser.add_argument("--verifier", type=Path, help="`shipped`: with this verifier file.")
    parser.add_argument("--json", type=Path, help="Also write the JSON report here.")
    return parser.parse_args()


def shipped_verified(clips, table, aligned, splits, head: Head, verifier: Head, progress):
    """Every held-out clip decided by `head` at its thresholds with `verifier`'s second look,
    through `EventStream` (`loso.replayed_predictions`)."""
    predicted: dict[int, str] = {}
    for split in splits:
        rows = np.isin(table.clip, split.test)
        scores = head_window_scores(head, table.features[rows])
        verdicts = head_window_scores(verifier, aligned.features[rows]).class_scores
        present = np.unique(table.clip[rows])
        decided = replayed_predictions(
            scores,
            table.clip[rows],
            present,
            threshold_vector(head.thresholds),
            verdicts,
            verifier.thresholds,
        )
        predicted.update(zip(present.tolist(), decided, strict=True))
        progress(1)
    return predicted


def ensemble_judged(clips, table, splits, progress) -> Judged:
    """The ensemble recipe (`training.fit_head`: five perceptrons, PCA 256) retrained on each
    split's training clips as recorded (no augmentation, no verifier), so that it is compared
    with the light heads on the same data."""
    parts = []
    for split in splits:
        head = fit_head(table, clips, split.train, variants=("clean",))
        parts.append(held_out_evidence(table, clips, [split], None, head))
        progress(1)
    evidence = ClipEvidence(sum(p.evidence.m for p in parts), sum(p.evidence.e for p in parts))
    split_of = np.full(len(clips), -1)
    for k, split in enumerate(splits):
        split_of[split.test] = k
    unseen = {name: lacking for p in parts for name, lacking in p.unseen.items()}
    return Judged(evidence, split_of, splits, unseen)


def by_split_of(clips, judged: Judged, predicted: dict[int, str]) -> Nested:
    """`Nested` of fixed predictions (the shipped head: nothing chosen), each split's clips less
    those of a class its training side lacks (as `nested_figures` leaves them out)."""
    by_split, kept = {}, {}
    for k, split in enumerate(judged.splits):
        ids = judged_clips(clips, judged, k)
        by_split[split.name] = figures(clips, ids, [predicted[i] for i in ids.tolist()])
        kept.update({i: predicted[i] for i in ids.tolist()})
    ids = np.array(sorted(kept))
    pooled = figures(clips, ids, [kept[i] for i in ids.tolist()])
    return Nested(by_split, pooled, {}, kept)


def table_of(title: str, nested: Nested, unseen: dict[str, set[str]] | None) -> Table:
    """One row per held-out split and one pooled: false alarms on everyday clips, macro F1,
    recall per class, fireworks called gunshot/explosion."""
    table = Table(title=title)
    for column in ("held out", "false alarms", "macro F1", *TRAINED_CLASSES, "fireworks→bang"):
        table.add_column(column, justify="left" if column == "held out" else "right")
    for name, f in [*nested.by_split.items(), ("all, pooled", nested.pooled)]:
        cells = []
        for c in TRAINED_CLASSES:
            figures_of = f.result.per_class[c]
            cells.append(
                f"{figures_of.recall:.2f} of {figures_of.support}" if figures_of.support else ""
            )
        lacking = (
            f" (no {', '.join(sorted(unseen[name]))} elsewhere)"
            if unseen and unseen.get(name)
            else ""
        )
        table.add_row(
            name.split("/")[0] + lacking,
            f"{f.false_alarms}/{f.everyday} ({100 * f.false_alarm_rate:.1f} %)",
            f"{f.result.macro_f1:.3f}"
            if any(c.support for c in f.result.per_class.values())
            else "—",
            *cells,
            f"{f.fireworks_as_bang}/{f.fireworks}" if f.fireworks else "",
        )
    return table


def summary(f: Figures) -> dict[str, object]:
    return f.as_dict()


def main() -> None:
    args = arguments()
    heads = args.heads.split(",")
    clips = load_labelled_set(args.audio_dir)
    hop = round(detector_config().hop_s * 16_000)
    started = time.perf_counter()
    console = Console(width=170)
    report: dict[str, object] = {
        "method": "leave one source out (labels.csv source_repo, sources of ≥ 50 clips; "
        "recording groups never split across sides), clips as recorded, each decided as the "
        "sensor decides (speech gate, competition, hysteresis, sustained classes); per-class "
        "thresholds chosen on the other folds' held-out clips (nested) with false alarms on "
        f"everyday clips ≤ {LOSO_FALSE_ALARM_LIMIT}; clips of a class the training side lacks "
        "left out of that fold. Second: grouped 5-fold CV (StratifiedGroupKFold by folder), "
        f"thresholds nested at ≤ {CV_FALSE_ALARM_LIMIT}.",
        "clips": len(clips),
        "cores": os.cpu_count(),
        "heads": {},
    }
    with Progress(console=console) as progress:
        task = progress.add_task("features as recorded", total=len(clips))
        recorded = recorded_features(
            clips,
            YamnetModel(args.model),
            hop,
            cache_dir() / "features",
            partial(progress.advance, task),
        )
        table, aligned = recorded.windows, recorded.aligned
        loso = list(loso_splits(clips))
        cv = list(grouped_splits(clips))
        for name in heads:
            task = progress.add_task(name, total=len(loso) + len(cv))
            advance = partial(progress.advance, task)
            if name == "shipped":
                config = DetectorConfig(
                    backend=Backend.YAMNET, head_path=args.head, verifier_path=args.verifier
                )
                shipped, verifier = load_head(config), load_verifier(config)
                assert shipped is not None
                fixed = threshold_vector(shipped.thresholds)
                judged = held_out_evidence(table, clips, loso, None, shipped, advance)
                outcome = {
                    "loso": nested_figures(clips, judged, LOSO_FALSE_ALARM_LIMIT, fixed),
                    "grouped_cv": None,
                    "thresholds": dict(zip(CLASS_NAMES, fixed.tolist(), strict=True)),
                }
                report_of_head(
                    console, report, clips, f"shipped ({shipped.name})", outcome, judged.unseen
                )
                if verifier is None:
                    continue
                verified = shipped_verified(clips, table, aligned, loso, shipped, verifier, advance)
                outcome_v = {
                    "loso": by_split_of(clips, judged, verified),
                    "grouped_cv": None,
                    "thresholds": "shipped",
                }
                report_of_head(
                    console,
                    report,
                    clips,
                    f"shipped+verifier ({shipped.name} + {verifier.name})",
                    outcome_v,
                    judged.unseen,
                )
                continue
            if name == "ensemble":
                judged = ensemble_judged(clips, table, loso, advance)
                outcome = {
                    "loso": nested_figures(clips, judged, LOSO_FALSE_ALARM_LIMIT),
                    "grouped_cv": None,
                    "thresholds": "nested only",
                }
                report_of_head(console, report, clips, name, outcome, judged.unseen)
                continue
            judgement = judge(table, clips, FITTERS[name], advance)
            outcome = {
                "loso": judgement.loso,
                "grouped_cv": judgement.grouped_cv,
                "thresholds": dict(
                    zip(
                        [c.value for c in EVENT_CLASSES], judgement.thresholds.tolist(), strict=True
                    )
                ),
            }
            judged = judgement.judged
            report_of_head(console, report, clips, name, outcome, judged.unseen)
            np.savez(
                cache_dir() / f"loso-evidence-{name}.npz",
                m=judged.evidence.m,
                e=judged.evidence.e,
                split_of=judged.split_of,
            )
    report["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


def new_sources_pooled(clips: list[LabelledClip], nested: Nested) -> Figures:
    """The held-out clips of the sources added in December 2026 (`groups.SOURCE_GROUP_KEYS`):
    unseen by every head here, the shipped one included (it is in-sample on the others)."""
    ids = np.array([i for i in sorted(nested.predicted) if clips[i].source in SOURCE_GROUP_KEYS])
    return figures(clips, ids, [nested.predicted[i] for i in ids.tolist()])


def report_of_head(console, report, clips, name, outcome, unseen) -> None:
    """Print the head's tables and add its figures to the JSON report."""
    loso: Nested = outcome["loso"]
    new = new_sources_pooled(clips, loso)
    console.print(table_of(f"{name}: each source held out", loso, unseen))
    console.print(
        f"{name}, December 2026 sources pooled: macro F1 {new.result.macro_f1:.3f}, false alarms "
        f"{new.false_alarms}/{new.everyday} ({100 * new.false_alarm_rate:.1f} %), fireworks called "
        f"a bang {new.fireworks_as_bang}/{new.fireworks}"
    )
    entry: dict[str, object] = {
        "loso": {
            "pooled": summary(loso.pooled),
            "pooled_december_2026_sources": summary(new),
            "by_source": {s: summary(f) for s, f in loso.by_split.items()},
        },
        "thresholds_shipped_or_pooled": outcome["thresholds"],
        "loso_thresholds_by_source": {s: t.round(2).tolist() for s, t in loso.thresholds.items()},
    }
    if outcome["grouped_cv"] is not None:
        cv: Nested = outcome["grouped_cv"]
        console.print(table_of(f"{name}: grouped 5-fold CV", cv, None))
        entry["grouped_cv"] = {"pooled": summary(cv.pooled)}
    report["heads"][name] = entry  # type: ignore[index]


if __name__ == "__main__":
    main()
