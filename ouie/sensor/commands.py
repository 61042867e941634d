"""Command-line commands of ouie.sensor (registered by ouie.cli): `ouie detect`,
`ouie sensor`, `ouie eval detect`, `ouie models pull|train-head`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.command("detect")(detect)
    models = typer.Typer(help="Model files: fetch YAMNet, train ouie's head.", no_args_is_help=True)
    models.command("pull")(models_pull)
    app.add_typer(models, name="models")
