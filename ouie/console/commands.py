"""Command-line commands of ouie.console (registered by ouie.cli)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
