"""What the console's API returns: typed views of the store's rows, the map and the cue policy.

The same views travel on the live feed (`LiveFeed.publish(kind, view.model_dump(...))`), so a row
in the list and a row pushed live have one shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ouie.core.incident import alert_section
from ouie.core.site import Building, Origin
from ouie.core.timebase import ns_to_iso
from ouie.store.models import (
    AuditEntryRow,
    ClassProfileRow,
    CueRow,
    DispositionRow,
    IncidentImageRow,
    IncidentRow,
    OutcomeRow,
    SensorRow,
)


class _View(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class SensorView(_View):
    """A sensor on the map."""

    id: str
    lat: float
    lon: float
    online: bool
    status: str = Field(description="Last status text, e.g. 'online', 'offline', 'silent'.")
    last_seen_utc: str | None

    @classmethod
    def of(cls, row: SensorRow) -> SensorView:
        """View of a stored sensor."""
        seen = ns_to_iso(row.last_seen_ns) if row.last_seen_ns else None
        return cls(
            id=row.id,
            lat=row.lat,
            lon=row.lon,
            online=row.online,
            status=row.status,
            last_seen_utc=seen,
        )


class CameraView(_View):
    """A camera on the map: where it is and where it looks now."""

    id: str
    lat: float
    lon: float
    bearing_deg: float = Field(description="Bearing of the optical axis, degrees from north.")
    tilt_deg: float = Field(description="Tilt, degrees (negative looks down).")
    hfov_deg: float = Field(description="Horizontal field of view, degrees.")
    state: str = Field(description="'home', 'cued' (held for an incident), or 'unreachable'.")


CLASS_SEVERITY: dict[str, float] = {
    "explosion": 4.0,
    "gunshot": 4.0,
    "scream": 3.0,
    "glass_break": 2.0,
    "intrusion": 2.0,
    "density": 2.0,
    "wrong_way": 1.0,
}
"""How grave an alerting class or video event is, for the operator's ranking (context classes:
0): a camera's events rank below the sounds of violence, a wrong way below an intrusion."""
CONTEXT_PENALTY = 2.0
"""Rank taken off a gunshot or explosion with fireworks heard nearby just before."""


def incident_section(row: IncidentRow) -> str:
    """Where the console lists it: 'alert' (raises an alert), 'unconfirmed' (alerting class the
    network does not confirm) or 'context' (sirens, alarms, fireworks): `alert_section`."""
    return alert_section(row.class_, row.assessment)


def incident_rank(row: IncidentRow) -> float:
    """Order within a section, higher first: severity(class) + score + min(sensors, 5)/10
    − CONTEXT_PENALTY when fireworks were heard nearby (the console puts open ones first)."""
    context = (row.assessment or {}).get("context_nearby", False)
    return (
        CLASS_SEVERITY.get(row.class_, 0.0)
        + (row.score or 0.0)
        + min(len(row.sensors_used), 5) / 10.0
        - (CONTEXT_PENALTY if context else 0.0)
    )


class IncidentSummary(_View):
    """An incident in the live list and on the map."""

    id: str
    class_: str = Field(alias="class")
    onset_ns: int
    onset_utc: str
    lat: float | None
    lon: float | None
    uncertainty_m: float | None = Field(description="95 % radius, m.")
    status: str = Field(description="Location status from fusion.")
    sensors_used: list[str]
    hyperbola: list[tuple[float, float]] | None = Field(
        default=None, description="2-sensor incidents: the branch the source lies on, (lat, lon)."
    )
    revision: int
    disposition: str | None = Field(description="Latest decision; None while open.")
    video: dict[str, Any] | None = Field(
        default=None,
        description="Status camera: camera_id, zone, people, end_ns, ongoing (no identity).",
    )
    score: float | None = Field(default=None, description="Highest detector score.")
    section: str = Field(
        default="context", description="'alert', 'unconfirmed' or 'context' (`incident_section`)."
    )
    rank: float = Field(default=0.0, description="Order within its section (`incident_rank`).")
    reasons: list[str] = Field(
        default_factory=list, description="Why it is raised and ranked so, in words."
    )

    @classmethod
    def of(cls, row: IncidentRow) -> IncidentSummary:
        """View of a stored incident."""
        return cls(
            id=row.id,
            class_=row.class_,
            onset_ns=row.onset_ns,
            onset_utc=ns_to_iso(row.onset_ns),
            lat=row.lat,
            lon=row.lon,
            uncertainty_m=row.uncertainty_m,
            status=row.status,
            sensors_used=list(row.sensors_used),
            hyperbola=[tuple(p) for p in row.hyperbola["points"]] if row.hyperbola else None,
            revision=row.revision,
            disposition=row.disposition,
            video=row.video,
            score=row.score,
            section=incident_section(row),
            rank=round(incident_rank(row), 3),
            reasons=list((row.assessment or {}).get("reasons", [])),
        )


class CueView(_View):
    """A proposed or executed camera cue."""

    id: int
    camera_id: str
    mode: str
    state: str
    pan_deg: float | None
    tilt_deg: float | None
    zoom: float | None
    latency_s: float | None = Field(description="End of sound → camera command, s.")

    @classmethod
    def of(cls, row: CueRow) -> CueView:
        """View of a stored cue."""
        return cls(
            id=row.id,
            camera_id=row.camera_id,
            mode=row.mode,
            state=row.state,
            pan_deg=row.pan_deg,
            tilt_deg=row.tilt_deg,
            zoom=row.zoom,
            latency_s=row.latency_s,
        )


class DispositionView(_View):
    """One decision on an incident."""

    action: str
    reason: str | None
    note: str
    actor: str
    at_utc: str

    @classmethod
    def of(cls, row: DispositionRow) -> DispositionView:
        """View of a stored disposition."""
        return cls(
            action=row.action,
            reason=row.reason,
            note=row.note,
            actor=row.actor,
            at_utc=ns_to_iso(row.at_ns),
        )


class OutcomeView(_View):
    """What happened in the field after an incident, as last recorded."""

    dispatched: bool | None = Field(description="A unit was sent; None: not known.")
    evidence: str = Field(description="found, nothing or unknown.")
    note: str
    actor: str
    at_utc: str

    @classmethod
    def of(cls, row: OutcomeRow) -> OutcomeView:
        """View of a stored outcome."""
        return cls(
            dispatched=row.dispatched,
            evidence=row.evidence,
            note=row.note,
            actor=row.actor,
            at_utc=ns_to_iso(row.at_ns),
        )


class ProfileView(_View):
    """A class profile: its settings, whether it is in force now, and who set it."""

    name: str
    spec: dict[str, Any] = Field(description="The profile (`ouie.fusion.profiles.ClassProfile`).")
    summary: str = Field(description="What it does, in one line.")
    active_now: bool
    actor: str
    updated_utc: str

    @classmethod
    def of(cls, row: ClassProfileRow, summary: str, active_now: bool) -> ProfileView:
        """View of a stored profile."""
        return cls(
            name=row.name,
            spec=row.spec,
            summary=summary,
            active_now=active_now,
            actor=row.actor,
            updated_utc=ns_to_iso(row.updated_at_ns),
        )


class LookView(_View):
    """The answer to an operator's "look here": which camera turned, or why none did."""

    moved: bool
    camera_id: str | None = None
    bearing_deg: float | None = Field(default=None, description="Bearing commanded, degrees.")
    distance_m: float | None = Field(default=None, description="Camera to the place, m.")
    message: str = Field(description="For the operator.")


class ImageView(_View):
    """An image an operator saved on the incident (its bytes: `GET …/images/{id}`)."""

    id: int
    camera_id: str
    blurred: bool
    saved_by: str
    saved_at_utc: str
    reason: str

    @classmethod
    def of(cls, row: IncidentImageRow) -> ImageView:
        """View of a saved image, without its bytes."""
        return cls(
            id=row.id,
            camera_id=row.camera_id,
            blurred=row.blurred,
            saved_by=row.saved_by,
            saved_at_utc=ns_to_iso(row.saved_at_ns),
            reason=row.reason,
        )


class IncidentDetail(IncidentSummary):
    """The incident page: the summary plus its sensors left out, cues, decisions, field
    outcome and the images operators saved."""

    sensors_rejected: list[str] = Field(description="'sensor: why' for each report left out.")
    report_ids: list[str]
    cameras_heard: list[str] = Field(
        default_factory=list, description="Cameras whose own audio detection confirmed it."
    )
    cues: list[CueView]
    dispositions: list[DispositionView]
    outcome: OutcomeView | None = Field(default=None, description="None: not recorded yet.")
    ellipse: dict[str, Any] | None = Field(
        default=None, description="95 % ellipse: semi_major_m, semi_minor_m, orientation_deg."
    )
    images: list[ImageView] = Field(default_factory=list)


class AuditEntryView(_View):
    """One link of the audit chain."""

    seq: int
    at_utc: str
    action: str
    actor: str
    subject: str
    details: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, row: AuditEntryRow) -> AuditEntryView:
        """View of a stored audit entry."""
        return cls(
            seq=row.seq,
            at_utc=ns_to_iso(row.at_ns),
            action=row.action,
            actor=row.actor,
            subject=row.subject,
            details=row.details,
            hash=row.hash,
        )


class AuditPage(_View):
    """The newest audit entries (filtered), the chain's length and whether it verifies."""

    total: int
    chain_ok: bool
    problems: list[str]
    chain_checked_at_ns: int = Field(description="When the chain was last verified, UTC ns.")
    entries: list[AuditEntryView]


class CuePolicyView(_View):
    """The cue mode in force, shown in every page's banner."""

    mode: str = Field(description="off, suggest or auto.")
    legal_basis: str | None = Field(default=None, description="Declared for auto.")
    dpia: str | None = Field(default=None, description="Impact assessment reference, for auto.")


class BuildingOutline(_View):
    """A building drawn on the offline map."""

    id: str
    ring: list[tuple[float, float]] = Field(description="Footprint as (lat, lon) pairs.")


class MapView(_View):
    """Where the map opens and what it draws without tiles."""

    lat: float
    lon: float
    zoom: int = 17
    buildings: list[BuildingOutline] = Field(default_factory=list)

    @classmethod
    def of_site(cls, origin: Origin, buildings: Sequence[Building], zoom: int = 17) -> MapView:
        """Centred on the site's origin, with its buildings as outlines."""
        outlines = [
            BuildingOutline(id=b.id, ring=[(lat, lon) for lon, lat in b.footprint])
            for b in buildings
        ]
        return cls(lat=origin.lat, lon=origin.lon, zoom=zoom, buildings=outlines)


class Overview(_View):
    """What every page needs first: the cue banner and the map."""

    cue: CuePolicyView
    map: MapView
    tile_url: str | None = Field(description="Tile URL template; None: plain background.")
    tile_attribution: str
    time_zone: str = Field(default="UTC", description="IANA zone operators read times in.")
    profiles_active: list[str] = Field(
        default_factory=list, description="Class profiles in force now, one line each."
    )


class SessionInfo(_View):
    """The visitor's session: who (None when anonymous), may do what, and the CSRF token."""

    user: str | None
    role: str | None
    permissions: list[str]
    csrf: str


class VideoViews(Protocol):
    """What the console needs from the video analysis (`ouie.video`, wired by the service)."""

    def snapshot(self, camera_id: str, *, blurred: bool = True) -> tuple[bytes, str]:
        """The camera's current view with its people blurred (unless `blurred` is False), and
        its media type; KeyError for an unknown camera, LookupError when it has no current
        view."""
        ...


class CameraDesk(Protocol):
    """What the console needs from the cameras concern (wired by the service or the demo)."""

    def views(self) -> list[CameraView]:
        """Every camera with its current orientation."""
        ...

    def snapshot(self, camera_id: str) -> tuple[bytes, str]:
        """The camera's current image and its media type; KeyError for an unknown camera,
        OSError when the camera cannot be reached."""
        ...

    def release(self, incident_id: str, actor: str) -> list[str]:
        """`actor` decided the incident: the cameras held for it go home (audited); their ids."""
        ...

    def decline(self, cue: CueRow, actor: str) -> bool:
        """`actor` declines a suggested cue: no camera moves (the desk audits it); True when
        the cue was still pending."""
        ...

    def look_here(self, lat: float, lon: float, actor: str) -> LookView:
        """`actor` asks to see a place: the best camera with a line of sight is cued through
        the cue controller (approved by `actor` in `suggest`); raises LookupError with the
        reason when the cue mode is off."""
        ...

    def execute(self, cue: CueRow, actor: str) -> bool:
        """Move the camera as `cue` says, approved by `actor` (the desk audits the approval with
        that name); True once the move is confirmed."""
        ...
