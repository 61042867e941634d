"""Command-line commands of ouie.sensor (registered by ouie.cli): `ouie detect`,
`ouie sensor`, `ouie eval detect`, `ouie models pull|train-head`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.progress import Progress

    from ouie.sensor.training import CrossValidation, OperatingPoint

from ouie.sensor.config import Backend

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".aiff", ".aif"}


def _setup_logging() -> None:
    import logging

    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_time=False, show_path=False)],
    )


def expand_audio_paths(paths: list[Path]) -> list[Path]:
    """Files as given, folders searched recursively for audio files (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        else:
            found.append(path)
    return found


def detect(
    paths: Annotated[list[Path] | None, typer.Argument(help="Audio files or folders.")] = None,
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
    model: Annotated[Path | None, typer.Option(help="YAMNet .tflite file.")] = None,
    backend: Annotated[Backend, typer.Option(help="Detector backend.")] = Backend.AUTO,
    config: Annotated[
        Path | None, typer.Option(help="YAML with a DetectorConfig (detector: section fields).")
    ] = None,
    example: Annotated[
        bool, typer.Option("--example", help="Detect on a synthesised street scene.")
    ] = False,
) -> None:
    """Detect events in audio files: a table, or JSON lines with --json. Exit code 1 when any
    file could not be read (the others are still processed)."""
    import json
    import tempfile

    from rich.console import Console
    from rich.table import Table

    from ouie.audio.io import AudioReadError, read_audio
    from ouie.core.config import ConfigError, load_yaml_config
    from ouie.sensor.config import DetectorConfig
    from ouie.sensor.models import ModelUnavailableError
    from ouie.sensor.pipeline import SensorPipeline

    _setup_logging()
    err = Console(stderr=True)
    try:
        detector = load_yaml_config(config, DetectorConfig) if config else DetectorConfig()
    except ConfigError as error:
        err.print(f"[red]config error[/red]\n{error}")
        raise typer.Exit(2) from None
    updates: dict[str, object] = {}
    if model is not None:
        updates["model_path"] = model
    if backend != Backend.AUTO:
        updates["backend"] = backend
    detector = detector.model_copy(update=updates)
    try:
        pipeline = SensorPipeline(detector)
    except ModelUnavailableError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    err.print(f"detector: {pipeline.scorer.description} ({pipeline.scorer.model_id.name})")

    files = expand_audio_paths(list(paths or []))
    tmp = tempfile.TemporaryDirectory()
    if example:
        from ouie.sensor.example import EXAMPLE_IMPULSE_S, EXAMPLE_SIREN_S, write_example

        files.insert(0, write_example(Path(tmp.name) / "ouie-example.wav"))
        err.print(
            f"example: street noise, impulsive burst at {EXAMPLE_IMPULSE_S} s, "
            f"siren {EXAMPLE_SIREN_S[0]}–{EXAMPLE_SIREN_S[1]} s"
        )
    if not files:
        err.print("nothing to do: give audio files or folders, or --example")
        raise typer.Exit(2)

    out = Console()
    table = Table("file", "class", "score", "start_s", "end_s", "onset_s", "peak_dbfs")
    failed = 0
    for path in files:
        try:
            events = pipeline.events(read_audio(path))
        except AudioReadError as error:
            failed += 1
            err.print(f"[red]error:[/red] {error}")
            continue
        for event in events:
            row = {"file": str(path), **event.as_dict()}
            if json_lines:
                print(json.dumps(row))
            else:
                table.add_row(*(str(v) for v in row.values()))
    tmp.cleanup()
    if not json_lines:
        out.print(table)
    if failed:
        err.print(f"[red]{failed} of {len(files)} files could not be read[/red]")
        raise typer.Exit(1)


def models_pull(
    name: Annotated[str, typer.Argument(help="Model to fetch: yamnet.")],
    from_file: Annotated[
        Path | None, typer.Option(help="Install a local copy instead (SHA-256 checked).")
    ] = None,
) -> None:
    """Download a model from its publisher into the cache, checking its SHA-256."""
    from ouie.sensor.models import ModelUnavailableError, pull_yamnet

    if name != "yamnet":
        typer.echo(f"unknown model {name!r}: only 'yamnet'", err=True)
        raise typer.Exit(2)
    try:
        path = pull_yamnet(from_file)
    except ModelUnavailableError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"yamnet installed at {path} (SHA-256 verified)")


def models_show(
    head_path: Annotated[
        Path | None, typer.Option("--head", help="Head .npz file; unset: the shipped head.")
    ] = None,
) -> None:
    """Print the head (and verifier) the sensor loads: name, layers, labels, per-class
    thresholds, and the provenance its thresholds file records (data, licences, how chosen)."""
    import yaml

    from ouie.sensor.head import (
        DEFAULT_HEAD_PATH,
        DEFAULT_VERIFIER_PATH,
        Head,
        read_thresholds_file,
        thresholds_path,
    )

    for role, path in (
        ("head", head_path or DEFAULT_HEAD_PATH),
        ("verifier", DEFAULT_VERIFIER_PATH),
    ):
        if not path.is_file():
            continue
        head = Head.load(path)
        shapes = " → ".join(str(w.shape[0]) for w, _ in head.layers)
        typer.echo(f"{role}: {head.name}  ({path}, sha256 {head.sha256[:16]}…)")
        typer.echo(f"  layers: {shapes} → {head.layers[-1][0].shape[1]} ({', '.join(head.labels)})")
        thresholds = ", ".join(f"{c.value} {t:.2f}" for c, t in head.thresholds.items())
        typer.echo(f"  thresholds: {thresholds}")
        text = read_thresholds_file(path)
        if text is not None:
            typer.echo(f"  from {thresholds_path(path).name}:")
            rest = {k: v for k, v in text.items() if k != "thresholds"}
            typer.echo(
                "    " + yaml.safe_dump(rest, sort_keys=False, width=96).replace("\n", "\n    ")
            )


def sensor(
    config: Annotated[Path, typer.Option(help="Sensor YAML (SensorConfig).")],
) -> None:
    """Run a sensor node: continuous detection on a file, microphone or network stream,
    sending `ouie.report/1` reports over MQTT (`uplink`, with store-and-forward) or as JSON
    lines (to `output`, or standard output)."""
    from ouie.core.config import ConfigError, load_yaml_config
    from ouie.sensor.config import SensorConfig
    from ouie.sensor.models import ModelUnavailableError
    from ouie.sensor.node import open_sink, run_sensor
    from ouie.sensor.pipeline import SensorPipeline

    _setup_logging()
    try:
        settings = load_yaml_config(config, SensorConfig)
        pipeline = SensorPipeline(settings.detector)
    except (ConfigError, ModelUnavailableError) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"sensor {settings.sensor_id}: {pipeline.scorer.description}", err=True)
    try:
        with open_sink(settings) as sink:
            sent = run_sensor(settings, sink, pipeline=pipeline)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    typer.echo(f"sensor {settings.sensor_id}: source ended, {sent} reports", err=True)


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
    from ouie.sensor.models import find_yamnet

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
            help="Also train on the propagated variants (prop, prop2): the shipped recipe since "
            "ouie-head/3 (with the impulse evidence, docs/sensor.md). Off: the base variants "
            "only; the propagated held-out figure is always reported.",
        ),
    ] = True,
    verifier: Annotated[
        bool,
        typer.Option(
            "--verifier/--no-verifier",
            help="Also train the verifier on onset-aligned windows (written as verifier.npz "
            "beside the head; the shipped recipe since ouie-verifier/1).",
        ),
    ] = True,
) -> None:
    """Train ouie's head (and its verifier) on YAMNet features (with augmentation), judge them
    by grouped cross-validation, write them, the training-file list and the CV report."""
    import json
    from functools import partial

    import numpy as np

    from ouie.sensor.dataset import load_labelled_set
    from ouie.sensor.features import (
        BASE_VARIANTS,
        concatenate,
        extract_aligned,
        extract_features,
        extract_grid_aligned,
        extract_propagated,
    )
    from ouie.sensor.models import cache_dir as default_cache_dir
    from ouie.sensor.training import (
        DEFAULT_THRESHOLD,
        TRAIN_VARIANTS,
        cross_validate,
        export_head,
        fit_head,
        fit_members,
        recipe,
        shipped_heads,
        write_manifest,
    )
    from ouie.sensor.yamnet import YamnetModel

    clips = load_labelled_set(data)
    if not clips:
        typer.echo(f"{data}: no audio files", err=True)
        raise typer.Exit(2)
    yamnet = YamnetModel(_yamnet_path(model))
    hop = round(0.48 * 16_000)
    features_dir = cache_dir or default_cache_dir() / "features"
    with _progress() as progress:
        steps = [("YAMNet features (+ augmentation)", extract_features)]
        steps += [("propagated variants", extract_propagated)]
        steps += [("onset-aligned windows", extract_aligned)] if verifier else []
        steps += [("each window's aligned window", extract_grid_aligned)] if verifier else []
        tables = []
        for title, extract in steps:
            task = progress.add_task(title, total=len(clips))
            advance = partial(progress.advance, task)
            tables.append(extract(clips, yamnet, hop, features_dir, advance))
    table = concatenate(tables[:2])
    aligned, replayed = (tables[2], tables[3]) if verifier else (None, None)
    variants = TRAIN_VARIANTS if propagation else BASE_VARIANTS
    report: dict[str, object] = {
        "clips": len(clips),
        "windows": len(table.clip),
        "aligned_windows": 0 if aligned is None else len(aligned.clip),
        "trained_variants": list(variants),
        "recipe": recipe(),
    }
    point: OperatingPoint = (DEFAULT_THRESHOLD, None if aligned is None else DEFAULT_THRESHOLD)
    if cross_validation:
        with _progress() as progress:
            task = progress.add_task("grouped cross-validation", total=5)
            cv = cross_validate(
                table,
                clips,
                aligned,
                progress=lambda n: progress.advance(task, n),
                variants=variants,
                replayed=replayed,
            )
        point = cv.point
        _print_cross_validation(cv)
        report.update(_cross_validation_report(cv))
    mean, scale, members = fit_members(table, clips, np.arange(len(clips)), variants)
    report["member_best_epochs"] = [m.best_epoch for m in members]
    trained_verifier = (
        None if aligned is None else fit_head(aligned, clips, np.arange(len(clips)), variants)
    )
    head, shipped_verifier = shipped_heads(
        export_head(mean, scale, members), trained_verifier, point
    )
    head.save(out)
    written = [str(out)]
    if shipped_verifier is not None:
        shipped_verifier.save(out.with_name("verifier.npz"))
        written.append(str(out.with_name("verifier.npz")))
    write_manifest(clips, out.with_name(out.stem + "_training.csv"), data)
    out.with_name(out.stem + "_report.json").write_text(json.dumps(report, indent=1) + "\n")
    typer.echo(f"written: {', '.join(written)} (+ {out.stem}_training.csv, _report.json)")


def _point_name(point: OperatingPoint) -> str:
    threshold, verifier_threshold = point
    if verifier_threshold is None:
        return f"window head at {threshold}"
    return f"window head at {threshold}, verifier at {verifier_threshold}"


def _print_cross_validation(cv: CrossValidation) -> None:
    """The CV's figures per operating point, then the tables at the point picked."""
    from ouie.sensor.evaluation import render

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


def _cross_validation_report(cv: CrossValidation) -> dict[str, object]:
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
    from ouie.sensor.config import DetectorConfig
    from ouie.sensor.dataset import NONE_LABEL, load_labelled_set
    from ouie.sensor.evaluation import evaluate, render
    from ouie.sensor.pipeline import SensorPipeline

    _setup_logging()
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
    if json_out:
        json_out.write_text(json.dumps(result.as_dict(), indent=1) + "\n")


def shared_group(app: typer.Typer, name: str, help_text: str) -> typer.Typer:
    """The sub-command group `name` (e.g. `ouie eval`), created if no concern made it yet, so
    that several concerns can add commands to it."""
    for group in app.registered_groups:
        if group.name == name and group.typer_instance is not None:
            return group.typer_instance
    sub = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.command("detect")(detect)
    app.command("sensor")(sensor)
    models = typer.Typer(help="Model files: fetch YAMNet, train ouie's head.", no_args_is_help=True)
    models.command("pull")(models_pull)
    models.command("train-head")(models_train_head)
    models.command("show")(models_show)
    app.add_typer(models, name="models")
    shared_group(app, "eval", "Measure quality on labelled data.").command("detect")(eval_detect)
