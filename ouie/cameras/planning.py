"""Choose the camera for an incident and the pan/tilt/zoom that frame it, within privacy masks.

For each camera: in range, inside its pan/tilt limits, a clear line of sight over the scenario's
buildings, not held by a more serious incident, and a view whose ground footprint stays off every
privacy mask (zoom clipped, or panned away, or refused: recorded in `MaskDecision`). Usable
cameras are ranked by expected view quality (`view_quality`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import unary_union

from ouie.cameras.config import CameraConfig
from ouie.cameras.geometry import (
    View,
    aim_at,
    camera_position_enu,
    ground_footprints,
    pan_for_bearing_deg,
    pan_to_onvif,
    project_points,
    tilt_to_onvif,
    zoom_for_hfov,
)
from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.core.site import Building

MASK_TOLERANCE_M2 = 0.01
"""Masked ground area a footprint may touch (numerical slack at shared edges), m²."""
USEFUL_PX_PER_M = 20.0
"""Image detail at which an incident scene (not a face) is clearly readable, px per metre."""
MOUNT_CLEARANCE_M = 1.0
"""A building this close to a camera is the one it is mounted on: it does not block its view."""

SEVERITY: dict[EventClass, int] = {
    EventClass.GUNSHOT: 4,
    EventClass.EXPLOSION: 4,
    EventClass.SCREAM: 3,
    EventClass.GLASS_BREAK: 2,
    EventClass.SIREN: 1,
    EventClass.ALARM: 1,
    EventClass.FIREWORKS: 1,
}
"""How serious an incident of each class is, for who keeps a camera (higher keeps it)."""


class MaskDecision(StrEnum):
    """What the privacy masks did to a cue."""

    CLEAR = "clear"
    CLIPPED_ZOOM = "clipped_zoom"
    PANNED_AWAY = "panned_away"
    REFUSED = "refused"


@dataclass(frozen=True)
class BuildingShape:
    """A building in ENU metres: ground polygon and roof height."""

    id: str
    polygon: Polygon
    height_m: float


@dataclass(frozen=True)
class MaskShape:
    """A privacy mask in ENU metres."""

    id: str
    polygon: Polygon


@dataclass(frozen=True)
class CameraHold:
    """A camera currently held for an incident of some severity."""

    incident_id: str
    severity: int


class CueTarget(BaseModel):
    """What to look at: an incident's position and its uncertainty radius."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: float = Field(ge=-90, le=90, description="Latitude of the estimate, degrees WGS84.")
    lon: float = Field(ge=-180, le=180, description="Longitude of the estimate, degrees WGS84.")
    radius_m: float = Field(default=10.0, ge=0, description="Uncertainty radius to frame, m.")
    height_m: float = Field(default=1.5, description="Height of the scene above ground, m.")
    incident_id: str = Field(default="", description="The incident this cue is for.")
    severity: int = Field(default=SEVERITY[EventClass.GUNSHOT], description="See SEVERITY.")


class CuePlan(BaseModel):
    """A camera position for a target, in degrees and in ONVIF generic-space units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str
    pan_deg: float = Field(description="Pan from the camera's pan zero, degrees.")
    tilt_deg: float = Field(description="Tilt, degrees (negative looks down).")
    hfov_deg: float = Field(description="Horizontal field of view, degrees.")
    bearing_deg: float = Field(description="Bearing of the optical axis from north, degrees.")
    onvif_pan: float = Field(ge=-1, le=1, description="ONVIF PanTilt x.")
    onvif_tilt: float = Field(ge=-1, le=1, description="ONVIF PanTilt y.")
    onvif_zoom: float = Field(ge=0, le=1, description="ONVIF Zoom x.")
    distance_m: float = Field(description="Horizontal distance to the target, m.")
    mask_decision: MaskDecision
    coverage: float = Field(description="Share of the uncertainty disc in the image, 0–1.")
    px_per_m: float = Field(description="Image detail at the target, px per metre.")
    quality: float = Field(description="Expected view quality, 0–1 (see view_quality).")
    footprint_enu: list[tuple[float, float]] = Field(
        description="Ground seen, ENU (east, north) m."
    )


class CameraOption(BaseModel):
    """One camera considered for a target: usable or not, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str
    usable: bool
    reason: str
    plan: CuePlan | None = None
    mask_decision: MaskDecision | None = None


class CueDecision(BaseModel):
    """The planner's answer: the best plan (if any) and every camera's verdict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: CueTarget
    plan: CuePlan | None
    options: list[CameraOption]
    reason: str


def buildings_enu(buildings: Sequence[Building], frame: LocalFrame) -> list[BuildingShape]:
    """The site's buildings as ENU polygons of `frame` (footprints at the origin's ground)."""
    shapes = []
    for index, building in enumerate(buildings):
        ring = np.asarray(building.footprint, dtype=float)
        enu = frame.to_enu(ring[:, 1], ring[:, 0], frame.origin_height_m)
        polygon = Polygon(enu[:, :2])
        shapes.append(
            BuildingShape(building.id or f"building {index}", polygon.buffer(0), building.height_m)
        )
    return shapes


def masks_enu(camera: CameraConfig, frame: LocalFrame) -> list[MaskShape]:
    """A camera's privacy masks as ENU polygons."""
    return [
        MaskShape(mask.id or f"mask {index}", mask.enu_polygon(frame))
        for index, mask in enumerate(camera.masks)
    ]


def _cuts_sight_line(
    camera_enu: np.ndarray, point_enu: np.ndarray, building: BuildingShape
) -> bool:
    """Whether `building` hides `point_enu` from the camera.

    The sight line's height at horizontal fraction s is z(s) = z_c + (z_t − z_c)·s, linear, so
    over each stretch inside a footprint its lowest point is an end of that stretch: the line is
    blocked when the roof is higher than z there."""
    start = Point(camera_enu[:2])
    line = LineString([start, Point(point_enu[:2])])
    if not line.intersects(building.polygon):
        return False
    crossing = line.intersection(building.polygon)
    for part in getattr(crossing, "geoms", [crossing]):
        for x, y in part.coords:
            s = start.distance(Point(x, y)) / line.length if line.length else 0.0
            if building.height_m > camera_enu[2] + (point_enu[2] - camera_enu[2]) * s:
                return True
    return False


def _obstacles(camera_enu: np.ndarray, buildings: Sequence[BuildingShape]) -> list[BuildingShape]:
    """The buildings that may hide something from the camera: all but the one it is mounted on
    (within MOUNT_CLEARANCE_M)."""
    start = Point(camera_enu[:2])
    return [b for b in buildings if b.polygon.distance(start) >= MOUNT_CLEARANCE_M]


def blocking_building(
    camera_enu: np.ndarray, target_enu: np.ndarray, buildings: Sequence[BuildingShape]
) -> BuildingShape | None:
    """The first building that hides `target_enu` from the camera (see `_cuts_sight_line`),
    or None. The camera's own building is ignored."""
    for building in _obstacles(camera_enu, buildings):
        if _cuts_sight_line(camera_enu, target_enu, building):
            return building
    return None


def hidden_points(
    camera_enu: np.ndarray, points_enu: np.ndarray, buildings: Sequence[BuildingShape]
) -> np.ndarray:
    """For each point (N, 3), whether a building hides it from the camera (bool (N,)); the
    sight lines are first screened against each footprint in one vectorized shapely call."""
    hidden = np.zeros(len(points_enu), dtype=bool)
    lines = shapely.linestrings([[camera_enu[:2], point[:2]] for point in points_enu])
    for building in _obstacles(camera_enu, buildings):
        crossing = shapely.intersects(lines, building.polygon) & ~hidden
        for index in np.flatnonzero(crossing):
            hidden[index] = _cuts_sight_line(camera_enu, points_enu[index], building)
    return hidden


def view_quality(coverage: float, px_per_m: float) -> float:
    """Expected view quality in [0, 1]: coverage · min(1, detail / USEFUL_PX_PER_M), where
    coverage is the share of the uncertainty disc in view and not hidden, and
    detail = W / (2·d·tan(hfov/2)) is the image detail at the target in px per metre."""
    return float(coverage * min(1.0, px_per_m / USEFUL_PX_PER_M))


def _masked_areas_m2(footprints: np.ndarray, masks: Sequence[MaskShape]) -> np.ndarray:
    """Ground area of each footprint inside any mask, m² (vectorized over footprints)."""
    areas = np.zeros(len(footprints))
    if not masks:
        return areas
    masked = unary_union([m.polygon for m in masks])
    shapely.prepare(masked)
    touching = shapely.intersects(masked, footprints)
    areas[touching] = shapely.area(shapely.intersection(footprints[touching], masked))
    return areas


def _candidate_views(camera: CameraConfig, framed: View) -> list[tuple[View, MaskDecision]]:
    """Views to try, in order of preference: as framed; zoom clipped step by step (×0.8)
    down to the narrowest; then panned away by up to 0.4·hfov on either side (the target stays
    in view) at each of those zooms."""
    hfovs = [framed.hfov_deg]
    while hfovs[-1] * 0.8 >= camera.narrowest_hfov_deg:
        hfovs.append(hfovs[-1] * 0.8)
    if hfovs[-1] > camera.narrowest_hfov_deg:
        hfovs.append(camera.narrowest_hfov_deg)
    views = [(framed, MaskDecision.CLEAR)]
    views += [
        (View(framed.bearing_deg, framed.tilt_deg, h), MaskDecision.CLIPPED_ZOOM) for h in hfovs[1:]
    ]
    for hfov in hfovs:
        for fraction in (0.1, 0.2, 0.3, 0.4):
            for side in (1.0, -1.0):
                bearing = (framed.bearing_deg + side * fraction * hfov) % 360.0
                views.append((View(bearing, framed.tilt_deg, hfov), MaskDecision.PANNED_AWAY))
    return views


def fit_view_to_masks(
    camera: CameraConfig, camera_enu: np.ndarray, framed: View, masks: Sequence[MaskShape]
) -> tuple[View, MaskDecision, Polygon] | None:
    """The first candidate view (see `_candidate_views`) within the camera's pan limits whose
    ground footprint touches no mask, with the decision it took and its footprint; None when
    every candidate shows a mask (the cue is refused)."""
    candidates = [
        (view, decision)
        for view, decision in _candidate_views(camera, framed)
        if camera.pan_min_deg
        <= pan_for_bearing_deg(view.bearing_deg, camera.heading_deg)
        <= camera.pan_max_deg
    ]
    if not masks:  # the framed view, or the first one the pan limits allow
        candidates = candidates[:1]
    if not candidates:
        return None
    footprints = ground_footprints(
        camera_enu,
        [view for view, _ in candidates],
        camera.image_width_px,
        camera.image_height_px,
        camera.max_range_m,
    )
    masked_m2 = _masked_areas_m2(footprints, masks)
    clear = np.flatnonzero(masked_m2 <= MASK_TOLERANCE_M2)
    if len(clear) == 0:
        return None
    view, decision = candidates[clear[0]]
    return view, decision, footprints[clear[0]]


def disc_samples_enu(centre_enu: np.ndarray, radius_m: float, count: int = 64) -> np.ndarray:
    """`count` points spread evenly over a horizontal disc (sunflower pattern) at the centre's
    height: r_k = R·sqrt((k + ½)/n), θ_k = k·π(3 − √5)."""
    k = np.arange(count)
    r = radius_m * np.sqrt((k + 0.5) / count)
    theta = k * np.pi * (3.0 - np.sqrt(5.0))
    offsets = np.stack([r * np.sin(theta), r * np.cos(theta), np.zeros(count)], axis=-1)
    return centre_enu + offsets


def disc_coverage(
    camera: CameraConfig,
    camera_enu: np.ndarray,
    view: View,
    target_enu: np.ndarray,
    radius_m: float,
    buildings: Sequence[BuildingShape] = (),
) -> float:
    """Share of the uncertainty disc (sampled at the scene's height) that lands in the image
    and is not hidden behind a building."""
    samples = disc_samples_enu(target_enu, radius_m)
    pixels, in_front = project_points(
        samples, camera_enu, view, camera.image_width_px, camera.image_height_px
    )
    seen = (
        in_front
        & (pixels[:, 0] >= 0)
        & (pixels[:, 0] <= camera.image_width_px)
        & (pixels[:, 1] >= 0)
        & (pixels[:, 1] <= camera.image_height_px)
    )
    if seen.any() and buildings:
        seen[seen] = ~hidden_points(camera_enu, samples[seen], buildings)
    return float(seen.mean())


def _plan_from_view(
    camera: CameraConfig,
    view: View,
    footprint: Polygon,
    coverage: float,
    distance_m: float,
    decision: MaskDecision,
) -> CuePlan:
    """A CuePlan for `view` with its ONVIF units and quality figures."""
    pan = pan_for_bearing_deg(view.bearing_deg, camera.heading_deg)
    px_per_m = camera.image_width_px / (
        2.0 * max(distance_m, 1e-3) * np.tan(np.radians(view.hfov_deg) / 2.0)
    )
    exterior = footprint.exterior.coords if isinstance(footprint, Polygon) else []
    return CuePlan(
        camera_id=camera.id,
        pan_deg=pan,
        tilt_deg=view.tilt_deg,
        hfov_deg=view.hfov_deg,
        bearing_deg=view.bearing_deg,
        onvif_pan=pan_to_onvif(camera, pan),
        onvif_tilt=tilt_to_onvif(camera, view.tilt_deg),
        onvif_zoom=zoom_for_hfov(camera, view.hfov_deg),
        distance_m=distance_m,
        mask_decision=decision,
        coverage=coverage,
        px_per_m=float(px_per_m),
        quality=view_quality(coverage, float(px_per_m)),
        footprint_enu=[(float(x), float(y)) for x, y in exterior],
    )


def plan_camera(
    camera: CameraConfig,
    target: CueTarget,
    frame: LocalFrame,
    buildings: Sequence[BuildingShape] = (),
    holds: Mapping[str, CameraHold] | None = None,
    *,
    margin: float,
) -> CameraOption:
    """Evaluate one camera for `target` (see the module docstring for the checks, in order)."""
    camera_enu = camera_position_enu(camera, frame)
    east, north, _ = frame.to_enu(target.lat, target.lon, frame.origin_height_m)
    target_enu = np.array([east, north, target.height_m])
    framed, distance_m = aim_at(camera, camera_enu, target_enu, target.radius_m, margin)
    pan = pan_for_bearing_deg(framed.bearing_deg, camera.heading_deg)

    def unusable(reason: str, decision: MaskDecision | None = None) -> CameraOption:
        return CameraOption(
            camera_id=camera.id, usable=False, reason=reason, mask_decision=decision
        )

    if distance_m > camera.max_range_m:
        return unusable(f"out of range ({distance_m:.0f} m > {camera.max_range_m:.0f} m)")
    if not camera.pan_min_deg <= pan <= camera.pan_max_deg:
        return unusable(f"pan {pan:.1f}° outside [{camera.pan_min_deg}, {camera.pan_max_deg}]°")
    if not camera.tilt_min_deg <= framed.tilt_deg <= camera.tilt_max_deg:
        return unusable(f"tilt {framed.tilt_deg:.1f}° outside the camera's tilt range")
    blocker = blocking_building(camera_enu, target_enu, buildings)
    if blocker is not None:
        return unusable(f"no line of sight ({blocker.id} is in the way)")
    hold = (holds or {}).get(camera.id)
    if (
        hold is not None
        and hold.incident_id != target.incident_id
        and hold.severity > target.severity
    ):
        return unusable(f"held by more serious incident {hold.incident_id}")

    masks = masks_enu(camera, frame)
    for mask in masks:
        if mask.polygon.contains(Point(target_enu[:2])):
            return unusable(f"the target lies inside privacy mask {mask.id}", MaskDecision.REFUSED)
    fitted = fit_view_to_masks(camera, camera_enu, framed, masks)
    if fitted is None:
        return unusable(
            "refused: every view of the target shows a privacy mask", MaskDecision.REFUSED
        )
    view, decision, footprint = fitted
    coverage = disc_coverage(camera, camera_enu, view, target_enu, target.radius_m, buildings)
    plan = _plan_from_view(camera, view, footprint, coverage, distance_m, decision)
    reason = {
        MaskDecision.CLEAR: "usable",
        MaskDecision.CLIPPED_ZOOM: f"usable; zoom clipped to {view.hfov_deg:.1f}° to avoid a mask",
        MaskDecision.PANNED_AWAY: "usable; panned "
        f"{pan_for_bearing_deg(view.bearing_deg, framed.bearing_deg):+.1f}° away from a mask",
    }[decision]
    return CameraOption(
        camera_id=camera.id, usable=True, reason=reason, plan=plan, mask_decision=decision
    )


def plan_cue(
    cameras: Sequence[CameraConfig],
    target: CueTarget,
    frame: LocalFrame,
    buildings: Sequence[BuildingShape] = (),
    holds: Mapping[str, CameraHold] | None = None,
    *,
    margin: float,
) -> CueDecision:
    """The best camera for `target` (highest view quality, then nearest), with every option."""
    options = [plan_camera(c, target, frame, buildings, holds, margin=margin) for c in cameras]
    plans = [o.plan for o in options if o.plan is not None]
    if not plans:
        reason = "no usable camera" if options else "no camera configured"
        return CueDecision(target=target, plan=None, options=options, reason=reason)
    best = max(plans, key=lambda p: (round(p.quality, 3), -p.distance_m))
    return CueDecision(
        target=target,
        plan=best,
        options=options,
        reason=f"{best.camera_id}: best view quality {best.quality:.2f} of {len(plans)} usable",
    )
