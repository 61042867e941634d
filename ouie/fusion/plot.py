"""A PNG a person can read: the map of sensors, true and estimated positions with their 95 %
ellipses (hyperbolas and single-sensor circles too), and the cumulative error distributions of
fusion and the baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Ellipse

from ouie.core.classes import ALERTING_CLASSES
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.recording import TruthEvent
from ouie.fusion.evaluation import Evaluation
from ouie.fusion.multilateration import Array

MAP_MARGIN_M = 150.0
"""The map shows the sensors' box plus this margin (hyperbolas run further and are clipped)."""

LABEL_AT_MOST = 25
"""Incidents are labelled with class and radius only when there are this few (legibility)."""


def plot_incidents(
    path: Path,
    positions_enu_m: dict[str, Array],
    incidents: list[Incident],
    frame: LocalFrame,
    truth: list[TruthEvent] | None = None,
    evaluation: Evaluation | None = None,
    title: str = "ouie locate",
) -> Path:
    """Write the figure to `path` (PNG, Agg backend) and return the path."""
    fig = Figure(figsize=(15, 7), layout="tight")
    ax_map, ax_cdf = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    sites = np.array(list(positions_enu_m.values()))
    ax_map.scatter(sites[:, 0], sites[:, 1], marker="^", s=40, c="tab:blue", label="sensor")
    for sensor_id, site in positions_enu_m.items():
        ax_map.annotate(sensor_id, site[:2], fontsize=6, xytext=(3, 3), textcoords="offset points")
    truth = truth or []
    truth_en = [frame.to_enu(e.lat, e.lon, frame.origin_height_m)[:2] for e in truth]
    for alerting, style in ((True, {"s": 60, "c": "k"}), (False, {"s": 25, "c": "silver"})):
        points = np.array(
            [
                en
                for event, en in zip(truth, truth_en, strict=True)
                if (event.class_ in ALERTING_CLASSES) == alerting
            ]
        )
        if len(points):
            label = "true alerting source" if alerting else "true context / distractor"
            ax_map.scatter(points[:, 0], points[:, 1], marker="x", label=label, **style)
    for incident in incidents:
        _draw_incident(ax_map, incident, frame, labelled=len(incidents) <= LABEL_AT_MOST)
    by_id = {i.incident_id: i for i in incidents}
    for match in evaluation.matches if evaluation else []:
        located = by_id.get(match.incident_id or "")
        if located is not None and located.east_m is not None and located.north_m is not None:
            true = truth_en[match.truth_index]
            ax_map.plot([true[0], located.east_m], [true[1], located.north_m], c="grey", lw=0.6)
    low, high = sites[:, :2].min(axis=0) - MAP_MARGIN_M, sites[:, :2].max(axis=0) + MAP_MARGIN_M
    ax_map.set_xlim(low[0], high[0])
    ax_map.set_ylim(low[1], high[1])
    ax_map.set_aspect("equal")
    ax_map.set_xlabel("east, m")
    ax_map.set_ylabel("north, m")
    ax_map.set_title(f"{title}: {len(incidents)} incidents")
    ax_map.legend(loc="upper right", fontsize=8)
    ax_map.grid(alpha=0.3)
    _draw_cdf(ax_cdf, evaluation)
    path = Path(path)
    fig.savefig(path, dpi=120)  # a bare Figure renders with Agg: no global pyplot state
    return path


def _draw_incident(ax: Axes, incident: Incident, frame: LocalFrame, labelled: bool) -> None:
    """A fix as a dot and its 95 % ellipse; a hyperbola as a dashed line; a single as a circle."""
    color = "tab:red" if incident.alerting else "tab:orange"
    if incident.status == IncidentStatus.HYPERBOLA and incident.hyperbola is not None:
        lat, lon = np.array(incident.hyperbola.points).T
        en = frame.to_enu(lat, lon, frame.origin_height_m)
        ax.plot(en[:, 0], en[:, 1], ls="--", c=color, lw=0.8)
        return
    if incident.east_m is None or incident.north_m is None or incident.uncertainty_m is None:
        return
    where = (incident.east_m, incident.north_m)
    if incident.status == IncidentStatus.FIX and incident.ellipse95 is not None:
        ax.scatter([where[0]], [where[1]], s=18, c=color, zorder=3)
        e = incident.ellipse95
        ax.add_patch(
            Ellipse(
                where,
                width=2 * max(e.semi_major_m, 0.5),
                height=2 * max(e.semi_minor_m, 0.5),
                angle=90.0 - e.orientation_deg,
                fill=False,
                ec=color,
                lw=1.0,
            )
        )
        if labelled:
            ax.annotate(
                f"{incident.class_.value} ±{incident.uncertainty_m:.1f} m",
                where,
                fontsize=6,
                color=color,
                xytext=(4, -8),
                textcoords="offset points",
            )
    else:
        ax.add_patch(
            Circle(
                where,
                incident.uncertainty_m,
                fill=False,
                ls=":",
                ec=color,
                lw=0.6,
                alpha=0.35,
            )
        )


def _draw_cdf(ax: Axes, evaluation: Evaluation | None) -> None:
    """Cumulative distribution of position errors (log x), fusion and baselines."""
    if evaluation is None or not evaluation.fixed:
        ax.text(0.5, 0.5, "no truth.json: no error statistics", ha="center", va="center")
        ax.set_axis_off()
        return
    curves = {"fusion (TDOA)": [m.error_m for m in evaluation.matches if m.error_m is not None]}
    for name in evaluation.baselines:
        curves[name.replace("_", " ")] = [
            m.baseline_errors_m[name] for m in evaluation.matches if name in m.baseline_errors_m
        ]
    for name, errors in curves.items():
        values = np.sort(np.maximum(np.asarray(errors, dtype=float), 1e-3))
        ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post", label=name)
    ax.axvline(25.0, c="grey", ls=":", lw=0.8)
    ax.text(25.0, 0.5, " 25 m", fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("horizontal error, m")
    ax.set_ylabel("share of located alerting events")
    coverage = evaluation.coverage95
    ax.set_title("error CDF of fixes (alerting events)")
    ax.text(
        0.02,
        0.97,
        f"detected {evaluation.detected}/{evaluation.alerting_events}, "
        f"located {evaluation.fixed}/{evaluation.alerting_events}\n"
        f"truth inside 95 % ellipse: {coverage:.0%}\n"
        f"median {evaluation.errors.median_m:.2f} m, p90 {evaluation.errors.p90_m:.2f} m",
        transform=ax.transAxes,
        va="top",
        fontsize=9,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "grey"},
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
