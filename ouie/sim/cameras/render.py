"""Synthetic camera views of a scenario: what the virtual PTZ camera's snapshot shows.

The ground (up = 0) is ray-cast per pixel and painted with a 10 m/50 m survey grid; buildings are
extruded footprints drawn far-to-near (painter's algorithm) after clipping at a near plane;
privacy masks are blacked out on the ground, as a real camera's masking does; marked sources
(the simulated sound) get a red ring and label when in view and not hidden by a building. An
on-screen line gives the camera id, pan/tilt/zoom and the UTC time.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from ouie.cameras.geometry import (
    Vec3,
    View,
    camera_basis,
    focal_length_px,
    ground_hits,
    pixel_rays,
    project_points,
)
from ouie.cameras.planning import BuildingShape, MaskShape, blocking_building

NEAR_PLANE_M = 0.5
SKY_TOP = np.array([92, 140, 200], dtype=float)
SKY_HORIZON = np.array([190, 210, 228], dtype=float)
GROUND_A = np.array([118, 118, 112], dtype=float)
GROUND_B = np.array([132, 130, 122], dtype=float)
GRID_MINOR = np.array([96, 96, 92], dtype=float)
GRID_MAJOR = np.array([230, 225, 190], dtype=float)
HAZE = np.array([200, 205, 210], dtype=float)
WALL = np.array([181, 150, 120], dtype=float)
ROOF = np.array([150, 80, 60], dtype=float)
SUN_DIRECTION = np.array([0.5, -0.6, 0.62])  # from the south-east, up


@dataclass(frozen=True)
class Mark:
    """A point to mark in the view when it is visible (the simulated source), ENU metres."""

    enu: tuple[float, float, float]
    label: str


@dataclass
class Scene:
    """What a virtual camera can see: buildings, its privacy masks and marked sources (ENU)."""

    buildings: list[BuildingShape] = field(default_factory=list)
    masks: list[MaskShape] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def _ground_colours(ground: NDArray[np.float64], distance_m: NDArray[np.float64]) -> NDArray:
    """Checker of 10 m tiles with minor lines every 10 m and major lines every 50 m, hazed with
    distance (blend factor 1 − exp(−d/400 m))."""
    east, north = ground[..., 0], ground[..., 1]
    tile = (np.floor(east / 10.0) + np.floor(north / 10.0)) % 2
    colour = np.where(tile[..., None] > 0, GROUND_A, GROUND_B)
    width_m = np.clip(distance_m * 0.004, 0.15, 2.0)
    minor = (np.abs((east + 5) % 10 - 5) < width_m / 2) | (
        np.abs((north + 5) % 10 - 5) < width_m / 2
    )
    major = (np.abs((east + 25) % 50 - 25) < width_m) | (np.abs((north + 25) % 50 - 25) < width_m)
    colour = np.where(minor[..., None], GRID_MINOR, colour)
    colour = np.where(major[..., None], GRID_MAJOR, colour)
    haze = 1.0 - np.exp(-distance_m / 400.0)
    return colour * (1 - haze[..., None]) + HAZE * haze[..., None]


def _clip_near(points: NDArray[np.float64], camera_enu: Vec3, forward: Vec3) -> NDArray:
    """Clip a 3D polygon to the half-space in front of the near plane (Sutherland–Hodgman with
    one plane: keep depth ≥ NEAR_PLANE_M, insert crossings at t = (near − d₀)/(d₁ − d₀))."""
    depth = (points - camera_enu) @ forward
    kept = []
    for i in range(len(points)):
        p0, p1, d0, d1 = (
            points[i],
            points[(i + 1) % len(points)],
            depth[i],
            depth[(i + 1) % len(points)],
        )
        if d0 >= NEAR_PLANE_M:
            kept.append(p0)
        if (d0 >= NEAR_PLANE_M) != (d1 >= NEAR_PLANE_M):
            kept.append(p0 + (NEAR_PLANE_M - d0) / (d1 - d0) * (p1 - p0))
    return np.array(kept)


def _building_faces(building: BuildingShape) -> list[tuple[NDArray[np.float64], Vec3]]:
    """Wall quads and the roof of an extruded footprint, each with its outward normal."""
    ring = np.asarray(building.polygon.exterior.coords)[:-1]
    if not building.polygon.exterior.is_ccw:
        ring = ring[::-1]
    h = building.height_m
    faces = []
    for (x0, y0), (x1, y1) in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        quad = np.array([[x0, y0, 0.0], [x1, y1, 0.0], [x1, y1, h], [x0, y0, h]])
        normal = np.array([y1 - y0, -(x1 - x0), 0.0])
        faces.append((quad, normal / (np.linalg.norm(normal) or 1.0)))
    roof = np.column_stack([ring, np.full(len(ring), h)])
    faces.append((roof, np.array([0.0, 0.0, 1.0])))
    return faces


def _draw_buildings(
    draw: ImageDraw.ImageDraw,
    buildings: Sequence[BuildingShape],
    camera_enu: Vec3,
    view: View,
    size: tuple[int, int],
) -> None:
    """Fill the visible faces of every building, farthest first, shaded by the sun (Lambert)."""
    forward, _, _ = camera_basis(view.bearing_deg, view.tilt_deg)
    sun = SUN_DIRECTION / np.linalg.norm(SUN_DIRECTION)
    faces = []
    for building in buildings:
        for points, normal in _building_faces(building):
            centre = points.mean(axis=0)
            if normal @ (camera_enu - centre) <= 0:  # back face
                continue
            clipped = _clip_near(points, camera_enu, forward)
            if len(clipped) < 3:
                continue
            base = ROOF if normal[2] > 0.5 else WALL
            shade = base * (0.55 + 0.45 * max(0.0, float(normal @ sun)))
            faces.append((float(np.linalg.norm(centre - camera_enu)), clipped, shade))
    for _, points, shade in sorted(faces, key=lambda f: -f[0]):
        pixels, _ = project_points(points, camera_enu, view, *size)
        colour = tuple(int(c) for c in np.clip(shade, 0, 255))
        draw.polygon([tuple(p) for p in pixels], fill=colour, outline=(60, 50, 45))


def render_view(
    scene: Scene,
    camera_enu: Vec3,
    view: View,
    width_px: int = 640,
    height_px: int = 360,
    caption: str = "",
) -> Image.Image:
    """The synthetic image of `scene` seen from `camera_enu` with `view`."""
    cols, rows = np.meshgrid(np.arange(width_px) + 0.5, np.arange(height_px) + 0.5)
    rays = pixel_rays(view, width_px, height_px, cols, rows)
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    elevation = rays[..., 2]
    sky_mix = np.clip(elevation / 0.5, 0, 1)[..., None]
    image = SKY_HORIZON * (1 - sky_mix) + SKY_TOP * sky_mix
    looks_down = elevation < -1e-4
    ground = ground_hits(camera_enu, rays, max_range_m=20_000.0)
    distance_m = np.linalg.norm(ground - camera_enu[:2], axis=-1)
    image = np.where(looks_down[..., None], _ground_colours(ground, distance_m), image)
    for mask in scene.masks:
        inside = shapely.contains_xy(mask.polygon, ground[..., 0], ground[..., 1]) & looks_down
        image[inside] = 0.0
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    _draw_buildings(draw, scene.buildings, camera_enu, view, (width_px, height_px))
    for mark in scene.marks:
        _draw_mark(draw, mark, scene, camera_enu, view, (width_px, height_px))
    if caption:
        draw.rectangle((0, 0, width_px, 14), fill=(0, 0, 0))
        draw.text((4, 2), caption, fill=(255, 255, 255))
    return picture


def _draw_mark(
    draw: ImageDraw.ImageDraw,
    mark: Mark,
    scene: Scene,
    camera_enu: Vec3,
    view: View,
    size: tuple[int, int],
) -> None:
    """A red ring (2 m radius, at least 6 px) and label on a visible marked source."""
    point = np.array(mark.enu, dtype=float)
    pixels, in_front = project_points(point, camera_enu, view, *size)
    col, row = pixels[0]
    if not in_front[0] or not (0 <= col < size[0] and 0 <= row < size[1]):
        return
    if blocking_building(camera_enu, point, scene.buildings) is not None:
        return
    forward, _, _ = camera_basis(view.bearing_deg, view.tilt_deg)
    focal_px = focal_length_px(view.hfov_deg, size[0])
    radius = max(6.0, focal_px * 2.0 / float((point - camera_enu) @ forward))
    draw.ellipse(
        (col - radius, row - radius, col + radius, row + radius), outline=(230, 20, 20), width=3
    )
    draw.text((col + radius + 3, row - 6), mark.label, fill=(255, 40, 40))


def png_bytes(picture: Image.Image) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
