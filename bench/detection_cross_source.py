"""How does the shipped recipe fare on a dataset it never heard? Leave one source dataset out.

`ouie models train-head` judges by grouped cross-validation: whole recordings are held out, but
every held-out clip still comes from a dataset (microphones, levels, kinds of everyday sound)
that the head trained on. The recordings ouie is finally judged on come from elsewhere. Here
each source dataset of `labels.csv` (`source_repo`, at least `MIN_SOURCE_CLIPS` clips) is held out
in turn: the window head and the verifier are trained by the shipped recipe on all the other
sources (`ouie.learn.training.cross_source`) and the held-out source's clips, as recorded, are
decided at the shipped operating point by the pipeline's own engine. A class that no other source
has cannot be found (its recall there measures the missing data); false alarms on a source's
everyday sounds always mean something.

Prints a table per source and JSON (per-source and pooled figures, the method, the core count).
The feature caches of `ouie models train-head` are used (computed first if missing: long).

Usage: `python bench/detection_cross_source.py [AUDIO_DIR] [--model yamnet.tflite]`.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from functools import partial

from labelled_set import labelled_set_args
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ouie.core.classes import EventClass
from ouie.learn.dataset import TRAINED_CLASSES, LabelledClip, load_labelled_set
from ouie.learn.evaluation import ALERTING, EvalResult
from ouie.learn.features import (
    concatenate,
    extract_aligned,
    extract_features,
    extract_grid_aligned,
    extract_propagated,
)
from ouie.learn.training import MIN_SOURCE_CLIPS, CrossSource, cross_source, held_out_sources
from ouie.sensor.head import DEFAULT_HEAD_PATH, DEFAULT_VERIFIER_PATH, Head
from ouie.sensor.model_files import cache_dir
from ouie.sensor.yamnet import YamnetModel


def false_alarm_folders(result: CrossSource, clips: list[LabelledClip]) -> dict[str, int]:
    """How many of each folder's non-alerting clips raised an alerting class."""
    raised = Counter(
        clips[i].folder
        for i, predicted in result.predicted.items()
        if clips[i].label not in ALERTING and predicted in ALERTING
    )
    return dict(raised.most_common())


def figures(result: EvalResult, trained_on: dict[str, int] | None) -> dict[str, object]:
    """False alarms, and recall (with support) of each class present, as JSON."""
    per_class = {
        c: {
            "support": f.support,
            "recall": round(f.recall, 3),
            "precision": round(f.precision, 3),
            **({"trained_on_clips": trained_on[c]} if trained_on is not None else {}),
        }
        for c, f in result.per_class.items()
        if f.support
    }
    return {
        "false_alarms": result.false_alarms,
        "non_alerting_clips": result.non_alerting,
        "false_alarm_rate": round(result.false_alarm_rate, 4),
        "per_class": per_class,
    }


def table_of(result: CrossSource) -> Table:
    """One row per held-out source and one for them all: false alarms, recall per class."""
    table = Table(title="Each source held out (clips as recorded, shipped operating point)")
    for column in ("held-out source (owner)", "false alarms", *TRAINED_CLASSES):
        table.add_column(
            column, justify="right" if column in TRAINED_CLASSES else "left", no_wrap=True
        )
    rows = [*result.by_source.items(), ("all, pooled", result.pooled)]
    for source, figures_of in rows:
        trained_on = result.trained_on.get(source)
        cells = []
        for c in TRAINED_CLASSES:
            f = figures_of.per_class[c]
            elsewhere = "" if trained_on is None else f" ({trained_on[c]})"
            cells.append(f"{f.recall:.2f} of {f.support}{elsewhere}" if f.support else "")
        rate = 100 * figures_of.false_alarm_rate
        alarms = f"{figures_of.false_alarms}/{figures_of.non_alerting} ({rate:.1f} %)"
        table.add_row(source.split("/")[0], alarms, *cells)  # the repository's owner
    table.caption = (
        "class cells: recall of the source's clips of the class (in brackets: clips of the class "
        "the other sources gave the head; 0: only this source has it)"
    )
    return table


def main() -> None:
    args = labelled_set_args(__doc__ or "")
    clips = load_labelled_set(args.audio_dir)
    yamnet = YamnetModel(args.model)
    hop = round(0.48 * 16_000)
    features_dir = cache_dir() / "features"
    head, verifier = Head.load(DEFAULT_HEAD_PATH), Head.load(DEFAULT_VERIFIER_PATH)
    point = (head.thresholds[EventClass.SCREAM], verifier.thresholds[EventClass.GUNSHOT])
    started = time.perf_counter()
    with Progress() as progress:
        tables = []
        for extract in (
            extract_features,
            extract_propagated,
            extract_aligned,
            extract_grid_aligned,
        ):
            task = progress.add_task(extract.__name__, total=len(clips))
            tables.append(
                extract(clips, yamnet, hop, features_dir, partial(progress.advance, task))
            )
        task = progress.add_task("each source held out", total=len(held_out_sources(clips)))
        result = cross_source(
            concatenate(tables[:2]),
            clips,
            point,
            tables[2],
            tables[3],
            progress=partial(progress.advance, task),
        )
    Console(width=160).print(table_of(result))
    report = {
        "method": "leave one source dataset out (labels.csv source_repo, sources of at least "
        f"{MIN_SOURCE_CLIPS} clips); shipped recipe trained on the other sources; held-out clips "
        "as recorded decided by the pipeline's engine at the shipped operating point",
        "operating_point": {"threshold": point[0], "verifier_threshold": point[1]},
        "clips": len(clips),
        "by_source": {s: figures(r, result.trained_on[s]) for s, r in result.by_source.items()},
        "pooled": figures(result.pooled, None),
        "false_alarms_by_folder": false_alarm_folders(result, clips),
        "seconds": round(time.perf_counter() - started, 1),
        "cores": os.cpu_count(),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
