"""Command-line commands of ouie.sensor (registered by ouie.cli): `ouie detect`,
`ouie sensor`, `ouie models pull`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ouie.core.commands import setup_logging, shared_group
from ouie.sensor.config import Backend

MODELS_HELP = "Model files: fetch YAMNet, show and train ouie's head."

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".aiff", ".aif"}


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
    from ouie.sensor.model_files import ModelUnavailableError
    from ouie.sensor.pipeline import SensorPipeline

    setup_logging()
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
    from ouie.sensor.model_files import ModelUnavailableError, pull_yamnet

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
    head: Annotated[Path | None, typer.Option(help="Head .npz (default: the shipped one).")] = None,
) -> None:
    """Which head the sensor runs, its per-class thresholds (window head and verifier), how
    they were chosen, and the data and licences it learnt from."""
    import csv
    import json
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from ouie.sensor.backends import load_head
    from ouie.sensor.config import DetectorConfig
    from ouie.sensor.head import DEFAULT_HEAD_PATH, Head
    from ouie.sensor.model_files import ModelUnavailableError

    head_path = head or DEFAULT_HEAD_PATH
    try:
        runs = load_head(DetectorConfig(head_path=head))  # the shipped head: its operating point
    except ModelUnavailableError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    assert runs is not None  # use_head is true
    heads = [runs]
    if (verifier_path := head_path.with_name("verifier.npz")).is_file():
        heads.append(Head.load(verifier_path))
    console = Console()
    table = Table("class", *(f"{h.name}\n{h.sha256[:12]}…" for h in heads), title="thresholds")
    for event_class in dict.fromkeys(c for h in heads for c in h.thresholds):
        table.add_row(
            str(event_class),
            *(
                f"{h.thresholds[event_class]:.2f}" if event_class in h.thresholds else "—"
                for h in heads
            ),
        )
    console.print(table)
    if runs.embedding_transform != "identity" or runs.prior:
        priors = ", ".join(f"{c} {a:g}" for c, a in runs.prior.items()) or "none"
        console.print(
            f"{runs.name} reads {runs.embedding_transform} of YAMNet's embedding; YAMNet's own "
            f"score as a prior (s = p^(1-a) g^a): {priors}"
        )
    if head is None:
        console.print(
            "the shipped head's thresholds: its operating point, "
            "ouie.sensor.config.SHIPPED_OPERATING_POINT"
        )
    report_path = head_path.with_name(head_path.stem + "_report.json")
    if report_path.is_file():
        report = json.loads(report_path.read_text(encoding="utf-8"))
        point = report.get("operating_point", {})
        figures = report.get("cv_clean", {})
        if "chosen_on" in point:  # the light recipe: thresholds per class, from LOSO
            loso = report.get("loso", {}).get("pooled", {})
            cv = report.get("grouped_cv", {}).get("pooled", {})
            console.print(
                f"thresholds chosen on {point['chosen_on']}; each source held out, pooled: "
                f"macro F1 {loso.get('macro_f1')} at {loso.get('false_alarm_rate')} false "
                f"alarms; grouped CV: macro F1 {cv.get('macro_f1')} at "
                f"{cv.get('false_alarm_rate')} ({report_path.name})"
            )
        else:
            console.print(
                f"chosen by `ouie models train-head` on held-out predictions (grouped CV of "
                f"{report.get('clips')} clips): window head {point.get('threshold')}, verifier "
                f"{point.get('verifier_threshold')}; macro F1 {figures.get('macro_f1')} at "
                f"{figures.get('false_alarm_rate')} false alarms ({report_path.name})"
            )
    manifest_path = head_path.with_name(head_path.stem + "_training.csv")
    if manifest_path.is_file():
        with manifest_path.open(encoding="utf-8") as handle:
            licences = Counter(row["license_note"].split(":")[0] for row in csv.DictReader(handle))
        console.print(f"learnt from {sum(licences.values())} clips ({manifest_path.name}):")
        for licence, count in licences.most_common():
            console.print(f"  {count:5d}  {licence}")
    console.print(
        "A deployment overrides a threshold in its sensor YAML: detector.thresholds "
        "(with the verifier, the verifier's threshold for the classes it decides)."
    )


def sensor(
    config: Annotated[Path, typer.Option(help="Sensor YAML (SensorConfig).")],
) -> None:
    """Run a sensor node: continuous detection on a file, microphone or network stream,
    sending `ouie.report/2` reports over MQTT (`uplink`, with store-and-forward) or as JSON
    lines (to `output`, or standard output)."""
    from ouie.core.config import ConfigError, load_yaml_config
    from ouie.sensor.config import SensorConfig
    from ouie.sensor.model_files import ModelUnavailableError
    from ouie.sensor.node import open_sink, run_sensor
    from ouie.sensor.pipeline import SensorPipeline

    setup_logging()
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


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.command("detect")(detect)
    app.command("sensor")(sensor)
    models = shared_group(app, "models", MODELS_HELP)
    models.command("pull")(models_pull)
    models.command("show")(models_show)
