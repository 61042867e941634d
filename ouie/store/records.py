"""What the store accepts from the other concerns: typed records and the allowed vocabularies.

`IncidentRecord` is the one place where an incident (`ouie.core.incident`) becomes a stored row (see
`IncidentRecord.from_incident`); the console reads the ORM rows of `ouie.store.models`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ouie.core.incident import Incident, raises_alert


class DispositionAction(StrEnum):
    """An operator's decision on an incident."""

    CONFIRM = "confirm"
    DISMISS = "dismiss"
    ESCALATE = "escalate"


class DismissReason(StrEnum):
    """Why an incident was dismissed (the observatory counts them)."""

    FIREWORKS = "fireworks"
    CONSTRUCTION = "construction"
    VEHICLE = "vehicle"
    OTHER = "other"


class FieldEvidence(StrEnum):
    """What the field found after an incident (the outcome tier of the observatory)."""

    FOUND = "found"
    """Evidence of what was detected (casings, damage, a victim, a witness)."""
    NOTHING = "nothing"
    """Someone went and found nothing."""
    UNKNOWN = "unknown"
    """Not known (nobody went, or no word came back)."""


class Role(StrEnum):
    """Console roles, least to most powerful in daily operation."""

    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


class CueState(StrEnum):
    """Life of a camera cue: suggested → approved → executed, or refused / failed."""

    SUGGESTED = "suggested"
    APPROVED = "approved"
    EXECUTED = "executed"
    REFUSED = "refused"
    FAILED = "failed"


class IncidentRecord(BaseModel):
    """A located incident as the store keeps it (one row, updated when `revision` grows)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(
        min_length=1, max_length=64, description="Incident id (stable across revisions)."
    )
    class_: str = Field(alias="class", description="ouie event class.")
    onset_ns: int = Field(description="Emission time at the source, UTC ns.")
    lat: float | None = Field(default=None, description="Latitude, degrees; None without a fix.")
    lon: float | None = Field(default=None, description="Longitude, degrees; None without a fix.")
    uncertainty_m: float | None = Field(default=None, ge=0, description="95 % radius, m.")
    ellipse: dict[str, Any] | None = Field(
        default=None, description="95 % ellipse: semi_major_m, semi_minor_m, orientation_deg."
    )
    hyperbola: dict[str, Any] | None = Field(
        default=None, description="For 2-sensor incidents: the branch the source lies on."
    )
    status: str = Field(
        default="fix", description="Fusion status: fix, hyperbola, single, area; or camera."
    )
    score: float | None = Field(
        default=None, ge=0, le=1, description="Highest report score, raised by cameras_heard."
    )
    sensors_used: list[str] = Field(default_factory=list, description="Sensors in the fix.")
    sensors_rejected: list[dict[str, Any]] = Field(
        default_factory=list, description="Left-out reports: sensor_id, report_id, reason."
    )
    report_ids: list[str] = Field(default_factory=list, description="Reports it is made of.")
    assessment: dict[str, Any] | None = Field(
        default=None,
        description="Network confirmation and rank reasons: confirmed, heard_by, "
        "expected_sensors, context_nearby, reasons (`ouie.core.incident.Assessment`).",
    )
    cameras_heard: list[str] = Field(
        default_factory=list, description="Cameras whose own audio detection raised its score."
    )
    revision: int = Field(default=0, ge=0, description="Grows each time late reports improve it.")
    video: dict[str, Any] | None = Field(
        default=None, description="Status camera: camera_id, zone, people, end_ns, ongoing."
    )
    burst: dict[str, Any] | None = Field(
        default=None,
        description="The repeats of one sound folded into it: shots (each as located on its "
        "own), span_s (`ouie.core.incident.Burst`); None: one sound.",
    )

    @property
    def raises_alert(self) -> bool:
        """Whether an operator is alerted by it (`ouie.core.incident.raises_alert`, the one
        rule: video events included)."""
        return raises_alert(self.class_, self.assessment)

    @classmethod
    def from_incident(cls, incident: Incident) -> IncidentRecord:
        """The one mapping from fusion's `ouie.core.incident.Incident` to a stored record."""

        def plain(value: Any) -> Any:
            return value.model_dump(mode="json") if value is not None else None

        return cls(
            id=incident.incident_id,
            class_=str(incident.class_),
            onset_ns=incident.onset_ns,
            lat=incident.lat,
            lon=incident.lon,
            uncertainty_m=incident.uncertainty_m,
            ellipse=plain(incident.ellipse95),
            hyperbola=plain(incident.hyperbola),
            status=str(incident.status),
            score=incident.score,
            sensors_used=list(incident.sensors_used),
            sensors_rejected=[plain(r) for r in incident.sensors_rejected],
            report_ids=list(incident.report_ids),
            assessment=plain(incident.assessment),
            cameras_heard=list(incident.cameras_heard),
            revision=incident.revision,
            video=plain(incident.video),
            burst=plain(incident.burst),
        )
