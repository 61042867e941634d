"""The transparency report for an oversight body (docs/design.md principle 5): one self-contained
HTML file (inline CSS, charts as `data:` PNGs, nothing fetched) and the same figures as JSON."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from ouie.observatory.deployment import NON_GOALS, Deployment
from ouie.observatory.figures import DISMISS_REASONS, ObservatoryFigures, Period, compute_figures
from ouie.observatory.plots import all_charts
from ouie.store.repository import Store

TEMPLATES_DIR = Path(__file__).parent / "templates"
REPORT_SCHEMA = "ouie.transparency/2"


class TransparencyReport(BaseModel):
    """What the HTML report shows, as data (the `--json` file)."""

    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(default=REPORT_SCHEMA, alias="schema", description="Format version.")
    deployment: Deployment = Field(description="Sensors, cameras, cue mode, retention.")
    non_goals: list[str] = Field(description="What the system does not do.")
    figures: ObservatoryFigures = Field(description="The period's figures.")


def build_report(store: Store, deployment: Deployment, period: Period) -> TransparencyReport:
    """The report's content, figures computed now (the audit chain verified now)."""
    return TransparencyReport(
        deployment=deployment, non_goals=list(NON_GOALS), figures=compute_figures(store, period)
    )


def format_percent(value: float | None) -> str:
    """'—' or '42 %'."""
    return "—" if value is None else f"{100 * value:.0f} %"


def format_seconds(value: float | None) -> str:
    """'—', '42 s', '3.5 min' or '2.0 h'."""
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _known(value: object) -> str:
    return "not known here" if value is None else str(value)


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(percent=format_percent, seconds=format_seconds, known=_known)
    return environment


def render_html(report: TransparencyReport) -> str:
    """The report as one HTML document (no external resource of any kind)."""
    return (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            figures=report.figures,
            deployment=report.deployment,
            charts=all_charts(report.figures),
            reasons=DISMISS_REASONS,
        )
    )


def render_json(report: TransparencyReport) -> str:
    """The report's data as indented JSON."""
    return report.model_dump_json(indent=2, by_alias=True)
