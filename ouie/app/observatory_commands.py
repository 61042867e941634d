"""Command-line commands of ouie.observatory (registered by ouie.cli): `ouie observatory report`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from ouie.observatory.figures import ObservatoryFigures
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
    from pydantic import ValidationError
    from rich.console import Console

    from ouie.app.config import load_city_config
    from ouie.core.config import ConfigError
    from ouie.observatory.figures import Period
    from ouie.observatory.report import build_report, render_html, render_json

    start, end = _day(first_day, "--from"), _day(last_day, "--to")
    try:
        period = Period(first_day=start, last_day=end)
    except ValidationError as error:
        reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
        raise typer.BadParameter(reasons, param_hint="--from/--to") from None
    try:
        city = load_city_config(config)
        deployment = city.deployment()
    except ConfigError as error:
        raise typer.BadParameter(str(error), param_hint="--config") from None
    store = _open_store(db or city.database_url)
    try:
        content = build_report(store, deployment, period)
    finally:
        store.close()
    out.write_text(render_html(content), encoding="utf-8")
    if json_out is not None:
        json_out.write_text(render_json(content), encoding="utf-8")
    total, audit = content.figures.total, content.figures.audit
    Console().print(figures_table(content.figures))
    typer.echo(
        f"{out}: {start} to {end}, {total.incidents} incidents, {total.decided} decided, "
        f"audit chain {'intact' if audit.chain_ok else 'BROKEN'} ({audit.total_entries} entries)"
        + (f"; figures in {json_out}" if json_out else "")
    )
    if not audit.chain_ok:
        raise typer.Exit(1)


def figures_table(figures: ObservatoryFigures) -> Table:
    """The period's figures per class, for the terminal."""
    from rich import box
    from rich.table import Table

    from ouie.observatory.report import format_percent, format_seconds

    table = Table(
        title=f"{figures.period.first_day} to {figures.period.last_day} (UTC)",
        box=box.SIMPLE,
        pad_edge=False,
        collapse_padding=True,
        caption="conf./dism./esc.: latest decision; rate: confirmed ÷ decided; "
        "median: raised → first decision",
    )
    table.add_column("class", no_wrap=True)
    for column in ("reports", "incid.", "loc.", "conf.", "dism.", "esc.", "open", "rate"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("median", justify="right", no_wrap=True)
    for row in [*figures.by_class, figures.total]:
        table.add_row(
            row.class_,
            *(str(n) for n in (row.reports, row.incidents)),
            "—" if row.located is None else str(row.located),
            *(str(n) for n in (row.confirmed, row.dismissed, row.escalated, row.open)),
            format_percent(row.confirm_rate),
            format_seconds(row.median_decision_s),
            end_section=row is figures.by_class[-1],
        )
    return table
