"""Cameras' own audio detections (`ouie.core.camera_sound.CameraSound`) as low-weight reports:
they may confirm an incident the sensors located, never make or move one.

A sound a camera at distance d from the incident's position heard at `heard_ns` matches the
incident (class compatible with it, onset τ) when

- d ≤ R, the hearing range of the incident's class (the camera's microphone hears as a sensor);
- −CAMERA_CLOCK_SLACK_S ≤ (heard_ns − τ) − d/c ≤ camera_sound_latency_s: the camera cannot
  stamp the sound before it reached it, give or take its clock as far as ouie can tell it
  (whole seconds), and its detector and clock add at most that latency.

Without a position (a hyperbola), d is taken to the nearest sensor the incident used.
A match raises the incident's score s, for each camera once, by the camera's score q (1 when
it gives none) at weight w (`camera_sound_weight`):

    s' = 1 − (1 − s)·(1 − w·q)

(a noisy-OR: the sensors and the camera are taken as independent witnesses, the camera
discounted by w). With w = 0.3 a camera sure of a gunshot takes 0.60 to 0.72.
"""

from __future__ import annotations

import math

from ouie.core.camera_sound import CameraSound
from ouie.core.incident import Incident
from ouie.fusion.config import FusionConfig

CAMERA_CLOCK_SLACK_S = 1.0
"""How early a camera's stamp may look: its clock is known to whole seconds only, s."""


def corroborated_score(score: float, camera_scores: list[float | None], weight: float) -> float:
    """s' = 1 − (1 − s)·∏(1 − w·q_i), q_i = 1 for a camera without a score."""
    miss = 1.0 - score
    for q in camera_scores:
        miss *= 1.0 - weight * (1.0 if q is None else q)
    return 1.0 - miss


def lag_miss_s(
    sound: CameraSound, incident: Incident, distance_m: float, config: FusionConfig
) -> float | None:
    """How far the sound's stamp is from its expected arrival at the camera, |s|, or None
    when the camera could not have heard this incident (module docstring)."""
    if distance_m > config.range_m(incident.class_):
        return None
    lag_s = (sound.heard_ns - incident.onset_ns) / 1e9 - distance_m / config.speed_of_sound_mps
    if not -CAMERA_CLOCK_SLACK_S <= lag_s <= config.camera_sound_latency_s:
        return None
    return abs(lag_s)


def distance_to_camera_m(
    incident: Incident,
    camera_enu_m: tuple[float, float],
    sensors_enu_m: dict[str, tuple[float, float]],
) -> float:
    """From the camera to the incident's position, or to the nearest sensor it used, m."""
    east, north = camera_enu_m
    if incident.east_m is not None and incident.north_m is not None:
        return math.hypot(incident.east_m - east, incident.north_m - north)
    points = [sensors_enu_m[s] for s in incident.sensors_used if s in sensors_enu_m]
    return min((math.hypot(e - east, n - north) for e, n in points), default=math.inf)
