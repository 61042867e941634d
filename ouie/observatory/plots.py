"""The transparency report's charts, each a PNG as a `data:` URI so that the report is one
self-contained file. Plain matplotlib `Figure`s (no pyplot state), so that console request
threads can draw them at the same time."""

from __future__ import annotations

import base64
import io

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ouie.observatory.figures import (
    DISMISS_REASONS,
    ClassFigures,
    ObservatoryFigures,
)

DISPOSITION_COLOURS = {
    "confirmed": "#2e7d32",
    "escalated": "#c62828",
    **dict(
        zip(
            [f"dismissed: {r}" for r in DISMISS_REASONS],
            ["#ef6c00", "#8d6e63", "#5c6bc0", "#9e9e9e"],
            strict=True,
        )
    ),
    "dismissed: not recorded": "#bdbdbd",
    "open": "#e0e0e0",
}
"""One colour per disposition, the same in every chart."""


def _data_uri(figure: Figure) -> str:
    """The figure as a base64 PNG `data:` URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def incidents_per_day(figures: ObservatoryFigures) -> str:
    """Stacked bars: incidents per UTC day, one colour per class."""
    figure = Figure(figsize=(9, 3.2))
    axes = figure.subplots()
    bottoms = [0] * len(figures.days)
    index = {day: i for i, day in enumerate(figures.days)}
    for class_ in figures.classes:
        heights = [0] * len(figures.days)
        for row in figures.by_day:
            if row.class_ == class_:
                heights[index[row.day]] += row.incidents
        if any(heights):
            axes.bar(range(len(heights)), heights, bottom=bottoms, label=class_)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    _day_axis(axes, figures.days)
    axes.set_ylabel("incidents")
    axes.set_title("Incidents raised per day (UTC), by class")
    if any(bottoms):
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _data_uri(figure)


def _day_axis(axes: Axes, days: list[str]) -> None:
    """Day labels 'MM-DD', at most 10 of them (every `step`-th day)."""
    step = -(-len(days) // 10)
    axes.set_xticks(range(0, len(days), step), [d[5:] for d in days[::step]], fontsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def disposition_segments(row: ClassFigures) -> dict[str, int]:
    """Incidents of `row` by disposition label (the keys of DISPOSITION_COLOURS)."""
    segments = {"confirmed": row.confirmed, "escalated": row.escalated}
    for reason in [*DISMISS_REASONS, "not recorded"]:
        segments[f"dismissed: {reason}"] = row.dismissed_by_reason.get(reason, 0)
    segments["open"] = row.open
    return segments


def dispositions(figures: ObservatoryFigures) -> str:
    """Horizontal stacked bars per class: what operators decided (latest decision)."""
    rows = [row for row in figures.by_class if row.incidents]
    figure = Figure(figsize=(9, 0.5 + 0.45 * max(1, len(rows))))
    axes = figure.subplots()
    lefts = [0] * len(rows)
    for label, colour in DISPOSITION_COLOURS.items():
        widths = [disposition_segments(row)[label] for row in rows]
        if any(widths):
            axes.barh(range(len(rows)), widths, left=lefts, color=colour, label=label)
            lefts = [a + b for a, b in zip(lefts, widths, strict=True)]
    axes.set_yticks(range(len(rows)), [row.class_ for row in rows])
    axes.invert_yaxis()
    axes.set_xlabel("incidents")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Operators' decisions per class (latest decision)")
    if rows:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _data_uri(figure)


def confirm_rate(figures: ObservatoryFigures) -> str:
    """Bars per class: share of decided incidents operators confirmed, with n decided."""
    rows = [row for row in figures.by_class if row.decided]
    figure = Figure(figsize=(9, 2.8))
    axes = figure.subplots()
    rates = [100 * (row.confirm_rate or 0.0) for row in rows]
    bars = axes.bar([row.class_ for row in rows], rates, color="#2e7d32")
    axes.bar_label(
        bars, [f"{r:.0f} % of {row.decided}" for r, row in zip(rates, rows, strict=True)]
    )
    axes.set_ylim(0, 110)
    axes.set_ylabel("confirmed, % of decided")
    axes.set_title("How often operators confirm what the system raises")
    return _data_uri(figure)


CAMERA_SERIES = {
    "moved_approved": ("moved, approved by a person", "#1565c0"),
    "moved_auto": ("moved automatically", "#6a1b9a"),
    "declined": ("declined by a person", "#9e9e9e"),
    "mask_refused": ("refused by a privacy mask", "#c62828"),
    "mask_clipped": ("clipped by a privacy mask", "#ef6c00"),
}
"""Camera figures charted per day: field → (label, colour)."""


def camera_moves(figures: ObservatoryFigures) -> str:
    """Grouped bars per day: camera moves, declines and privacy-mask refusals and clips."""
    figure = Figure(figsize=(9, 3.2))
    axes = figure.subplots()
    width = 0.8 / len(CAMERA_SERIES)
    for i, (field, (label, colour)) in enumerate(CAMERA_SERIES.items()):
        values = [getattr(day, field) for day in figures.cameras_by_day]
        positions = [d - 0.4 + (i + 0.5) * width for d in range(len(values))]
        axes.bar(positions, values, width=width, color=colour, label=label)
    _day_axis(axes, figures.days)
    axes.set_title("Cameras per day (UTC): moves, declines, privacy masks")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _data_uri(figure)


def all_charts(figures: ObservatoryFigures) -> dict[str, str | None]:
    """Every chart of the report, by name, as a `data:` URI; None for a chart with nothing to
    show (no incident, no decision, no camera activity), which the report says in words."""
    cameras = figures.cameras_total
    return {
        "incidents_per_day": incidents_per_day(figures) if figures.total.incidents else None,
        "dispositions": dispositions(figures) if figures.total.incidents else None,
        "confirm_rate": confirm_rate(figures) if figures.total.decided else None,
        "camera_moves": camera_moves(figures)
        if any(getattr(cameras, field) for field in CAMERA_SERIES)
        else None,
    }
