"""The `ouie` command line. Each concern registers its own commands (see `COMMAND_MODULES`);
heavy imports happen inside the commands so that `ouie --help` stays fast."""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES = (
    "ouie.sensor.commands",
    "ouie.learn.commands",
    "ouie.sim.commands",
    "ouie.transport.commands",
    "ouie.console.commands",
    "ouie.app.locate_commands",
    "ouie.app.cue_commands",
    "ouie.app.central_commands",
    "ouie.app.demo_commands",
    "ouie.app.observatory_commands",
    "ouie.app.notify_commands",
)
"""Modules with a `register(app: typer.Typer) -> None` that adds their commands."""

app = typer.Typer(
    name="ouie",
    help="Acoustic event detection and localization for city control rooms, private by design.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    """Console-script entry point. A configuration a command cannot use (`ConfigError`: a
    field named, never a secret) ends it with that message and status 2, not a traceback."""
    from ouie.core.config import ConfigError

    try:
        app()
    except ConfigError as error:
        typer.echo(f"ouie: {error}", err=True)
        raise SystemExit(2) from None
