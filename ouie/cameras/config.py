"""Camera and cueing configuration (YAML, validated by pydantic).

A `CameraConfig` describes one PTZ camera: where it is mounted, how its pan/tilt/zoom map onto
the ONVIF normalized spaces, where its privacy masks are, and how to reach it. Credentials never
live in the YAML: `password_env`/`username_env` name environment variables, or `secret_file`
names a file holding `username:password`; resolved secrets are `SecretStr` so they never appear
in a repr or a log line.

`CueingConfig` holds the deployment decision of coupling sounds to cameras (`CueMode`): `off`
by default, `suggest` (a person approves every move) or `auto`, which the validator accepts only
with a declared `legal_basis` and `dpia` (see docs/cameras.md for the legal references).
"""

from __future__ import annotations

import os
from enum import StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from shapely.geometry import Polygon, shape

from ouie.core.config import ConfigError, StrictModel
from ouie.core.geo import LocalFrame
from ouie.core.site import CameraSite

ONVIF_PAN_TILT_SPACE = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"
ONVIF_ZOOM_SPACE = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"

_CREDENTIAL_KEYS = ("username", "password", "user", "passwd", "credentials")


class ZoomLevel(StrictModel):
    """One calibration point of the zoom: ONVIF normalized zoom ↔ horizontal field of view."""

    onvif_zoom: float = Field(ge=0.0, le=1.0, description="ONVIF zoom, generic space [0, 1].")
    hfov_deg: float = Field(gt=0.0, lt=180.0, description="Horizontal field of view, degrees.")


def _default_zoom_levels() -> list[ZoomLevel]:
    """A typical 30× street PTZ: 60° wide, 2° at full tele."""
    return [
        ZoomLevel(onvif_zoom=0.0, hfov_deg=60.0),
        ZoomLevel(onvif_zoom=0.25, hfov_deg=20.0),
        ZoomLevel(onvif_zoom=0.5, hfov_deg=8.0),
        ZoomLevel(onvif_zoom=1.0, hfov_deg=2.0),
    ]


class PrivacyMask(StrictModel):
    """A zone on the ground the camera must never be cued to show (a dwelling's windows, a
    private courtyard). `polygon` is a GeoJSON Polygon geometry in [lon, lat] degrees."""

    id: str = Field(default="", description="Optional name, e.g. 'courtyard 12 rue Beaubrun'.")
    polygon: dict[str, Any] = Field(description="GeoJSON Polygon geometry, [lon, lat] degrees.")

    @model_validator(mode="after")
    def _is_polygon(self) -> PrivacyMask:
        try:
            geometry = shape(self.polygon)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"polygon is not a GeoJSON geometry ({error})") from None
        if not isinstance(geometry, Polygon) or not geometry.is_valid or geometry.area == 0:
            raise ValueError("polygon must be a valid, non-empty GeoJSON Polygon")
        return self

    def enu_polygon(self, frame: LocalFrame) -> Polygon:
        """The mask as a shapely Polygon in the ENU metres of `frame` (ground, up ignored)."""
        ring = np.asarray(self.polygon["coordinates"][0], dtype=float)
        enu = frame.to_enu(ring[:, 1], ring[:, 0])
        return Polygon(enu[:, :2])


class CameraCredentials(BaseModel):
    """Resolved ONVIF credentials; the password is a SecretStr (never shown)."""

    model_config = ConfigDict(frozen=True)

    username: str
    password: SecretStr


class CameraConfig(StrictModel):
    """One PTZ camera: mounting, PTZ calibration, masks, and how to reach it over ONVIF."""

    id: str = Field(min_length=1, max_length=64, description="Camera id.")
    lat: float = Field(ge=-90, le=90, description="Latitude of the camera, degrees WGS84.")
    lon: float = Field(ge=-180, le=180, description="Longitude of the camera, degrees WGS84.")
    height_m: float = Field(default=6.0, gt=0, description="Mount height above ground, m.")
    heading_deg: float = Field(
        default=0.0, ge=0, lt=360, description="Bearing of pan zero, degrees from north, clockwise."
    )
    pan_min_deg: float = Field(default=-180.0, ge=-180, le=0, description="Pan at ONVIF x = -1.")
    pan_max_deg: float = Field(default=180.0, ge=0, le=180, description="Pan at ONVIF x = +1.")
    tilt_min_deg: float = Field(
        default=-90.0, ge=-90, le=0, description="Tilt at ONVIF y = -1 (negative looks down)."
    )
    tilt_max_deg: float = Field(default=20.0, ge=0, le=90, description="Tilt at ONVIF y = +1.")
    zoom_levels: list[ZoomLevel] = Field(
        default_factory=_default_zoom_levels,
        min_length=2,
        description="Zoom calibration, ONVIF zoom ↔ horizontal FOV; FOV must shrink as zoom grows.",
    )
    image_width_px: int = Field(default=1920, gt=0, description="Image width, pixels.")
    image_height_px: int = Field(default=1080, gt=0, description="Image height, pixels.")
    max_range_m: float = Field(
        default=400.0, gt=0, description="Farthest distance at which a view is still useful, m."
    )
    home_preset: str = Field(default="home", description="ONVIF preset token of the home view.")
    home_pan_deg: float = Field(default=0.0, description="Pan of the home view, degrees.")
    home_tilt_deg: float = Field(default=-10.0, description="Tilt of the home view, degrees.")
    onvif_host: str = Field(default="127.0.0.1", description="ONVIF device host name or IP.")
    onvif_port: int = Field(default=80, gt=0, lt=65536, description="ONVIF device port.")
    username_env: str | None = Field(
        default=None, description="Environment variable holding the ONVIF user name."
    )
    password_env: str | None = Field(
        default=None, description="Environment variable holding the ONVIF password."
    )
    secret_file: Path | None = Field(
        default=None, description="File holding 'username:password' (instead of the env vars)."
    )
    masks: list[PrivacyMask] = Field(
        default_factory=list, description="Privacy masks on the ground (GeoJSON polygons)."
    )
    audio_events: bool = Field(
        default=False,
        description="Subscribe (ONVIF PullPoint) to the camera's own audio detections: they "
        "may confirm an incident the sensors located, never make one (docs/integrations.md).",
    )
    vms_refs: dict[str, str] = Field(
        default_factory=dict,
        description="This camera's id in each VMS that receives ouie's alerts, by VMS name "
        "(e.g. nx: '{camera uuid}', milestone: its address in XProtect); see docs/integrations.md.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_secrets_in_yaml(cls, data: Any) -> Any:
        if isinstance(data, dict):
            present = [key for key in _CREDENTIAL_KEYS if key in data]
            if present:
                raise ValueError(
                    f"credentials never go in the configuration ({', '.join(present)} found): "
                    "name environment variables with username_env/password_env, or a "
                    "'username:password' file with secret_file"
                )
        return data

    @model_validator(mode="after")
    def _zoom_is_monotonic(self) -> CameraConfig:
        zooms = [level.onvif_zoom for level in self.zoom_levels]
        fovs = [level.hfov_deg for level in self.zoom_levels]
        if any(b <= a for a, b in pairwise(zooms)):
            raise ValueError("zoom_levels: onvif_zoom must strictly increase")
        if any(b >= a for a, b in pairwise(fovs)):
            raise ValueError("zoom_levels: hfov_deg must strictly decrease as zoom grows")
        return self

    @property
    def widest_hfov_deg(self) -> float:
        """Horizontal FOV at zoom 0 (widest), degrees."""
        return self.zoom_levels[0].hfov_deg

    @property
    def narrowest_hfov_deg(self) -> float:
        """Horizontal FOV at full zoom (narrowest), degrees."""
        return self.zoom_levels[-1].hfov_deg

    def credentials(self) -> CameraCredentials:
        """Resolve the ONVIF credentials from the environment or the secret file.

        Raises ConfigError naming the variable or file that is missing (never its content)."""
        if self.secret_file is not None:
            try:
                text = self.secret_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ConfigError(
                    f"camera {self.id}: secret_file {self.secret_file}: {error.strerror}"
                ) from None
            username, sep, password = text.partition(":")
            if not sep or not username:
                raise ConfigError(
                    f"camera {self.id}: secret_file {self.secret_file} must hold "
                    "'username:password' on one line"
                )
            return CameraCredentials(username=username, password=SecretStr(password))
        missing = [
            name
            for name in (self.username_env, self.password_env)
            if name is None or name not in os.environ
        ]
        if missing or self.username_env is None or self.password_env is None:
            shown = ", ".join(str(m) for m in missing) or "username_env/password_env"
            raise ConfigError(
                f"camera {self.id}: no credentials: set environment variable(s) {shown}, "
                "or give secret_file"
            )
        return CameraCredentials(
            username=os.environ[self.username_env],
            password=SecretStr(os.environ[self.password_env]),
        )


class CueMode(StrEnum):
    """How sounds may move cameras (a deployment decision, audited)."""

    OFF = "off"
    SUGGEST = "suggest"
    AUTO = "auto"


class CueingConfig(StrictModel):
    """The coupling of incidents to cameras. `auto` needs a declared legal basis and DPIA."""

    mode: CueMode = Field(
        default=CueMode.OFF,
        description="off: no camera moves; suggest: a person approves each move; auto: moves "
        "at once (only with legal_basis and dpia).",
    )
    legal_basis: str | None = Field(
        default=None, description="Text reference of the legal basis for automatic cueing."
    )
    dpia: str | None = Field(
        default=None, description="Reference of the data-protection impact assessment."
    )
    return_home_after_s: float = Field(
        default=120.0, gt=0, description="A cued camera returns to its home view after this, s."
    )
    frame_margin: float = Field(
        default=1.3, ge=1.0, description="The view spans this times the uncertainty diameter."
    )
    move_timeout_s: float = Field(
        default=5.0, gt=0, description="Longest wait for GetStatus to confirm a move, s."
    )
    suggestion_ttl_s: float = Field(
        default=300.0, gt=0, description="A suggestion not approved within this expires, s."
    )

    @model_validator(mode="after")
    def _auto_needs_legal_basis(self) -> CueingConfig:
        if self.mode is CueMode.AUTO:
            missing = [
                name for name in ("legal_basis", "dpia") if not (getattr(self, name) or "").strip()
            ]
            if missing:
                raise ValueError(
                    "mode 'auto' moves cameras without a person deciding, so it needs a declared "
                    f"legal_basis and dpia; missing: {', '.join(missing)}. Declare them, or use "
                    "mode 'suggest'"
                )
        return self


class CamerasConfig(StrictModel):
    """A cameras file: the cueing decision, the cameras, and the privacy masks every camera
    must respect (a courtyard is private whichever camera looks at it)."""

    cueing: CueingConfig = Field(default_factory=CueingConfig)
    cameras: list[CameraConfig] = Field(default_factory=list)
    masks: list[PrivacyMask] = Field(
        default_factory=list, description="Privacy masks applied to every camera."
    )

    @model_validator(mode="after")
    def _shared_masks_apply_to_every_camera(self) -> CamerasConfig:
        """Add the shared masks to each camera's own (once: a mask already there is kept)."""
        for camera in self.cameras:
            camera.masks.extend(m for m in self.masks if m not in camera.masks)
        return self


def camera_from_site(site: CameraSite, **overrides: Any) -> CameraConfig:
    """A CameraConfig for a scenario's camera site with sensible defaults (30× PTZ, 400 m)."""
    base: dict[str, Any] = {
        "id": site.id,
        "lat": site.lat,
        "lon": site.lon,
        "height_m": site.height_m,
        "heading_deg": site.heading_deg,
    }
    return CameraConfig.model_validate(base | overrides)
