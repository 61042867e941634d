"""A located incident, contract `ouie.incident/1`: what fusion emits, the central service stores
and publishes on `ouie/v1/incidents`, and the console and cameras read.

Statuses say how much the geometry allows (no fake points):

- `fix`: ≥ 3 consistent sensors, a 2-D position with covariance, 95 % ellipse and radius;
- `hyperbola`: 2 sensors, the source lies on one branch of a hyperbola (`hyperbola.points`);
  `lat`/`lon` are None;
- `single`: 1 sensor, the source is somewhere around it: `lat`/`lon` are the sensor's and
  `uncertainty_m` is the configured hearing radius;
- `area`: a siren or alarm heard by sensor after sensor (`ouie.fusion.episodes`): `lat`/`lon`
  the energy centroid of those sensors, `uncertainty_m` the circle that holds them;
- `camera`: seen on a camera's own stream (`ouie.video`): the class is a `VideoEventKind`,
  `video` says which camera and zone and how many people (no identity), `lat`/`lon` are the
  camera's mounting when known; no sensors, no reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from ouie.core.classes import ALERTING_CLASSES, VIDEO_EVENT_KINDS, EventClass, VideoEventKind
from ouie.core.timebase import ns_to_iso

INCIDENT_SCHEMA: Literal["ouie.incident/1"] = "ouie.incident/1"

AlertSection = Literal["alert", "unconfirmed", "context"]


def is_alerting(class_: str) -> bool:
    """Whether an incident of this class is for an operator to decide (not context): the
    alerting sound classes (gunshot, explosion, scream, glass breaking) and the camera's video
    events (intrusion, wrong way, density).

    The decision for video events: they are alerts. A zone, a line and a threshold were drawn
    on purpose by whoever declared the analysis (legal basis and DPIA), so an event is what
    they asked to be told of; the camera saw it, and the network of microphones has nothing to
    confirm (they are never 'unconfirmed': fusion assesses sounds only). What they do not do:
    move a camera (they have no position of their own), or leave the console by themselves —
    a notify output sends them only when its `video_events` is on (docs/integrations.md)."""
    return class_ in ALERTING_CLASSES or class_ in VIDEO_EVENT_KINDS


def alert_section(class_: str, assessment: Mapping[str, Any] | None) -> AlertSection:
    """The one rule for where an incident stands (console section, notify, cueing, demo
    counts): 'context' for sirens, alarms and fireworks; 'unconfirmed' for an alerting class
    that fusion's assessment marks not confirmed (`Assessment.confirmed` False); otherwise
    'alert'. `assessment` is the `Assessment` as a mapping (the stored JSON), None when none."""
    if not is_alerting(class_):
        return "context"
    return "alert" if (assessment or {}).get("confirmed", True) else "unconfirmed"


def raises_alert(class_: str, assessment: Mapping[str, Any] | None) -> bool:
    """Whether an operator is alerted by it: `alert_section` is 'alert'."""
    return alert_section(class_, assessment) == "alert"


class IncidentStatus(StrEnum):
    """How well an incident is located."""

    FIX = "fix"
    HYPERBOLA = "hyperbola"
    SINGLE = "single"
    AREA = "area"
    CAMERA = "camera"


class Ellipse95(BaseModel):
    """The 95 % confidence ellipse of a 2-D position."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    semi_major_m: float = Field(ge=0, description="Semi-major axis, m.")
    semi_minor_m: float = Field(ge=0, description="Semi-minor axis, m.")
    orientation_deg: float = Field(
        ge=0, lt=180, description="Bearing of the major axis, degrees clockwise from north."
    )


class Hyperbola(BaseModel):
    """Where a 2-sensor incident can be: the branch ‖p − s_far‖ − ‖p − s_near‖ = Δd."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    near_sensor_id: str = Field(description="The sensor that heard the sound first.")
    far_sensor_id: str = Field(description="The sensor that heard it second.")
    range_difference_m: float = Field(ge=0, description="Δd = c·(t_far − t_near), m.")
    points: list[tuple[float, float]] = Field(
        description="The branch as a polyline of (lat, lon), degrees WGS84."
    )


class RejectedSensor(BaseModel):
    """A report left out of the fix, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor_id: str
    report_id: str
    reason: str = Field(description="Why, for a person, e.g. 'onset 12.3 σ late (NLOS?)'.")


class VideoSighting(BaseModel):
    """What a camera's analysis saw: where, when and how many; never who."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(description="The camera whose stream was analysed.")
    zone: str = Field(description="The zone or line of that camera's configuration.")
    people: int = Field(ge=1, description="Most people in the zone at once; wrong_way: crossings.")
    end_ns: int = Field(description="Last instant the condition held (so far, if ongoing), UTC ns.")
    ongoing: bool = Field(description="The episode goes on (a later revision closes it).")
    peak_people_per_m2: float | None = Field(default=None, description="density: the highest.")


class Assessment(BaseModel):
    """Whether the network confirms an alerting incident, and what else an operator should know
    to rank it (`ouie.fusion.confirmation`); words first, for the console."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    confirmed: bool = Field(
        description="Heard by as many sensors as the geometry says should have (never raised "
        "as an alert when False: shown apart as 'unconfirmed')."
    )
    heard_by: int = Field(ge=0, description="Sensors whose reports it holds (used or left out).")
    expected_sensors: int = Field(
        ge=0,
        description="Sensors within the class's sure range of the source (those that heard it "
        "included): the ones that should have heard it.",
    )
    context_nearby: bool = Field(
        default=False,
        description="Fireworks were heard nearby shortly before: a firecracker is likely, rank "
        "lowered.",
    )
    reasons: list[str] = Field(
        default_factory=list, description="Why it ranks where it does, in an operator's words."
    )


class Shot(BaseModel):
    """One sound of a burst, as fusion located it on its own (`Burst`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    incident_id: str = Field(description="The id it had before it was folded (never shown).")
    onset_ns: int = Field(description="Its emission instant (a fix) or first arrival, UTC ns.")
    status: IncidentStatus
    east_m: float | None = Field(default=None, description="East in the local ENU frame, m.")
    north_m: float | None = Field(default=None, description="North in the local ENU frame, m.")
    covariance_m2: list[list[float]] | None = Field(
        default=None, description="2×2 covariance of (east, north), m² (fix only)."
    )
    uncertainty_m: float | None = Field(default=None, description="Its 95 % radius, m.")
    sensors_used: list[str] = Field(description="Sensor ids whose reports located it.")
    report_ids: list[str] = Field(description="Its reports.")


class Burst(BaseModel):
    """Repeats of one alerting sound (the shots of a burst, an explosion's later bangs) folded
    into one alert that grows (`ouie.fusion.bursts`); additive to `ouie.incident/1`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shots: list[Shot] = Field(min_length=2, description="Its sounds, in onset order.")

    @model_validator(mode="before")
    @classmethod
    def _drop_derived(cls, data: Any) -> Any:
        """Accept our own JSON back: `span_s` is derived."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k != "span_s"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def span_s(self) -> float:
        """From the first shot's onset to the last's, s."""
        return (self.shots[-1].onset_ns - self.shots[0].onset_ns) / 1e9


class Incident(BaseModel):
    """A sound heard by one or more sensors, located as well as the geometry allows."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["ouie.incident/1"] = Field(
        default=INCIDENT_SCHEMA, alias="schema", description="Contract name and version."
    )
    incident_id: str = Field(description="Stable id across revisions.")
    revision: int = Field(ge=1, description="Increases each time late reports improve it.")
    class_: EventClass | VideoEventKind = Field(
        alias="class", description="Score-weighted vote of its reports; camera: the video event."
    )
    status: IncidentStatus
    onset_ns: int = Field(description="Estimated emission instant at the source, UTC ns.")
    onset_uncertainty_s: float | None = Field(
        default=None, description="1-σ uncertainty of onset_ns (fix only), s."
    )
    lat: float | None = Field(default=None, description="Latitude, degrees WGS84.")
    lon: float | None = Field(default=None, description="Longitude, degrees WGS84.")
    east_m: float | None = Field(default=None, description="East in the local ENU frame, m.")
    north_m: float | None = Field(default=None, description="North in the local ENU frame, m.")
    covariance_m2: list[list[float]] | None = Field(
        default=None, description="2×2 covariance of (east, north), m² (fix only)."
    )
    ellipse95: Ellipse95 | None = Field(default=None, description="95 % ellipse (fix only).")
    uncertainty_m: float | None = Field(
        default=None,
        description="Radius of the circle holding the source with 95 % probability, m "
        "(fix; for single, the hearing radius; for area, the circle holding its sensors; None for "
        "hyperbola).",
    )
    hyperbola: Hyperbola | None = Field(default=None, description="Only for status hyperbola.")
    residual_rms_s: float | None = Field(
        default=None, description="RMS onset residual of the sensors used (fix only), s."
    )
    sensors_used: list[str] = Field(description="Sensor ids whose reports located it.")
    sensors_rejected: list[RejectedSensor] = Field(default_factory=list)
    report_ids: list[str] = Field(description="Every report associated with it (used or not).")
    score: float = Field(
        ge=0,
        le=1,
        description="Highest detector score among its reports, raised by the cameras that heard "
        "it (`cameras_heard`, `ouie.fusion.corroboration`); camera status: 1.",
    )
    cameras_heard: list[str] = Field(
        default_factory=list,
        description="Cameras whose own audio detector heard it (ONVIF audio events): each raised "
        "the score; none moved the position.",
    )
    video: VideoSighting | None = Field(default=None, description="Only for status camera.")
    assessment: Assessment | None = Field(
        default=None,
        description="Network confirmation and rank reasons (alerting classes, when the policy "
        "is on); None: not assessed.",
    )

    burst: Burst | None = Field(
        default=None,
        description="The repeats of one sound folded into it (a burst of shots); None: one "
        "sound. Its position is the best located shot's.",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_derived(cls, data: Any) -> Any:
        """Accept our own JSON back: `onset_utc` and `n_sensors` are derived, not inputs."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in ("onset_utc", "n_sensors")}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def onset_utc(self) -> str:
        """onset_ns as ISO 8601 UTC with microseconds."""
        return ns_to_iso(self.onset_ns)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def n_sensors(self) -> int:
        """Number of sensors used for the position."""
        return len(self.sensors_used)

    @property
    def section(self) -> AlertSection:
        """Alert, unconfirmed or context (`alert_section`, the one rule)."""
        return alert_section(self.class_, self.assessment.model_dump() if self.assessment else None)

    @property
    def alerting(self) -> bool:
        """Whether its class raises an incident for an operator (vs. context): `is_alerting`."""
        return is_alerting(self.class_)

    @property
    def unconfirmed(self) -> bool:
        """Alerting, but fewer sensors heard it than the geometry says should have."""
        return self.section == "unconfirmed"

    @property
    def raises_alert(self) -> bool:
        """Whether an operator is alerted by it (`raises_alert`)."""
        return self.section == "alert"

    def to_json(self) -> str:
        """The wire form, with `class` as the field name (and the derived `onset_utc`,
        `n_sensors`, for people and dashboards)."""
        return self.model_dump_json(by_alias=True)

    @classmethod
    def from_json(cls, payload: str | bytes) -> Incident:
        """Parse the wire form (raises pydantic.ValidationError naming the bad field)."""
        return cls.model_validate_json(payload)
