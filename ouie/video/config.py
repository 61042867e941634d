"""Video-analysis configuration (YAML, validated by pydantic; errors name the field).

A `VideoConfig` holds the deployment decision (`enabled`, off by default; enabling needs a
declared `legal_basis` and `dpia`, like the cameras' `auto` cue mode) and, per camera, its
source, analysis rate, perspective prior, and the zones and lines drawn in image pixels with the
events each raises, their schedule and thresholds.
"""

from __future__ import annotations

from datetime import datetime, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from annotated_types import Len
from pydantic import Field, field_validator, model_validator
from shapely.geometry import Polygon

from ouie.core.classes import VideoEventKind
from ouie.core.config import ConfigError, StrictModel, load_yaml_config

PointPx = Annotated[list[float], Len(2, 2)]
"""An image point [x, y] in pixels (x to the right, y down, origin at the top-left corner)."""

PointM = Annotated[list[float], Len(2, 2)]
"""A ground point [x, y] in metres, in any flat frame of the site."""


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Days in `datetime.weekday()` order."""


def _every_day() -> list[Day]:
    return list(DAYS)


def _wrong_way_only() -> list[Literal[VideoEventKind.WRONG_WAY]]:
    return [VideoEventKind.WRONG_WAY]


class TimeWindow(StrictModel):
    """A daily window of local time when a zone or line is watched; `end` before `start` runs
    past midnight (22:00–06:00)."""

    start: time = Field(description="Local time the window opens, HH:MM.")
    end: time = Field(description="Local time the window closes, HH:MM (before start: next day).")
    days: list[Day] = Field(default_factory=_every_day, description="Days the window opens on.")

    def contains(self, local: datetime) -> bool:
        """Whether the local time `local` falls in the window (a window past midnight belongs
        to the day it opens)."""
        now = local.time()
        if self.start <= self.end:
            return DAYS[local.weekday()] in self.days and self.start <= now < self.end
        if now >= self.start:
            return DAYS[local.weekday()] in self.days
        return now < self.end and DAYS[(local.weekday() - 1) % 7] in self.days


def _active(schedule: list[TimeWindow], local: datetime) -> bool:
    """An empty schedule is always active."""
    return not schedule or any(window.contains(local) for window in schedule)


class Zone(StrictModel):
    """A polygon where people must not stay (`intrusion`) or must not crowd (`density`),
    drawn on the image (`polygon_px`) or on the ground (`polygon_m`, where the camera's
    `ground_points` give the image ↔ ground homography). A person is in the zone when the
    bottom centre of their box (their feet) is."""

    id: str = Field(min_length=1, max_length=64, description="Zone name, shown in events.")
    polygon_px: list[PointPx] | None = Field(
        default=None, min_length=3, description="Image polygon [[x, y], …], pixels."
    )
    polygon_m: list[PointM] | None = Field(
        default=None,
        min_length=3,
        description="Or a ground polygon [[x, y], …], metres, in the frame of ground_points.",
    )
    events: list[Literal[VideoEventKind.INTRUSION, VideoEventKind.DENSITY]] = Field(
        min_length=1, description="Events this zone raises: intrusion and/or density."
    )
    schedule: list[TimeWindow] = Field(
        default_factory=list, description="When the zone is watched; empty: always."
    )
    min_dwell_s: float = Field(
        default=5.0, gt=0, description="intrusion: the zone holds somebody at least this long, s."
    )
    ground_area_m2: float | None = Field(
        default=None, gt=0, description="Ground area of the zone, m² (density; or ground_points)."
    )
    max_people_per_m2: float | None = Field(
        default=None, gt=0, description="density: people per m² above which it is an event."
    )
    min_density_s: float = Field(
        default=3.0, gt=0, description="density: the density stays over the limit this long, s."
    )

    @model_validator(mode="after")
    def _is_simple_polygon(self) -> Zone:
        if (self.polygon_px is None) == (self.polygon_m is None):
            raise ValueError(f"zone {self.id}: give one of polygon_px and polygon_m")
        name, points = (
            ("polygon_px", self.polygon_px)
            if self.polygon_px is not None
            else ("polygon_m", self.polygon_m)
        )
        polygon = Polygon(points)
        if not polygon.is_valid or polygon.area == 0:
            raise ValueError(f"zone {self.id}: {name} must be a simple, non-empty polygon")
        if VideoEventKind.DENSITY in self.events and self.max_people_per_m2 is None:
            raise ValueError(f"zone {self.id}: density needs max_people_per_m2")
        return self

    def active(self, local: datetime) -> bool:
        """Whether the zone is watched at local time `local`."""
        return _active(self.schedule, local)


class Line(StrictModel):
    """A segment on the image that people may cross only one way (`wrong_way`). The allowed
    way is a vector in image pixels, e.g. [1, 0] = towards the right of the image."""

    id: str = Field(min_length=1, max_length=64, description="Line name, shown in events.")
    a_px: PointPx = Field(description="One end [x, y], pixels.")
    b_px: PointPx = Field(description="The other end [x, y], pixels.")
    allowed_direction_px: PointPx = Field(
        description="The way people may cross, an image vector [dx, dy] (not along the line)."
    )
    events: list[Literal[VideoEventKind.WRONG_WAY]] = Field(
        default_factory=_wrong_way_only, description="Events: wrong_way."
    )
    schedule: list[TimeWindow] = Field(
        default_factory=list, description="When the line is watched; empty: always."
    )
    merge_gap_s: float = Field(
        default=3.0, ge=0, description="Wrong-way crossings closer than this make one event, s."
    )
    recross_s: float = Field(
        default=1.0,
        ge=0,
        description="The same track crossing this line again within this long is not counted "
        "again (a feet point jittering on the line), s; not longer, since merging and splitting "
        "blobs pass a track from one person to the next (docs/results/video.md).",
    )

    @model_validator(mode="after")
    def _direction_crosses_the_line(self) -> Line:
        along = np.subtract(self.b_px, self.a_px)
        length = float(np.hypot(*along))
        if length == 0:
            raise ValueError(f"line {self.id}: a_px and b_px are the same point")
        direction = np.asarray(self.allowed_direction_px, float)
        norm = float(np.hypot(*direction))
        if (
            norm == 0
            or abs(float(along[0] * direction[1] - along[1] * direction[0])) / (length * norm) < 0.1
        ):
            raise ValueError(
                f"line {self.id}: allowed_direction_px must cross the line (it is along it or zero)"
            )
        return self

    def active(self, local: datetime) -> bool:
        """Whether the line is watched at local time `local`."""
        return _active(self.schedule, local)


class PersonScale(StrictModel):
    """How tall a standing person looks, in pixels, with the feet at two image rows; linear in
    between and beyond (a flat ground seen by a fixed camera). It sizes the expected person."""

    near_y_px: float = Field(ge=0, description="An image row low in the picture (feet), pixels.")
    near_height_px: float = Field(gt=0, description="Person height with the feet there, pixels.")
    far_y_px: float = Field(ge=0, description="An image row higher up (feet), pixels.")
    far_height_px: float = Field(gt=0, description="Person height with the feet there, pixels.")

    @model_validator(mode="after")
    def _two_rows(self) -> PersonScale:
        if self.near_y_px == self.far_y_px:
            raise ValueError("near_y_px and far_y_px must differ")
        return self

    def height_px(self, feet_y_px: np.ndarray | float) -> np.ndarray:
        """h(y) = h_far + (y − y_far)·(h_near − h_far)/(y_near − y_far), at least 4 px."""
        slope = (self.near_height_px - self.far_height_px) / (self.near_y_px - self.far_y_px)
        return np.maximum(4.0, self.far_height_px + (np.asarray(feet_y_px) - self.far_y_px) * slope)


class GroundPoint(StrictModel):
    """One point seen on the image and measured on the ground (for zone areas)."""

    px: PointPx = Field(description="Image point [x, y], pixels.")
    m: PointM = Field(description="The same point on the ground [x, y], metres.")


class DetectorConfig(StrictModel):
    """How people are found. `mog2` (default) and `knn` are background subtraction (moving and
    recently moved people; a blob is split into people by its area over the expected person's);
    `hog` is OpenCV's HOG people detector (slower: see docs/video.md for the measured trade)."""

    method: Literal["mog2", "knn", "hog"] = Field(default="mog2", description="Detector.")
    downscale: float = Field(
        default=0.5, gt=0, le=1, description="Background subtraction works on the image × this."
    )
    background_history_s: float = Field(
        default=40.0,
        gt=0,
        description="Background memory, s (a still person fades after ≈ 0.1 × this).",
    )
    variance_threshold: float = Field(
        default=16.0, gt=0, description="mog2: squared Mahalanobis distance to be foreground."
    )
    silhouette_fill: float = Field(
        default=0.6,
        gt=0,
        le=2,
        description="Foreground area of one person over h × 0.4 h (h: expected height); "
        "chosen on the first 40 s of vtest.avi (docs/results/video.md).",
    )
    hog_upscale: float = Field(
        default=1.5, gt=0, description="hog: the image is enlarged by this (people < 128 px)."
    )


class VideoCamera(StrictModel):
    """One camera's analysis: where its stream is, how often a frame is analysed, how big a
    person looks, and its zones and lines."""

    id: str = Field(min_length=1, max_length=64, description="Camera id.")
    source: str | None = Field(
        default=None, description="Video file path or stream URL (rtsp://…); the CLI may give it."
    )
    analysis_fps: float = Field(
        default=5.0, gt=0, le=30, description="Frames analysed per second of video."
    )
    ptz: bool = Field(
        default=False,
        description="A PTZ camera: analysed only while it reports its home position.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone of the schedules.")
    person_scale: PersonScale = Field(description="Person height in pixels at two image rows.")
    ground_points: list[GroundPoint] | None = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="Four image ↔ ground points: zone areas in m² from the homography.",
    )
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    zones: list[Zone] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _density_has_an_area(self) -> VideoCamera:
        names = [zone.id for zone in self.zones] + [line.id for line in self.lines]
        if len(set(names)) != len(names):
            raise ValueError(f"camera {self.id}: zone and line ids must be unique")
        for zone in self.zones:
            if zone.polygon_m is not None and self.ground_points is None:
                raise ValueError(
                    f"camera {self.id}: zone {zone.id}: polygon_m needs the camera's ground_points"
                )
            if (
                VideoEventKind.DENSITY in zone.events
                and zone.ground_area_m2 is None
                and self.ground_points is None
            ):
                raise ValueError(
                    f"camera {self.id}: zone {zone.id}: density needs ground_area_m2 or the "
                    "camera's ground_points"
                )
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        """The schedules' time zone."""
        return ZoneInfo(self.timezone)

    def image_to_ground(self) -> np.ndarray:
        """The 3 × 3 homography H from image pixels to ground metres through the four
        `ground_points`: [x_m, y_m, 1]ᵀ ∝ H · [x_px, y_px, 1]ᵀ. Raises ValueError without them."""
        if self.ground_points is None:
            raise ValueError(f"camera {self.id} has no ground_points")
        import cv2

        image = np.asarray([point.px for point in self.ground_points], np.float32)
        ground = np.asarray([point.m for point in self.ground_points], np.float32)
        return np.asarray(cv2.getPerspectiveTransform(image, ground), float)

    def zone_polygon_px(self, zone: Zone) -> list[tuple[float, float]]:
        """The zone on the image: `polygon_px`, or `polygon_m` mapped by H⁻¹."""
        if zone.polygon_px is not None:
            return [(x, y) for x, y in zone.polygon_px]
        assert zone.polygon_m is not None
        return [tuple(p) for p in _transform(np.linalg.inv(self.image_to_ground()), zone.polygon_m)]

    def zone_area_m2(self, zone: Zone) -> float | None:
        """The zone's ground area: declared, else its ground polygon's, else its image polygon
        mapped to the ground by H; None when none of these is known."""
        if zone.ground_area_m2 is not None:
            return zone.ground_area_m2
        if zone.polygon_m is not None:
            return float(Polygon(zone.polygon_m).area)
        if self.ground_points is None or zone.polygon_px is None:
            return None
        return float(Polygon(_transform(self.image_to_ground(), zone.polygon_px)).area)


def _transform(homography: np.ndarray, points: list[list[float]]) -> np.ndarray:
    """Points mapped by a homography: (x', y') = (h₁·p, h₂·p) / (h₃·p), p = (x, y, 1)."""
    homogeneous = np.column_stack([np.asarray(points, float), np.ones(len(points))])
    mapped = homogeneous @ homography.T
    return mapped[:, :2] / mapped[:, 2:3]


class VideoConfig(StrictModel):
    """A video-analysis file: the declared decision to analyse, and the cameras."""

    enabled: bool = Field(
        default=False, description="Analyse video at all (needs legal_basis and dpia)."
    )
    legal_basis: str | None = Field(
        default=None, description="Text reference of the legal basis for analysing the streams."
    )
    dpia: str | None = Field(
        default=None, description="Reference of the data-protection impact assessment."
    )
    cameras: list[VideoCamera] = Field(default_factory=list)

    @model_validator(mode="after")
    def _enabling_needs_a_declaration(self) -> VideoConfig:
        if self.enabled:
            missing = [
                name for name in ("legal_basis", "dpia") if not (getattr(self, name) or "").strip()
            ]
            if missing:
                raise ValueError(
                    "video analysis watches people in public space, so enabling it needs a "
                    f"declared legal_basis and dpia; missing: {', '.join(missing)}. Declare "
                    "them, or leave enabled: false"
                )
        return self

    def camera(self, camera_id: str | None) -> VideoCamera:
        """The camera named `camera_id`, or the only one. Raises ConfigError otherwise."""
        if camera_id is None:
            if len(self.cameras) != 1:
                ids = ", ".join(camera.id for camera in self.cameras) or "none"
                raise ConfigError(f"name the camera to analyse (cameras: {ids})")
            return self.cameras[0]
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise ConfigError(f"no camera {camera_id!r} in the video configuration")


def load_video_config(path: str | Path) -> VideoConfig:
    """Read and validate a video-analysis YAML file (see `VideoConfig`); a camera `source`
    that is a relative file path is resolved beside the file."""
    config = load_yaml_config(path, VideoConfig)
    base = Path(path).resolve().parent
    cameras = [
        camera.model_copy(update={"source": str(base / camera.source)})
        if camera.source is not None
        and "://" not in camera.source
        and not Path(camera.source).is_absolute()
        else camera
        for camera in config.cameras
    ]
    return config.model_copy(update={"cameras": cameras})
