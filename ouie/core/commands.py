"""Helpers shared by the concerns' command modules (each concern's `commands.py` registers its
own commands on the `ouie` app; see `ouie.cli`)."""

from __future__ import annotations

import typer


def shared_group(app: typer.Typer, name: str, help_text: str) -> typer.Typer:
    """The sub-command group `name` (e.g. `ouie eval`), created if no concern made it yet, so
    that several concerns can add commands to it."""
    for group in app.registered_groups:
        if group.name == name and group.typer_instance is not None:
            return group.typer_instance
    sub = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub


def setup_logging() -> None:
    """Log INFO and above to the terminal through rich (no time or path columns)."""
    import logging

    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_time=False, show_path=False)],
    )
