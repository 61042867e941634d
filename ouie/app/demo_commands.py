"""Command-line commands of the all-in-one demo (registered by ouie.cli): `ouie demo`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ouie.sensor.config import Backend


def register(app: typer.Typer) -> None:
    """Add the demo to the `ouie` app."""
    app.command("demo")(demo)


def demo(
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 1.0,
    duration: Annotated[
        float | None, typer.Option(help="Simulated span, s (default: the whole scenario).")
    ] = None,
    summary: Annotated[
        Path | None, typer.Option(help="Write a JSON summary here at the end.")
    ] = None,
    auto_cue: Annotated[
        bool,
        typer.Option(
            "--auto-cue",
            help="Cue mode auto (declared as a demonstration) instead of suggest.",
        ),
    ] = False,
    camera_audio: Annotated[
        bool,
        typer.Option(
            "--camera-audio",
            help="The virtual cameras' own audio detectors hear the events too (ONVIF events "
            "in: they may confirm incidents, never make one).",
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="Console port on 127.0.0.1 (0: any free).")] = 8000,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the console in a browser.")
    ] = True,
    stay: Annotated[
        bool,
        typer.Option("--stay/--no-stay", help="Keep the console open after the replay."),
    ] = True,
    scenario: Annotated[str, typer.Option(help="Built-in scenario or YAML path.")] = (
        "saint-etienne"
    ),
    model: Annotated[
        Path | None, typer.Option(help="YAMNet .tflite for the sensors (default: cached).")
    ] = None,
    detector: Annotated[
        Backend, typer.Option(help="The sensors' detector: yamnet, builtin, or auto.")
    ] = Backend.AUTO,
    audio_dir: Annotated[
        Path | None,
        typer.Option(
            help="Real recordings, one folder per class (e.g. ../shared/audio), for the "
            "simulated events; default: synthetic sources."
        ),
    ] = None,
) -> None:
    """A Saint-Étienne evening on a live map: simulated sensors, detection, location, virtual
    cameras and the operators' console, in one process on 127.0.0.1."""
    import tempfile
    import webbrowser
    from contextlib import ExitStack

    from pydantic import ValidationError
    from rich.console import Console
    from rich.table import Table

    from ouie.app.demo import DemoOptions, running_demo
    from ouie.core.config import ConfigError, describe_validation_error
    from ouie.core.recording import RecordingFormatError
    from ouie.sensor.config import DetectorConfig
    from ouie.sensor.model_files import ModelUnavailableError

    console = Console()
    try:
        options = DemoOptions(
            scenario=scenario,
            speed=speed,
            duration_s=duration,
            auto_cue=auto_cue,
            camera_audio=camera_audio,
            port=port,
            detector=DetectorConfig(backend=detector, model_path=model),
            audio_dir=audio_dir,
        )
    except ValidationError as error:
        console.print(f"[red]{describe_validation_error(error, 'ouie demo')}[/red]")
        raise typer.Exit(2) from None
    with ExitStack() as stack:
        work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ouie-demo-")))
        try:
            run, replay = stack.enter_context(running_demo(options, work_dir))
        except (ConfigError, RecordingFormatError, ModelUnavailableError, OSError) as error:
            console.print(f"[red]ouie demo: {error}[/red]")
            raise typer.Exit(2) from None
        logins = Table("user", "password", "role", title="demo logins (this run only)")
        for login in run.logins:
            logins.add_row(login.name, login.password, login.role.value)
        console.print(f"\n[bold]ouie console:[/bold] {run.url}")
        console.print(logins)
        mode = "auto (declared as a demonstration)" if auto_cue else "suggest"
        console.print(f"cue mode: {mode} · scenario {scenario} at ×{speed:g}")
        if browser:
            webbrowser.open(run.url)
        replay.console = console
        try:
            replay.run()
        except KeyboardInterrupt:
            console.print("replay interrupted")
        result = replay.summary()
        table = Table(
            "onset (UTC)",
            "class",
            "status",
            "shown as",
            "±m",
            "truth",
            "error m",
            title="incidents",
        )
        for outcome in result.incident_outcomes:
            table.add_row(
                outcome.onset_utc[11:22],
                outcome.class_,
                outcome.status,
                outcome.shown_as,
                f"{outcome.uncertainty_m:.0f}" if outcome.uncertainty_m is not None else "—",
                outcome.truth_class or "false alarm",
                f"{outcome.error_m:.1f}" if outcome.error_m is not None else "—",
            )
        console.print(table)
        console.print(
            f"{result.detected}/{result.alerting_true_events} alerting events detected, "
            f"{result.fixed} located ({result.fixed_within_10_m} within 10 m); the operator "
            f"saw {result.alerts_true} true and "
            f"{result.false_incidents} false alerts, {result.unconfirmed} unconfirmed, "
            f"{result.context_episodes} context episodes for {result.context_sounds} context "
            f"sounds; {result.incidents} incidents in all; "
            f"cues {result.cue_states}; latency p50 {result.cue_latency.p50_s} s; "
            f"×{result.achieved_speed:g} reached"
        )
        if summary is not None:
            summary.write_text(result.model_dump_json(indent=2, by_alias=True))
            console.print(f"summary written to {summary}")
        if stay:
            console.print(f"console still open at {run.url} — Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
