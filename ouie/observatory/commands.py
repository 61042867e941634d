"""Command-line commands of ouie.observatory (registered by ouie.cli): `ouie observatory report`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ouie.store.repository import Store

AGGREGATES_REVISION = "0003"
"""The first schema whose daily aggregates hold the observatory's figures."""

observatory_app = typer.Typer(
    help="Aggregates, efficacy and the transparency report.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.add_typer(observatory_app, name="observatory")


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a UTC day; write it YYYY-MM-DD", param_hint=option
        ) from None


def _open_store(url: str) -> Store:
    """The store at `url`, as it is (never created or migrated by a report): a clear error when
    there is no ouie database there, or one older than this version of ouie."""
    from sqlalchemy.exc import SQLAlchemyError

    from ouie.store.database import current_revision, make_engine
    from ouie.store.repository import Store

    engine = make_engine(url)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as error:
        raise typer.BadParameter(f"cannot read {url}: {error}", param_hint="--db") from None
    if revision is None:
        engine.dispose()
        raise typer.BadParameter(f"no ouie database at {url}", param_hint="--db")
    if revision < AGGREGATES_REVISION:
        engine.dispose()
        raise typer.BadParameter(
            f"{url} is at schema revision {revision}; this report needs {AGGREGATES_REVISION} "
            "or later (`ouie serve` migrates the database when it starts)",
            param_hint="--db",
        )
    return Store(engine)


@observatory_app.command("report")
def report(
    config: Path = typer.Option(..., "--config", "-c", help="City configuration (city.yaml)."),
    first_day: str = typer.Option(..., "--from", help="First UTC day, YYYY-MM-DD."),
    last_day: str = typer.Option(..., "--to", help="Last UTC day (included), YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", help="HTML file to write (self-contained)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: database_url)."),
) -> None:
    """Write the transparency report of a period for an oversight body: the deployment, what the
    system does not do, the period's figures, the audit chain verified now, the purges."""
    from ouie.central.config import load_city_config
    from ouie.core.config import ConfigError
    from ouie.observatory.deployment import Deployment
    from ouie.observatory.figures import Period
    from ouie.observatory.report import build_report, render_html, render_json

    start, end = _day(first_day, "--from"), _day(last_day, "--to")
    if end < start:
        raise typer.BadParameter(f"--to {end} is before --from {start}", param_hint="--to")
    try:
        city = load_city_config(config)
        deployment = Deployment.of_city(city)
    except ConfigError as error:
        raise typer.BadParameter(str(error), param_hint="--config") from None
    store = _open_store(db or city.database_url)
    try:
        content = build_report(store, deployment, Period(first_day=start, last_day=end))
    finally:
        store.close()
    out.write_text(render_html(content), encoding="utf-8")
    if json_out is not None:
        json_out.write_text(render_json(content), encoding="utf-8")
    total, audit = content.figures.total, content.figures.audit
    typer.echo(
        f"{out}: {start} to {end}, {total.incidents} incidents, {total.decided} decided, "
        f"audit chain {'intact' if audit.chain_ok else 'BROKEN'} ({audit.total_entries} entries)"
        + (f"; figures in {json_out}" if json_out else "")
    )
    if not audit.chain_ok:
        raise typer.Exit(1)
