"""Command-line commands of ouie.learn (registered by ouie.cli): `ouie models train-head`,
`ouie eval detect`."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ouie.core.commands import setup_logging, shared_group
from ouie.sensor.commands import MODELS_HELP
from ouie.sensor.config import Backend

if TYPE_CHECKING:
    from rich.progress import Progress

    from ouie.learn.dataset import LabelledClip
    from ouie.learn.training import CrossValidation, OperatingPoint


class Recipe(StrEnum):
    """How `ouie models train-head` trains the head (`ouie.learn.head_training`)."""

    LIGHT = "light"
    ENSEMBLE = "ensemble"


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


def _yamnet_path(model: Path | None) -> Path:
    from ouie.sensor.backends import NO_MODEL_HINT
    from ouie.sensor.model_files import find_yamnet

    path = find_yamnet(model)
    if path is None:
        typer.echo(NO_MODEL_HINT, err=True)
        raise typer.Exit(2)
    return path


def models_train_head(
    data: Annotated[Path, typer.Option(help="Folder-per-class labelled set (with labels.csv).")],
    model: Annotated[Path | None, typer.Option(help="YAMNet .tflite file.")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the head.")] = Path(
        "ouie/sensor/head.npz"
    ),
    cross_validation: Annotated[
        bool, typer.Option("--cv/--no-cv", help="Grouped cross-validation first.")
    ] = True,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Feature cache; default: the ouie cache dir.")
    ] = None,
    propagation: Annotated[
        bool,
        typer.Option(
            "--propagation/--no-propagation",
            help="Also train on the propagated variants (prop, prop2): the ensemble recipe since "
            "ouie-head/3 (with the impulse evidence, docs/sensor.md). Off: the base variants "
            "only; the propagated held-out figure is always reported.",
        ),
    ] = True,
    verifier: Annotated[
        bool,
        typer.Option(
            "--verifier/--no-verifier",
            help="Also train the verifier on onset-aligned windows (written as verifier.npz "
            "beside the head; the ensemble recipe since ouie-verifier/1).",
        ),
    ] = True,
    recipe: Annotated[
        Recipe,
        typer.Option(
            help="light (shipped since ouie-head/5; now ouie-head/6): one softmax layer on clips "
            "as recorded, judged and thresholded by leaving each source out (no verifier; "
            "--cv/--propagation/--verifier do not apply); ensemble (ouie-head/4): five "
            "perceptrons on augmented and far renderings + verifier."
        ),
    ] = Recipe.LIGHT,
) -> None:
    """Train ouie's head (and its verifier) on YAMNet features, judge it on held-out clips only,
    write it, the training-file list and the report (thresholds and how they were chosen)."""
    from ouie.learn.head_training import NoClipsError, train_and_export, train_light_and_export
    from ouie.sensor.model_files import cache_dir as default_cache_dir

    yamnet_path = _yamnet_path(model)
    with _progress() as progress:

        def start(title: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(title, total=total)

            def advance(n: int = 1) -> None:
                progress.advance(task, n)

            return advance

        features_dir = cache_dir or default_cache_dir() / "features"
        try:
            if recipe == Recipe.LIGHT:
                run = train_light_and_export(data, yamnet_path, out, features_dir, start)
            else:
                run = train_and_export(
                    data,
                    yamnet_path,
                    out,
                    features_dir,
                    start,
                    cross_validation=cross_validation,
                    propagation=propagation,
                    verifier=verifier,
                )
        except NoClipsError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from None
    if run.cv is not None:
        _print_cross_validation(run.cv)
    for note in run.notes:
        typer.echo(note)
    if recipe == Recipe.LIGHT:
        _print_light(run.report)
    typer.echo(f"written: {', '.join(str(path) for path in run.written)}")


def _print_light(report: dict[str, Any]) -> None:
    """Each source held out and grouped CV, pooled, and the thresholds chosen."""
    for name, part in (("each source held out", "loso"), ("grouped 5-fold CV", "grouped_cv")):
        pooled = report[part]["pooled"]
        typer.echo(
            f"{name}, pooled: macro F1 {pooled['macro_f1']:.3f}, false alarms "
            f"{pooled['false_alarms']}/{pooled['everyday_clips']} "
            f"({pooled['false_alarm_rate']:.2%})"
        )
    thresholds = report["operating_point"]["thresholds"]
    typer.echo("thresholds: " + ", ".join(f"{c} {t:.2f}" for c, t in thresholds.items()))


def _point_name(point: OperatingPoint) -> str:
    threshold, verifier_threshold = point
    if verifier_threshold is None:
        return f"window head at {threshold}"
    return f"window head at {threshold}, verifier at {verifier_threshold}"


def _print_cross_validation(cv: CrossValidation) -> None:
    """The CV's figures per operating point, then the tables at the point picked."""
    from ouie.learn.evaluation import render

    for point, per_variant in cv.by_point.items():
        typer.echo(
            f"{_point_name(point)}: "
            + ", ".join(
                f"{v} macro F1 {r.macro_f1:.3f} FA {r.false_alarm_rate:.2%}"
                for v, r in per_variant.items()
            )
        )
    typer.echo(f"operating point picked on the out-of-fold results: {_point_name(cv.point)}")
    render(
        cv.results["clean"],
        f"grouped {cv.folds}-fold CV, held-out clips ({cv.n_groups} recordings)",
    )
    render(cv.results["street"], "same held-out clips mixed into street noise (SNR 0–20 dB)")
    render(
        cv.results["prop_eval"],
        "same held-out clips heard 40–200 m away (air, ground, reverb, barriers; SNR 10–30 dB)",
    )
    typer.echo(
        "point picked per fold on the other folds only (nested): "
        f"{[_point_name(p) for p in cv.nested_points]}; "
        + ", ".join(
            f"{v} macro F1 {r.macro_f1:.3f} FA {r.false_alarm_rate:.2%}"
            for v, r in cv.nested.items()
        )
    )


def eval_detect(
    data_dir: Annotated[Path, typer.Argument(help="Folder-per-class labelled set.")],
    model: Annotated[Path | None, typer.Option(help="YAMNet .tflite file.")] = None,
    backend: Annotated[Backend, typer.Option(help="Detector backend.")] = Backend.AUTO,
    no_head: Annotated[bool, typer.Option("--no-head", help="Plain YAMNet labels.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write figures here.")] = None,
) -> None:
    """Run the detector on every clip of a labelled set: per-class precision, recall, F1,
    confusion (gunshot vs explosion, door slams) and false alarms. A clip's prediction is its
    best-scoring event. Figures on the head's own training data are NOT held-out figures:
    `ouie models train-head` gives those (grouped cross-validation)."""
    import json

    from ouie.audio.io import AudioReadError, read_audio
    from ouie.learn.dataset import NONE_LABEL, load_labelled_set
    from ouie.learn.evaluation import evaluate, render
    from ouie.sensor.config import DetectorConfig
    from ouie.sensor.pipeline import SensorPipeline

    setup_logging()
    clips = load_labelled_set(data_dir)
    config = DetectorConfig(backend=backend, model_path=model, use_head=not no_head)
    pipeline = SensorPipeline(config)
    typer.echo(f"detector: {pipeline.scorer.description}", err=True)
    truth, predicted, folders = [], [], []
    with _progress() as progress:
        task = progress.add_task("detecting", total=len(clips))
        for clip in clips:
            progress.advance(task)
            try:
                events = pipeline.events(read_audio(clip.path))
            except AudioReadError as error:
                progress.console.print(f"[red]error:[/red] {error}")
                continue
            best = max(events, key=lambda e: e.score, default=None)
            truth.append(clip.label)
            predicted.append(best.event_class.value if best else NONE_LABEL)
            folders.append(clip.folder)
    result = evaluate(truth, predicted, folders)
    render(result, f"{pipeline.scorer.model_id.name} on {data_dir} ({len(truth)} clips)")
    if not no_head:
        typer.echo(_in_sample_note(clips, data_dir, config.head_path))
    if json_out:
        json_out.write_text(json.dumps(result.as_dict(), indent=1) + "\n")


def _in_sample_note(clips: list[LabelledClip], data_dir: Path, head_path: Path | None) -> str:
    """How many of the clips the head learnt from (its `head_training.csv`, by path within the
    set): their figures are in-sample, not held-out."""
    import csv

    from ouie.sensor.head import DEFAULT_HEAD_PATH

    path = head_path or DEFAULT_HEAD_PATH
    manifest = path.with_name(path.stem + "_training.csv")
    if not manifest.is_file():
        return f"no training list beside {path}: whether these clips are in-sample is unknown"
    with manifest.open(encoding="utf-8") as handle:
        trained = {row["file"] for row in csv.DictReader(handle)}
    seen = sum(str(c.path.relative_to(data_dir)) in trained for c in clips)
    return (
        f"IN-SAMPLE: {seen} of these {len(clips)} clips trained the head ({manifest.name}); "
        "held-out figures: `ouie models train-head` (grouped CV) and "
        "bench/detection_cross_source.py (each source held out)"
    )


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    shared_group(app, "models", MODELS_HELP).command("train-head")(models_train_head)
    shared_group(app, "eval", "Measure quality on labelled data.").command("detect")(eval_detect)
