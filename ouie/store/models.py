"""SQLAlchemy 2 tables of the central store (SQLite by default, PostgreSQL in production).

Times are integer UTC nanoseconds (`*_ns`, see `ouie.core.timebase`) so that the store keeps the
sensors' sample-accurate onsets exactly; positions are WGS84 degrees. The schema is created and
upgraded only by the Alembic migrations in `ouie/store/migrations` (see `ouie.store.database`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every ouie table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        int: BigInteger,
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[Any]: JSON,
    }


class SensorRow(Base):
    """A deployed sensor: where it is and whether it is heard from."""

    __tablename__ = "sensors"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lat: Mapped[float] = mapped_column(Float, doc="Latitude, degrees WGS84.")
    lon: Mapped[float] = mapped_column(Float, doc="Longitude, degrees WGS84.")
    height_m: Mapped[float] = mapped_column(Float, default=4.0, doc="Microphone height, m.")
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_ns: Mapped[int | None] = mapped_column(doc="Last status or report, UTC ns.")
    status: Mapped[str] = mapped_column(String(32), default="unknown", doc="Last status text.")


class ReportRow(Base):
    """An accepted event report (`ouie.report/2`, or `/1` without an envelope), de-duplicated
    on (`sensor_id`, `report_id`): one sensor's ids never collide with another's."""

    __tablename__ = "reports"
    __table_args__ = (
        PrimaryKeyConstraint("sensor_id", "report_id", name="pk_reports"),
        Index("ix_reports_onset_ns", "onset_ns"),
    )

    report_id: Mapped[str] = mapped_column(String(64))
    sensor_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int]
    class_: Mapped[str] = mapped_column("class", String(32))
    score: Mapped[float] = mapped_column(Float)
    onset_ns: Mapped[int] = mapped_column(doc="Onset, UTC ns.")
    onset_uncertainty_s: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)
    peak_dbfs: Mapped[float] = mapped_column(Float)
    model_name: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str] = mapped_column(String(64))
    received_at_ns: Mapped[int] = mapped_column(index=True, doc="When the central got it, UTC ns.")
    payload: Mapped[dict[str, Any]] = mapped_column(doc="The wire form, as received.")


class IncidentRow(Base):
    """A located sound event made of several sensors' reports, or an event seen on a camera's
    own stream (status camera, `video`); updated in place by revision."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_onset_ns", "onset_ns"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    class_: Mapped[str] = mapped_column("class", String(32))
    onset_ns: Mapped[int] = mapped_column(doc="Emission time at the source, UTC ns.")
    lat: Mapped[float | None] = mapped_column(Float, doc="None when only a hyperbola is known.")
    lon: Mapped[float | None] = mapped_column(Float)
    uncertainty_m: Mapped[float | None] = mapped_column(Float, doc="95 % radius, m.")
    ellipse: Mapped[dict[str, Any] | None] = mapped_column(doc="95 % ellipse (fusion's form).")
    hyperbola: Mapped[dict[str, Any] | None] = mapped_column(doc="2-sensor branch (fusion's form).")
    video: Mapped[dict[str, Any] | None] = mapped_column(
        doc="Seen on a camera's stream: camera_id, zone, people, end_ns, ongoing."
    )
    status: Mapped[str] = mapped_column(String(32), doc="Fusion status: fix, hyperbola, single.")
    score: Mapped[float | None] = mapped_column(Float, doc="Highest detector score.")
    sensors_used: Mapped[list[str]] = mapped_column(default=list)
    sensors_rejected: Mapped[list[Any]] = mapped_column(
        default=list, doc="[{sensor_id, report_id, reason}]"
    )
    report_ids: Mapped[list[str]] = mapped_column(default=list)
    assessment: Mapped[dict[str, Any] | None] = mapped_column(
        doc="Fusion's network confirmation and rank reasons (alerting classes); None: none."
    )
    cameras_heard: Mapped[list[str]] = mapped_column(
        default=list, doc="Cameras whose own audio detection confirmed it (raised the score)."
    )
    burst: Mapped[dict[str, Any] | None] = mapped_column(
        doc="Repeats of one sound folded into it: shots, span_s (fusion's form); None: one."
    )
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at_ns: Mapped[int] = mapped_column(index=True)
    updated_at_ns: Mapped[int]
    disposition: Mapped[str | None] = mapped_column(
        String(16), doc="Latest operator decision (confirm, dismiss, escalate), None = open."
    )


class CueRow(Base):
    """A camera cue proposed or executed for an incident."""

    __tablename__ = "cues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    camera_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16), doc="off, suggest or auto.")
    state: Mapped[str] = mapped_column(
        String(16), doc="suggested, approved, executed, refused or failed."
    )
    pan_deg: Mapped[float | None] = mapped_column(Float)
    tilt_deg: Mapped[float | None] = mapped_column(Float)
    zoom: Mapped[float | None] = mapped_column(Float)
    created_at_ns: Mapped[int]
    executed_at_ns: Mapped[int | None]
    latency_s: Mapped[float | None] = mapped_column(
        Float,
        doc="From the end of what the reporting sensors had heard (latest onset + duration_s) "
        "to the camera command, s.",
    )
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DispositionRow(Base):
    """An operator's decision on an incident (every one is kept, in order)."""

    __tablename__ = "dispositions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16), doc="confirm, dismiss or escalate.")
    reason: Mapped[str | None] = mapped_column(
        String(16), doc="For dismiss: fireworks, construction, vehicle or other."
    )
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64))
    at_ns: Mapped[int]


class OutcomeRow(Base):
    """What happened in the field after an incident, when an operator knows it (one row per
    incident, updated in place; every change is audited as `incident.outcome`)."""

    __tablename__ = "incident_outcomes"

    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    dispatched: Mapped[bool | None] = mapped_column(
        Boolean, doc="Whether a unit was sent; None: not known."
    )
    evidence: Mapped[str] = mapped_column(
        String(16), doc="What the field found: found, nothing or unknown."
    )
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64))
    at_ns: Mapped[int] = mapped_column(doc="When recorded (last changed), UTC ns.")


class ClassProfileRow(Base):
    """A supervisor's class profile (`ouie.fusion.profiles.ClassProfile` as JSON); every change
    is audited (`profile.set`, `profile.delete`)."""

    __tablename__ = "class_profiles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(doc="The profile, as validated JSON.")
    actor: Mapped[str] = mapped_column(String(64))
    updated_at_ns: Mapped[int]


class IncidentImageRow(Base):
    """An image of a video camera's view that an operator saved on an incident (nothing else
    stores an image): blurred unless a supervisor saved it unblurred. Goes with its incident
    (retention, `ouie.store.retention`)."""

    __tablename__ = "incident_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    camera_id: Mapped[str] = mapped_column(String(64), doc="The camera whose view it is.")
    blurred: Mapped[bool] = mapped_column(Boolean, doc="People's boxes blurred (the default).")
    media_type: Mapped[str] = mapped_column(String(32), doc="e.g. image/jpeg.")
    image: Mapped[bytes] = mapped_column(LargeBinary, doc="The encoded image.")
    saved_by: Mapped[str] = mapped_column(String(64), doc="The console user who saved it.")
    saved_at_ns: Mapped[int] = mapped_column(doc="When it was saved, UTC ns.")
    reason: Mapped[str] = mapped_column(Text, default="", doc="Why (required when unblurred).")


class UserRow(Base):
    """A console user (the console concern owns authentication; the table lives here)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), doc="operator, supervisor, auditor or admin.")
    password_hash: Mapped[str] = mapped_column(String(256), doc="argon2 hash.")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at_ns: Mapped[int]


class ConsoleSessionRow(Base):
    """A console login, kept server-side so that logout, a password change or disabling the
    user ends it at once (the cookie only holds a random token; this row its SHA-256)."""

    __tablename__ = "console_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64), index=True)
    created_at_ns: Mapped[int]
    expires_at_ns: Mapped[int] = mapped_column(doc="Login + session_max_age_s, UTC ns.")


class AuditEntryRow(Base):
    """One link of the hash chain: `hash = HMAC-SHA-256(key, canonical_json(content) +
    prev_hash)`, or plain SHA-256 for unkeyed rows (see `ouie.store.audit`)."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at_ns: Mapped[int]
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str | None] = mapped_column(
        String(16), doc="Fingerprint of the HMAC key; None: an unkeyed (SHA-256) row."
    )


class DailyAggregateRow(Base):
    """What survives retention: counts per UTC day, kind, class and disposition."""

    __tablename__ = "daily_aggregates"

    day: Mapped[str] = mapped_column(String(10), primary_key=True, doc="UTC date, YYYY-MM-DD.")
    kind: Mapped[str] = mapped_column(String(16), primary_key=True, doc="report or incident.")
    class_: Mapped[str] = mapped_column("class", String(32), primary_key=True)
    disposition: Mapped[str] = mapped_column(
        String(16),
        primary_key=True,
        doc="Incidents: confirm, dismiss, escalate or open; reports: ''.",
    )
    count: Mapped[int] = mapped_column(default=0)
    located: Mapped[int | None] = mapped_column(
        doc="Incidents: how many of `count` had a position (lat/lon); None for reports and for "
        "rows aggregated before revision 0003."
    )
    dismiss_reasons: Mapped[dict[str, Any] | None] = mapped_column(
        doc="Dismissed incidents: {reason: count} (fireworks, construction, vehicle, other)."
    )
    decision_delays_s: Mapped[list[Any] | None] = mapped_column(
        doc="Decided incidents: seconds from raised (created_at_ns) to the first decision, sorted."
    )
    alert_figures: Mapped[dict[str, Any] | None] = mapped_column(
        doc="Incidents that raised an alert: {raised, located, decided, confirmed, recorded, "
        "dispatched, found, nothing, unknown} counts (`ouie.store.aggregates.ALERT_FIGURES`); "
        "None for reports and rows aggregated before revision 0010."
    )
