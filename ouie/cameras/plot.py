"""A map of a cue (PNG, matplotlib Agg): buildings, cameras, privacy masks, the incident's
uncertainty disc, and the ground the chosen view shows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ouie.cameras.config import CameraConfig
from ouie.cameras.geometry import camera_position_enu
from ouie.cameras.planning import BuildingShape, CueDecision, masks_enu
from ouie.core.geo import LocalFrame


def plot_cue_map(
    decision: CueDecision,
    cameras: Sequence[CameraConfig],
    frame: LocalFrame,
    buildings: Sequence[BuildingShape],
    path: Path,
) -> Path:
    """Draw the cue on a metric map (ENU, metres) and save it as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle
    from matplotlib.patches import Polygon as PolygonPatch

    figure, axes = plt.subplots(figsize=(8, 8), dpi=110)
    for building in buildings:
        ring = list(building.polygon.exterior.coords)
        axes.add_patch(PolygonPatch(ring, facecolor="#b9a48f", edgecolor="#5a4a3a", zorder=2))
        centre = building.polygon.representative_point()
        axes.text(centre.x, centre.y, f"{building.height_m:.0f} m", ha="center", fontsize=7)
    drawn: set[str] = set()
    for camera in cameras:
        for mask in masks_enu(camera, frame):
            if mask.polygon.wkt in drawn:
                continue
            drawn.add(mask.polygon.wkt)
            axes.add_patch(
                PolygonPatch(
                    list(mask.polygon.exterior.coords),
                    facecolor="none",
                    edgecolor="#c0392b",
                    hatch="///",
                    zorder=3,
                    label="privacy mask",
                )
            )
    east, north, _ = frame.to_enu(decision.target.lat, decision.target.lon, frame.origin_height_m)
    axes.add_patch(
        Circle(
            (east, north),
            max(decision.target.radius_m, 1.0),
            facecolor="#e74c3c55",
            edgecolor="#c0392b",
            zorder=5,
            label="incident (uncertainty)",
        )
    )
    options = {option.camera_id: option for option in decision.options}
    for camera in cameras:
        x, y, _ = camera_position_enu(camera, frame)
        option = options.get(camera.id)
        chosen = decision.plan is not None and decision.plan.camera_id == camera.id
        colour = "#1f6fb2" if chosen else ("#7f8c8d" if option and option.usable else "#c0392b")
        axes.plot(
            [x, east],
            [y, north],
            color=colour,
            lw=1.2 if chosen else 0.6,
            ls="-" if chosen else ":",
            zorder=4,
        )
        axes.plot(x, y, marker="^", color=colour, ms=10, zorder=6)
        verdict = "chosen" if chosen else (option.reason if option else "")
        axes.annotate(
            f"{camera.id}\n{verdict}", (x, y), xytext=(6, 6), textcoords="offset points", fontsize=7
        )
    if decision.plan is not None:
        axes.add_patch(
            PolygonPatch(
                decision.plan.footprint_enu,
                facecolor="#3498db33",
                edgecolor="#1f6fb2",
                zorder=3,
                label=f"view of {decision.plan.camera_id} ({decision.plan.mask_decision.value})",
            )
        )
    axes.set_aspect("equal")
    axes.autoscale_view()
    axes.set_xlabel("east (m)")
    axes.set_ylabel("north (m)")
    axes.set_title(f"Cue: {decision.reason}", fontsize=9)
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes.legend(unique.values(), unique.keys(), loc="lower left", fontsize=7)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
