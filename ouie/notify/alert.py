"""What every output formats: one `Alert` about one incident at one moment of its life.

An incident's life as the outputs see it (`AlertPhase`): raised when fusion first stores it,
updated when late reports revise it, then confirmed, escalated or dismissed by an operator.
Each alert is numbered within its incident (`sequence` 1, 2, …) and knows the messages sent
before it (`previous`), so CAP can reference them; receivers de-duplicate on `message_id`.
The fields are the console's (class, position, uncertainty, status, sensors, score,
decision): no audio, no speech, nothing about people (DESIGN.md principles 1–3).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ouie.core.classes import VIDEO_EVENT_KINDS, EventClass, VideoEventKind
from ouie.core.geo import great_circle_distance_m
from ouie.core.timebase import ns_to_iso
from ouie.store.records import DispositionAction, IncidentRecord


class AlertPhase(StrEnum):
    """Where the incident is in its life when the alert is made."""

    RAISED = "raised"
    UPDATED = "updated"
    CONFIRMED = "confirmed"
    ESCALATED = "escalated"
    DISMISSED = "dismissed"

    @classmethod
    def of_disposition(cls, action: DispositionAction) -> AlertPhase:
        """The phase an operator's decision puts the incident in."""
        return {
            DispositionAction.CONFIRM: cls.CONFIRMED,
            DispositionAction.ESCALATE: cls.ESCALATED,
            DispositionAction.DISMISS: cls.DISMISSED,
        }[DispositionAction(action)]

    @property
    def decided(self) -> bool:
        """Whether a person has confirmed or escalated the incident."""
        return self in (AlertPhase.CONFIRMED, AlertPhase.ESCALATED)


class CameraRef(BaseModel):
    """A camera as the outputs name it: where it is, how far it sees, and its id in each VMS
    (`vms_refs`, e.g. {'nx': '{3f…}', 'milestone': '10.0.0.21'}) from the cameras file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="ouie camera id.")
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees WGS84.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees WGS84.")
    max_range_m: float = Field(gt=0, description="Farthest useful distance, m.")
    vms_refs: dict[str, str] = Field(
        default_factory=dict, description="The camera's reference in each VMS, by VMS name."
    )


class SentMessage(BaseModel):
    """An earlier message about the same incident (what CAP's <references> lists)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: str
    sent_ns: int = Field(description="When it was made, UTC ns.")


class Alert(BaseModel):
    """One message-worthy moment of one incident (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    incident: IncidentRecord
    phase: AlertPhase
    sequence: int = Field(ge=1, description="1 for the first alert about this incident, then +1.")
    sent_ns: int = Field(description="When the alert was made, UTC ns.")
    previous: tuple[SentMessage, ...] = Field(
        default=(), description="Alerts already made about this incident, oldest first."
    )
    dismiss_reason: str | None = Field(default=None, description="Why it was dismissed.")
    loudness_dbfs: float | None = Field(
        default=None, description="Loudest peak level among its reports, dBFS (when known)."
    )
    cameras: tuple[CameraRef, ...] = Field(
        default=(), description="Cameras in range of the incident, nearest first."
    )

    @property
    def message_id(self) -> str:
        """'ouie-{incident id}-{revision}-{phase}': the same for the same state of the same
        incident, on every retry and after a restart (a receiver that sees it twice keeps one
        copy), and new for every new state."""
        return f"ouie-{self.incident.id}-{self.incident.revision}-{self.phase.value}"

    @property
    def event_class(self) -> EventClass | VideoEventKind:
        """The incident's class: a sound class, or a camera's video event kind."""
        if self.incident.class_ in VIDEO_EVENT_KINDS:
            return VideoEventKind(self.incident.class_)
        return EventClass(self.incident.class_)

    @property
    def video(self) -> dict[str, Any] | None:
        """What the camera saw (camera_id, zone, people, end_ns, ongoing; no identity) for a
        video event; None for a sound."""
        return self.incident.video if self.incident.class_ in VIDEO_EVENT_KINDS else None

    @property
    def located(self) -> bool:
        """Whether the incident has a position (fix, single or area; not a hyperbola)."""
        return self.incident.lat is not None and self.incident.lon is not None

    @property
    def sent_utc(self) -> str:
        """sent_ns as ISO 8601 UTC with µs and 'Z'."""
        return ns_to_iso(self.sent_ns)

    @property
    def onset_utc(self) -> str:
        """The emission instant at the source, ISO 8601 UTC with µs and 'Z'."""
        return ns_to_iso(self.incident.onset_ns)

    def caption(self) -> str:
        """One line for a person: 'Gunshot heard (±35 m), 3 sensors'; a video event: 'Intrusion
        seen by camera cam-1, zone tracks, 2 people'."""
        name = self.event_class.value.replace("_", " ").capitalize()
        if self.video is not None:
            what = "crossing(s)" if self.event_class is VideoEventKind.WRONG_WAY else "people"
            return (
                f"{name} seen by camera {self.video.get('camera_id')}, zone "
                f"{self.video.get('zone')}, {self.video.get('people')} {what}"
            )
        where = (
            f" (±{self.incident.uncertainty_m:.0f} m)"
            if self.incident.uncertainty_m is not None and self.located
            else ""
        )
        return f"{name} heard{where}, {len(self.incident.sensors_used)} sensor(s)"

    def description(self) -> str:
        """The console's fields for a person, one sentence each."""
        record = self.incident
        parts = [f"{self.caption()} at {self.onset_utc}."]
        if self.video is not None:
            parts.append(self._video_text(self.video))
        elif self.located:
            within = f", 95 % within {record.uncertainty_m:.0f} m" if record.uncertainty_m else ""
            parts.append(f"Position {record.lat:.5f}, {record.lon:.5f} ({record.status}{within}).")
        else:
            parts.append(f"Not located ({record.status}).")
        if record.score is not None:
            parts.append(f"Detector score {record.score:.2f}.")
        if record.cameras_heard:
            cameras = ", ".join(record.cameras_heard)
            parts.append(f"Also heard by the audio detector of camera(s) {cameras}.")
        parts.append(f"Operator decision: {self._decision_text()}.")
        return " ".join(parts)

    @staticmethod
    def _video_text(video: dict[str, Any]) -> str:
        """What the camera's analysis says, in words: still going on or its end, the peak
        density; no image, nothing about who."""
        if video.get("ongoing"):
            text = "Seen on the camera's own stream, still going on."
        else:
            text = f"Seen on the camera's own stream until {ns_to_iso(int(video['end_ns']))}."
        if video.get("peak_people_per_m2") is not None:
            text += f" Peak density {float(video['peak_people_per_m2']):.2f} people/m²."
        return text

    def _decision_text(self) -> str:
        if self.phase is AlertPhase.DISMISSED:
            return f"dismissed ({self.dismiss_reason or 'no reason given'})"
        if self.phase.decided:
            return str(self.phase)
        return "pending"


def cameras_in_range(record: IncidentRecord, cameras: list[CameraRef]) -> tuple[CameraRef, ...]:
    """The cameras whose `max_range_m` reaches the incident's position, nearest first (none
    for an incident without a position)."""
    if record.lat is None or record.lon is None:
        return ()
    lat, lon = record.lat, record.lon
    ranged = [(great_circle_distance_m(c.lat, c.lon, lat, lon), c) for c in cameras]
    return tuple(c for d, c in sorted(ranged, key=lambda dc: dc[0]) if d <= c.max_range_m)


def synthetic_gunshot(sent_ns: int = 1_796_000_000_000_000_000) -> Alert:
    """A located gunshot raised 0.8 s after it was heard, for `ouie notify sample` and tests:
    4 sensors, 95 % within 18 m, in Saint-Étienne (Tarentaize)."""
    record = IncidentRecord(
        id="3f9c2a61d4e0b7a5",
        class_="gunshot",
        onset_ns=sent_ns - 800_000_000,
        lat=45.44012,
        lon=4.38451,
        uncertainty_m=18.0,
        ellipse={"semi_major_m": 14.0, "semi_minor_m": 8.0, "orientation_deg": 35.0},
        status="fix",
        score=0.93,
        sensors_used=["s07", "s08", "s12", "s15"],
        report_ids=["s07-000041", "s08-000039", "s12-000017", "s15-000022"],
        revision=1,
    )
    camera = CameraRef(
        id="cam-tarentaize",
        lat=45.4405,
        lon=4.3841,
        max_range_m=400.0,
        vms_refs={"nx": "{6a1c0f52-7d33-4f6e-9a2b-0c4f1e9d8b71}", "milestone": "10.20.0.31"},
    )
    return Alert(
        incident=record,
        phase=AlertPhase.RAISED,
        sequence=1,
        sent_ns=sent_ns,
        loudness_dbfs=-9.5,
        cameras=cameras_in_range(record, [camera]),
    )
