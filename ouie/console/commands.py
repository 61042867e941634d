"""Command-line commands of ouie.console (registered by ouie.cli): console users and the demo."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ouie.sensor.config import Backend
from ouie.store.records import Role

DATABASE_HELP = "Store URL (sqlite:///ouie.db, postgresql+psycopg://user@host/db)."

user_app = typer.Typer(help="Console users (passwords are stored as argon2 hashes only).")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (log-in name).")],
    role: Annotated[Role, typer.Option(help="What the user may do (see docs/console.md).")],
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
    actor: Annotated[str, typer.Option(help="Who creates the user (audited).")] = "admin",
) -> None:
    """Create a console user; the password is asked for twice and never echoed."""
    from sqlalchemy.exc import IntegrityError

    from ouie.console.users import create_user
    from ouie.store.repository import Store

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = Store.open(database)
    try:
        create_user(store, name, role, password, actor=actor)
    except IntegrityError:
        typer.echo(f"a user named {name!r} already exists", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"user {name} ({role.value}) created")


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
    actor: Annotated[str, typer.Option(help="Who disables the user (audited).")] = "admin",
) -> None:
    """Stop a user from logging in; their open console sessions end at once (audited)."""
    from ouie.console.users import disable_user
    from ouie.store.repository import Store

    store = Store.open(database)
    try:
        disabled = disable_user(store, name, actor)
    finally:
        store.close()
    if not disabled:
        typer.echo(f"no active user named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"user {name} disabled")


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
    actor: Annotated[str, typer.Option(help="Who sets the password (audited).")] = "admin",
) -> None:
    """Set a user's password (asked twice, never echoed); their console sessions end at once."""
    from ouie.console.users import set_password
    from ouie.store.repository import Store

    password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    store = Store.open(database)
    try:
        changed = set_password(store, name, password, actor)
    finally:
        store.close()
    if not changed:
        typer.echo(f"no user named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"password of {name} changed; their sessions are ended")


@user_app.command("list")
def user_list(
    database: Annotated[str, typer.Option(help=DATABASE_HELP)] = "sqlite:///ouie.db",
) -> None:
    """List console users and their roles."""
    from rich.console import Console
    from rich.table import Table

    from ouie.core.timebase import ns_to_iso
    from ouie.store.repository import Store

    store = Store.open(database)
    try:
        users = store.list_users()
    finally:
        store.close()
    table = Table("user", "role", "active", "created (UTC)")
    for user in users:
        table.add_row(
            user.name, user.role, "yes" if user.active else "no", ns_to_iso(user.created_at_ns)
        )
    Console().print(table)


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

    from ouie.console.demo import DemoOptions, running_demo
    from ouie.core.config import ConfigError, describe_validation_error
    from ouie.core.recording import RecordingFormatError
    from ouie.sensor.config import DetectorConfig
    from ouie.sensor.models import ModelUnavailableError

    console = Console()
    try:
        options = DemoOptions(
            scenario=scenario,
            speed=speed,
            duration_s=duration,
            auto_cue=auto_cue,
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
        try:
            replay.run()
        except KeyboardInterrupt:
            console.print("replay interrupted")
        result = replay.summary()
        table = Table("onset (UTC)", "class", "status", "±m", "truth", "error m", title="incidents")
        for outcome in result.incident_outcomes:
            table.add_row(
                outcome.onset_utc[11:22],
                outcome.class_,
                outcome.status,
                f"{outcome.uncertainty_m:.0f}" if outcome.uncertainty_m is not None else "—",
                outcome.truth_class or "false alarm",
                f"{outcome.error_m:.1f}" if outcome.error_m is not None else "—",
            )
        console.print(table)
        console.print(
            f"{result.detected}/{result.alerting_true_events} alerting events detected, "
            f"{result.fixed} located; {result.false_incidents} false incidents; "
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


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.add_typer(user_app, name="user")
    app.command("demo")(demo)
