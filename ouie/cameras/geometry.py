"""PTZ geometry in the local ENU frame: aim, frame, project, and the ground footprint of a view.

Conventions (all angles in degrees):
- bearing: from north, clockwise (east = 90°); pan = bearing − heading of pan zero, in (−180, 180];
- tilt: elevation of the optical axis, negative looking down;
- hfov/vfov: full horizontal/vertical field of view of a rectilinear (pinhole) image;
- ground is the plane up = 0 of the scenario's ENU frame (flat-city approximation: over 400 m
  the Earth's curvature drops the ground by r²/2R ≈ 13 mm).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon

from ouie.cameras.config import CameraConfig
from ouie.core.geo import LocalFrame

Vec3 = NDArray[np.float64]

MAX_FRAMING_HFOV_DEG = 170.0


def wrap_deg(angle_deg: float) -> float:
    """Wrap an angle into (−180, 180] degrees."""
    wrapped = (angle_deg + 180.0) % 360.0 - 180.0
    return 180.0 if wrapped == -180.0 else wrapped


def bearing_deg(east_m: float, north_m: float) -> float:
    """Bearing of the horizontal vector (east, north): β = atan2(east, north), in [0, 360)."""
    return float(np.degrees(np.arctan2(east_m, north_m)) % 360.0)


def pan_for_bearing_deg(bearing: float, heading_deg: float) -> float:
    """Pan that points at `bearing` for a camera whose pan zero looks at `heading_deg`:
    pan = wrap(β − heading)."""
    return wrap_deg(bearing - heading_deg)


def tilt_to_target_deg(horizontal_distance_m: float, height_difference_m: float) -> float:
    """Tilt to a target `height_difference_m` below the camera (camera − target, m) at
    `horizontal_distance_m`: tilt = −atan2(Δh, d) (negative looks down)."""
    return float(-np.degrees(np.arctan2(height_difference_m, horizontal_distance_m)))


def hfov_to_frame_deg(radius_m: float, distance_m: float, margin: float = 1.0) -> float:
    """Horizontal FOV that spans a disc of `radius_m` seen from `distance_m` with `margin`:
    hfov = 2·atan(margin·r / d), capped at 170° (the camera is inside or at the disc's edge)."""
    if distance_m <= 0:
        return MAX_FRAMING_HFOV_DEG
    hfov = float(2.0 * np.degrees(np.arctan2(margin * radius_m, distance_m)))
    return min(hfov, MAX_FRAMING_HFOV_DEG)


def zoom_for_hfov(camera: CameraConfig, hfov: float) -> float:
    """ONVIF zoom in [0, 1] giving `hfov`, by piecewise-linear interpolation of the camera's
    zoom calibration (clamped to the widest/narrowest view)."""
    fovs = np.array([level.hfov_deg for level in camera.zoom_levels])[::-1]
    zooms = np.array([level.onvif_zoom for level in camera.zoom_levels])[::-1]
    return float(np.interp(hfov, fovs, zooms))


def hfov_for_zoom(camera: CameraConfig, zoom: float) -> float:
    """Horizontal FOV at ONVIF `zoom` (inverse of `zoom_for_hfov`), degrees."""
    zooms = np.array([level.onvif_zoom for level in camera.zoom_levels])
    fovs = np.array([level.hfov_deg for level in camera.zoom_levels])
    return float(np.interp(zoom, zooms, fovs))


def _to_unit(value: float, low: float, high: float) -> float:
    """Linear map of [low, high] onto the ONVIF generic space [−1, 1]:
    u = −1 + 2(v − low)/(high − low), clipped."""
    return float(np.clip(-1.0 + 2.0 * (value - low) / (high - low), -1.0, 1.0))


def _from_unit(unit: float, low: float, high: float) -> float:
    """Inverse of `_to_unit`: v = low + (u + 1)(high − low)/2."""
    return float(low + (unit + 1.0) * (high - low) / 2.0)


def pan_to_onvif(camera: CameraConfig, pan_deg: float) -> float:
    """ONVIF pan x ∈ [−1, 1] for `pan_deg` (linear over [pan_min_deg, pan_max_deg])."""
    return _to_unit(pan_deg, camera.pan_min_deg, camera.pan_max_deg)


def onvif_to_pan(camera: CameraConfig, x: float) -> float:
    """Pan in degrees for ONVIF pan x (inverse of `pan_to_onvif`)."""
    return _from_unit(x, camera.pan_min_deg, camera.pan_max_deg)


def tilt_to_onvif(camera: CameraConfig, tilt_deg: float) -> float:
    """ONVIF tilt y ∈ [−1, 1] for `tilt_deg` (linear over [tilt_min_deg, tilt_max_deg])."""
    return _to_unit(tilt_deg, camera.tilt_min_deg, camera.tilt_max_deg)


def onvif_to_tilt(camera: CameraConfig, y: float) -> float:
    """Tilt in degrees for ONVIF tilt y (inverse of `tilt_to_onvif`)."""
    return _from_unit(y, camera.tilt_min_deg, camera.tilt_max_deg)


def camera_position_enu(camera: CameraConfig, frame: LocalFrame) -> Vec3:
    """The camera's optical centre in ENU metres: its ground point raised by `height_m`."""
    east, north, _ = frame.to_enu(camera.lat, camera.lon, frame.origin_height_m)
    return np.array([east, north, camera.height_m], dtype=float)


def camera_basis(
    bearing: float | NDArray[np.float64], tilt: float | NDArray[np.float64]
) -> tuple[Vec3, Vec3, Vec3]:
    """Unit (forward, right, up) vectors of a view at `bearing`, `tilt` (degrees; scalars give
    shape (3,), arrays of V views give (V, 3)):
    f = (sinβ cosτ, cosβ cosτ, sinτ), r = (cosβ, −sinβ, 0), u = r × f."""
    b, t = np.radians(bearing), np.radians(tilt)
    forward = np.stack([np.sin(b) * np.cos(t), np.cos(b) * np.cos(t), np.sin(t)], axis=-1)
    right = np.stack([np.cos(b), -np.sin(b), np.zeros_like(b)], axis=-1)
    return forward, right, np.cross(right, forward)


@dataclass(frozen=True)
class View:
    """Where a camera looks: bearing and tilt of the optical axis and horizontal FOV (degrees)."""

    bearing_deg: float
    tilt_deg: float
    hfov_deg: float


@dataclass(frozen=True)
class PtzPosition:
    """A PTZ position in ONVIF generic-space units: pan x, tilt y ∈ [−1, 1], zoom ∈ [0, 1]."""

    pan: float
    tilt: float
    zoom: float

    def clipped(self) -> PtzPosition:
        """The same position clipped into the generic spaces."""
        return PtzPosition(
            float(np.clip(self.pan, -1, 1)),
            float(np.clip(self.tilt, -1, 1)),
            float(np.clip(self.zoom, 0, 1)),
        )


def focal_length_px(hfov_deg: float | NDArray[np.float64], width_px: float) -> NDArray[np.float64]:
    """Pinhole focal length in pixels of an image `width_px` wide: f_px = (W/2)/tan(hfov/2)
    (element-wise for an array of hfovs)."""
    return np.asarray((width_px / 2.0) / np.tan(np.radians(hfov_deg) / 2.0))


def project_points(
    points_enu: NDArray[np.float64],
    camera_enu: Vec3,
    view: View,
    width_px: int,
    height_px: int,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Pinhole projection of ENU points (N, 3) to pixel (col, row), and a mask of points in
    front of the camera. With v = P − C: x = v·r, y = v·u, z = v·f, focal f_px = (W/2)/tan(hfov/2),
    col = W/2 + f_px·x/z, row = H/2 − f_px·y/z."""
    forward, right, up = camera_basis(view.bearing_deg, view.tilt_deg)
    rel = np.atleast_2d(points_enu) - camera_enu
    depth = rel @ forward
    focal_px = focal_length_px(view.hfov_deg, width_px)
    safe = np.where(depth > 1e-6, depth, 1e-6)
    cols = width_px / 2.0 + focal_px * (rel @ right) / safe
    rows = height_px / 2.0 - focal_px * (rel @ up) / safe
    return np.stack([cols, rows], axis=-1), depth > 1e-6


def pixel_rays(
    view: View, width_px: int, height_px: int, cols: NDArray[np.float64], rows: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Direction vectors (…, 3) through pixel centres (col, row) (inverse of `project_points`):
    d = f + ((col − W/2)/f_px)·r − ((row − H/2)/f_px)·u."""
    forward, right, up = camera_basis(view.bearing_deg, view.tilt_deg)
    focal_px = focal_length_px(view.hfov_deg, width_px)
    dx = (np.asarray(cols) - width_px / 2.0) / focal_px
    dy = (np.asarray(rows) - height_px / 2.0) / focal_px
    return forward + dx[..., None] * right - dy[..., None] * up


def ground_hits(
    camera_enu: Vec3, rays: NDArray[np.float64], max_range_m: float
) -> NDArray[np.float64]:
    """Where rays from the camera meet the ground (up = 0), as (…, 2) east/north metres.

    A ray meets the ground at s = −h/d_z when d_z < 0; rays that never meet it, or meet it
    beyond `max_range_m` horizontally, are cut at `max_range_m` along their horizontal direction
    (what is farther is not usefully seen)."""
    horizontal = rays[..., :2]
    horizontal_norm = np.linalg.norm(horizontal, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(rays[..., 2] < 0, -camera_enu[2] / rays[..., 2], np.inf)
        reach = s * horizontal_norm
        reach = np.where(reach > max_range_m, max_range_m, reach)
        unit = horizontal / np.where(horizontal_norm > 0, horizontal_norm, 1.0)[..., None]
    return camera_enu[:2] + unit * reach[..., None]


def ground_footprints(
    camera_enu: Vec3,
    views: Sequence[View],
    width_px: int,
    height_px: int,
    max_range_m: float,
    samples_per_edge: int = 12,
) -> NDArray[np.object_]:
    """The ground seen by each view (up to `max_range_m`), as an array of shapely polygons:
    the ring traced by the image border's rays where they meet the ground (`ground_hits`),
    computed for all views at once (the rays of `pixel_rays`, batched over views)."""
    t = np.linspace(0.0, 1.0, samples_per_edge, endpoint=False)
    w, h = float(width_px), float(height_px)
    cols = np.concatenate([t * w, np.full_like(t, w), (1 - t) * w, np.zeros_like(t)])
    rows = np.concatenate([np.zeros_like(t), t * h, np.full_like(t, h), (1 - t) * h])
    bearings = np.array([v.bearing_deg for v in views], dtype=float)
    tilts = np.array([v.tilt_deg for v in views], dtype=float)
    focal_px = focal_length_px(np.array([v.hfov_deg for v in views]), w)
    forward, right, up = camera_basis(bearings, tilts)
    dx = (cols - w / 2.0)[None, :] / focal_px[:, None]
    dy = (rows - h / 2.0)[None, :] / focal_px[:, None]
    rays = forward[:, None, :] + dx[..., None] * right[:, None, :] - dy[..., None] * up[:, None, :]
    footprints = shapely.polygons(ground_hits(camera_enu, rays, max_range_m))
    invalid = ~shapely.is_valid(footprints)
    footprints[invalid] = shapely.buffer(footprints[invalid], 0)
    return footprints


def ground_footprint(
    camera_enu: Vec3,
    view: View,
    width_px: int,
    height_px: int,
    max_range_m: float,
    samples_per_edge: int = 12,
) -> Polygon:
    """The ground seen by one view (see `ground_footprints`)."""
    footprint: Polygon = ground_footprints(
        camera_enu, [view], width_px, height_px, max_range_m, samples_per_edge
    )[0]
    return footprint


def aim_at(
    camera: CameraConfig,
    camera_enu: Vec3,
    target_enu: Vec3,
    radius_m: float,
    margin: float,
) -> tuple[View, float]:
    """The view framing a target disc (centre `target_enu`, radius `radius_m`) with `margin`,
    and the horizontal distance to it (m). The FOV is clamped to what the zoom can do."""
    east, north = target_enu[0] - camera_enu[0], target_enu[1] - camera_enu[1]
    distance_m = float(np.hypot(east, north))
    hfov = hfov_to_frame_deg(radius_m, distance_m, margin)
    hfov = float(np.clip(hfov, camera.narrowest_hfov_deg, camera.widest_hfov_deg))
    tilt = tilt_to_target_deg(distance_m, camera_enu[2] - target_enu[2])
    return View(bearing_deg(east, north), tilt, hfov), distance_m
