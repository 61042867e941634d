"""`ouie models train-head` as one library call: extract the features of a labelled set, judge
the recipe by grouped cross-validation, fit the shipped head (and verifier) on every clip, and
write the artefacts beside each other: `head.npz`, `verifier.npz`, `head_training.csv` (which
clips, sources and licences it learnt from) and `head_report.json` (the CV figures)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.learn.dataset import LabelledClip, load_labelled_set
from ouie.learn.features import (
    BASE_VARIANTS,
    concatenate,
    extract_aligned,
    extract_features,
    extract_grid_aligned,
    extract_propagated,
)
from ouie.learn.loso import (
    CV_FALSE_ALARM_LIMIT,
    LIGHT_HEAD,
    LIGHT_RECIPE,
    LOSO_FALSE_ALARM_LIMIT,
    MIN_SOURCE_CLIPS,
    Judgement,
    fit_on,
    judge,
    loso_splits,
)
from ouie.learn.recorded import recorded_features
from ouie.learn.training import (
    DEFAULT_THRESHOLD,
    N_FOLDS,
    TRAIN_VARIANTS,
    CrossValidation,
    OperatingPoint,
    cross_validate,
    export_head,
    fit_head,
    fit_members,
    recipe,
    shipped_heads,
    write_manifest,
)
from ouie.sensor.config import DetectorConfig
from ouie.sensor.head import Head
from ouie.sensor.scoring import EVENT_CLASSES
from ouie.sensor.yamnet import YamnetModel

Progress = Callable[[str, int], Callable[[int], None]]
"""`progress(title, total)` starts a task and returns its `advance(n)`."""


@dataclass
class TrainingRun:
    """What `train_and_export` did: the CV (when run), the report written, the files written."""

    report: dict[str, Any]
    written: list[Path]
    cv: CrossValidation | None = None
    point: OperatingPoint = (DEFAULT_THRESHOLD, None)
    notes: list[str] = field(default_factory=list)


class NoClipsError(ValueError):
    """The labelled set holds no audio file."""


def train_and_export(
    data: Path,
    yamnet_path: Path,
    out: Path,
    features_dir: Path,
    progress: Progress,
    cross_validation: bool = True,
    propagation: bool = True,
    verifier: bool = True,
) -> TrainingRun:
    """Train ouie's head (and its verifier) on the labelled set `data`, judge them by grouped
    CV (operating point picked there), and write the artefacts at `out` and beside it."""
    clips = load_labelled_set(data)
    if not clips:
        raise NoClipsError(f"{data}: no audio files")
    yamnet = YamnetModel(yamnet_path)
    hop = round(DetectorConfig().hop_s * SAMPLE_RATE_HZ)
    steps = [("YAMNet features (+ augmentation)", extract_features)]
    steps += [("propagated variants", extract_propagated)]
    steps += [("onset-aligned windows", extract_aligned)] if verifier else []
    steps += [("each window's aligned window", extract_grid_aligned)] if verifier else []
    tables = [
        extract(clips, yamnet, hop, features_dir, progress(title, len(clips)))
        for title, extract in steps
    ]
    table = concatenate(tables[:2])
    aligned, replayed = (tables[2], tables[3]) if verifier else (None, None)
    variants = TRAIN_VARIANTS if propagation else BASE_VARIANTS
    report: dict[str, Any] = {
        "clips": len(clips),
        "windows": len(table.clip),
        "aligned_windows": 0 if aligned is None else len(aligned.clip),
        "trained_variants": list(variants),
        "recipe": recipe(),
    }
    run = TrainingRun(report, [])
    run.point = (DEFAULT_THRESHOLD, None if aligned is None else DEFAULT_THRESHOLD)
    if cross_validation:
        run.cv = cross_validate(
            table,
            clips,
            aligned,
            progress=progress("grouped cross-validation", 5),
            variants=variants,
            replayed=replayed,
        )
        run.point = run.cv.point
        report.update(cross_validation_report(run.cv))
    mean, scale, members = fit_members(table, clips, np.arange(len(clips)), variants)
    report["member_best_epochs"] = [m.best_epoch for m in members]
    trained_verifier = (
        None if aligned is None else fit_head(aligned, clips, np.arange(len(clips)), variants)
    )
    head, shipped_verifier = shipped_heads(
        export_head(mean, scale, members), trained_verifier, run.point
    )
    head.save(out)
    run.written.append(out)
    report["thresholds"] = {head.name: threshold_table(head)}
    if shipped_verifier is not None:
        shipped_verifier.save(out.with_name("verifier.npz"))
        run.written.append(out.with_name("verifier.npz"))
        report["thresholds"][shipped_verifier.name] = threshold_table(shipped_verifier)
    write_manifest(clips, out.with_name(out.stem + "_training.csv"), data)
    out.with_name(out.stem + "_report.json").write_text(json.dumps(report, indent=1) + "\n")
    run.written += [
        out.with_name(out.stem + "_training.csv"),
        out.with_name(out.stem + "_report.json"),
    ]
    return run


def train_light_and_export(
    data: Path,
    yamnet_path: Path,
    out: Path,
    features_dir: Path,
    progress: Progress,
) -> TrainingRun:
    """The light recipe (`loso.LIGHT_HEAD`: one softmax layer over YAMNet's embedding, clips as
    recorded, fireworks a trained context class, no verifier): judged by leaving each source out
    and by grouped CV, its thresholds chosen on every source's held-out clips
    (`loso.judge`), then fitted on every clip and written with its report at `out`. A verifier
    left beside `out` by the ensemble recipe is removed (the sensor would pair it with this
    head)."""
    clips = load_labelled_set(data)
    if not clips:
        raise NoClipsError(f"{data}: no audio files")
    hop = round(DetectorConfig().hop_s * SAMPLE_RATE_HZ)
    recorded = recorded_features(
        clips,
        YamnetModel(yamnet_path),
        hop,
        features_dir,
        progress("YAMNet, as recorded", len(clips)),
    )
    table = recorded.windows
    n_splits = len(list(loso_splits(clips))) + N_FOLDS
    judgement = judge(table, clips, LIGHT_HEAD, progress("each source held out, then CV", n_splits))
    thresholds = dict(zip(EVENT_CLASSES, judgement.thresholds.tolist(), strict=True))
    head = fit_on(table, clips, np.arange(len(clips)), LIGHT_HEAD).retuned(thresholds)
    head.save(out)
    written = [out]
    verifier = out.with_name("verifier.npz")
    notes = []
    if verifier.is_file():
        verifier.unlink()
        notes.append(f"removed {verifier}: the light recipe has no verifier")
    report = light_report(clips, judgement, head)
    write_manifest(clips, out.with_name(out.stem + "_training.csv"), data)
    out.with_name(out.stem + "_report.json").write_text(json.dumps(report, indent=1) + "\n")
    written += [out.with_name(out.stem + "_training.csv"), out.with_name(out.stem + "_report.json")]
    return TrainingRun(report, written, notes=notes)


def light_report(clips: list[LabelledClip], judgement: Judgement, head: Head) -> dict[str, Any]:
    """The light head's report: its thresholds and how they were chosen, each source held out
    (per source and pooled), grouped CV, the data and licences it learnt from."""
    licences = Counter(c.license_note.split(":")[0] for c in clips)
    return {
        "clips": len(clips),
        "recipe": {"head": head.name, **LIGHT_RECIPE},
        "operating_point": {
            "thresholds": threshold_table(head),
            "chosen_on": "held-out predictions only: every source of at least "
            f"{MIN_SOURCE_CLIPS} clips held out in turn (recording groups never split), each "
            "clip decided as the sensor decides it; per-class thresholds by coordinate ascent "
            f"on macro F1 with at most {LOSO_FALSE_ALARM_LIMIT:.0%} false alarms on everyday "
            "clips (ouie.learn.loso.judge)",
            "false_alarm_limit": LOSO_FALSE_ALARM_LIMIT,
        },
        "loso": {
            "pooled": judgement.loso.pooled.as_dict(),
            "by_source": {s: f.as_dict() for s, f in judgement.loso.by_split.items()},
            "note": "per source at thresholds chosen on the other sources' held-out clips",
        },
        "grouped_cv": {
            "pooled": judgement.grouped_cv.pooled.as_dict(),
            "false_alarm_limit": CV_FALSE_ALARM_LIMIT,
        },
        "licences": dict(licences.most_common()),
        "sources": data_sources(clips),
        "licence_caveat": LICENCE_CAVEAT,
        "thresholds": {head.name: threshold_table(head)},
    }


LICENCE_CAVEAT = (
    "The head's weights derive from every clip listed in head_training.csv. Much of it is "
    "licensed for non-commercial use only (UrbanSound8K: CC BY-NC 3.0) and several sources state "
    "no licence ('evaluation only' in ../shared/audio/README.md): until those sources are "
    "cleared or left out, the shipped head is for non-commercial evaluation."
)


def data_sources(clips: list[LabelledClip]) -> dict[str, dict[str, object]]:
    """Per source (`labels.csv` source_repo): its clip count and its licence as seen."""
    counts = Counter(c.source for c in clips)
    notes = {c.source: c.license_note for c in clips}
    return {s: {"clips": n, "licence": notes[s]} for s, n in counts.most_common()}


def threshold_table(head: Head) -> dict[str, float]:
    """A head's per-class thresholds as plain text keys (the report's `thresholds` section)."""
    return {str(event_class): threshold for event_class, threshold in head.thresholds.items()}


def cross_validation_report(cv: CrossValidation) -> dict[str, object]:
    """The CV's part of the head's report."""
    return {
        "cv_clean": cv.results["clean"].as_dict(),
        "cv_street": cv.results["street"].as_dict(),
        "cv_propagated": cv.results["prop_eval"].as_dict(),
        "recording_groups": cv.n_groups,
        "operating_point": {"threshold": cv.point[0], "verifier_threshold": cv.point[1]},
        "operating_points": [
            {
                "threshold": point[0],
                "verifier_threshold": point[1],
                **{
                    v: {"macro_f1": round(r.macro_f1, 4), "fa_rate": round(r.false_alarm_rate, 4)}
                    for v, r in per_variant.items()
                },
            }
            for point, per_variant in cv.by_point.items()
        ],
        "nested": {
            "points": [list(p) for p in cv.nested_points],
            **{v: r.as_dict() for v, r in cv.nested.items()},
        },
    }
