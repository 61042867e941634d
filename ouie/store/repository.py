"""`Store`: the one API through which the central service and the console read and write.

Every method opens its own short transaction, so a `Store` can be shared between threads. Rows
returned are detached snapshots (read them, don't modify them); writes go through methods, and
every write that a person makes (dispositions, user changes) appends to the audit chain in the
same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Dialect, Engine, bindparam, case, func, or_, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from ouie.core.audit import AuditEvent
from ouie.core.recording import SensorSite
from ouie.core.report import EventReport, ReportKey
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.store.audit import AuditChain, AuditKey, AuditKeyConfig
from ouie.store.database import make_engine, upgrade_schema
from ouie.store.models import (
    Base,
    ClassProfileRow,
    CueRow,
    DailyAggregateRow,
    DispositionRow,
    IncidentImageRow,
    IncidentRow,
    OutcomeRow,
    ReportRow,
    SensorRow,
    UserRow,
)
from ouie.store.records import (
    CueState,
    DismissReason,
    DispositionAction,
    FieldEvidence,
    IncidentRecord,
    Role,
)

IncidentChildRow = TypeVar("IncidentChildRow", CueRow, DispositionRow, IncidentImageRow)
"""A table of rows that belong to one incident, listed by `Store._of_incident`."""

SaveOutcome = Literal["created", "updated", "stale"]

_REPORTS, _SENSORS = Base.metadata.tables["reports"], Base.metadata.tables["sensors"]
_MARK_HEARD = (
    update(_SENSORS)
    .where(_SENSORS.c.id == bindparam("sensor"))
    .values(
        online=True,
        last_seen_ns=bindparam("at_ns"),
        status=case(
            (or_(_SENSORS.c.status == "offline", _SENSORS.c.status == "silent"), "online"),
            else_=_SENSORS.c.status,
        ),
    )
)
"""A report is a sign of life: online, last seen now, and 'online' after 'offline'/'silent'."""


InsertNewReports = Callable[[Connection, list[dict[str, Any]]], set[ReportKey]]
"""Writes `reports` rows in the open transaction, skipping keys already stored; the keys
written."""


def _insert_new_reports(dialect: Dialect) -> InsertNewReports:
    """INSERT … ON CONFLICT (sensor_id, report_id) DO NOTHING RETURNING sensor_id, report_id:
    one statement stores a batch, skips reports already stored (de-duplication without a
    failed transaction) and names the rows it wrote.

    SQLite (≥ 3.35) gets the rows as bound parameters (SQLAlchemy's multi-row VALUES).
    PostgreSQL gets them as one JSON array expanded by `json_populate_recordset`: with 13
    bound parameters per row, psycopg spent most of the time rewriting the long query (about
    230 µs per stored report in batches of 500, against 65–110 µs with the JSON array;
    `bench/store_add_reports.py`).
    """
    if dialect.name == "sqlite":
        statement = (
            sqlite.insert(_REPORTS)
            .on_conflict_do_nothing(index_elements=["sensor_id", "report_id"])
            .returning(_REPORTS.c.sensor_id, _REPORTS.c.report_id)
        )
        return lambda connection, rows: {
            (sensor, report) for sensor, report in connection.execute(statement, rows)
        }
    if dialect.name == "postgresql":
        quote = dialect.identifier_preparer.quote
        table = quote(_REPORTS.name)
        columns = ", ".join(quote(column.name) for column in _REPORTS.c)
        from_json = text(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM "
            f"json_populate_recordset(NULL::{table}, CAST(:rows AS json)) "
            "ON CONFLICT (sensor_id, report_id) DO NOTHING RETURNING sensor_id, report_id"
        )
        return lambda connection, rows: {
            (sensor, report)
            for sensor, report in connection.execute(from_json, {"rows": json.dumps(rows)})
        }
    raise ValueError(f"unsupported database {dialect.name!r}: use SQLite or PostgreSQL")


def _report_row(report: EventReport, received_at_ns: int) -> dict[str, Any]:
    """The `reports` row of an accepted report."""
    return {
        "report_id": report.report_id,
        "sensor_id": report.sensor_id,
        "seq": report.seq,
        "class": str(report.class_),
        "score": report.score,
        "onset_ns": report.onset_ns,
        "onset_uncertainty_s": report.onset_uncertainty_s,
        "duration_s": report.duration_s,
        "peak_dbfs": report.peak_dbfs,
        "model_name": report.model.name,
        "model_sha256": report.model.sha256,
        "received_at_ns": received_at_ns,
        "payload": report.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


class Store:
    """Sensors, reports, incidents, cues, dispositions, users and the audit chain."""

    def __init__(
        self,
        engine: Engine,
        audit_key: AuditKey | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        """`clock` (UTC ns; default the wall clock) stamps what has no time of its own:
        incidents, cues, dispositions, users and audit entries (`AuditChain`)."""
        self.engine = engine
        self.clock = clock or now_ns
        self.audit = AuditChain(engine, audit_key, clock)
        self._insert_new_reports = _insert_new_reports(engine.dialect)

    @classmethod
    def open(
        cls,
        url: str,
        upgrade: bool = True,
        audit_key: AuditKey | None = None,
        clock: Callable[[], int] | None = None,
    ) -> Store:
        """Connect to `url` (`sqlite:///path.db`, `postgresql+psycopg://user@host/db`) and, unless
        `upgrade` is False, bring its schema to the current Alembic revision. `audit_key` keys
        the audit chain; without it, the key in the environment variable OUIE_AUDIT_KEY, if
        set (so that every ouie command on a keyed deployment writes keyed rows)."""
        engine = make_engine(url)
        if upgrade:
            upgrade_schema(engine)
        return cls(engine, audit_key or AuditKeyConfig().key(), clock)

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error (for advanced queries)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def _count(self, model: type[Base]) -> int:
        """Number of rows of `model`'s table."""
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    # -- sensors ---------------------------------------------------------------------------
    def sync_sensors(self, sites: Iterable[SensorSite]) -> None:
        """Insert new sensors and update the position of known ones (status is kept)."""
        with self.session() as session:
            for site in sites:
                row = session.get(SensorRow, site.id)
                if row is None:
                    session.add(
                        SensorRow(
                            id=site.id,
                            lat=site.lat,
                            lon=site.lon,
                            height_m=site.height_m,
                            online=False,
                            status="unknown",
                        )
                    )
                else:
                    row.lat, row.lon, row.height_m = site.lat, site.lon, site.height_m

    def list_sensors(self) -> list[SensorRow]:
        """All sensors, by id."""
        with self.session() as session:
            return list(session.scalars(select(SensorRow).order_by(SensorRow.id)))

    def sensor_ids(self) -> set[str]:
        """Ids of all known sensors."""
        with self.session() as session:
            return set(session.scalars(select(SensorRow.id)))

    def set_sensor_status(self, sensor_id: str, status: str, at_ns: int) -> bool:
        """Record a status message ('online', 'offline', ...); returns True when `online` changed.

        Any status other than 'offline' counts as a heartbeat and marks the sensor online.
        """
        online = status != "offline"
        with self.session() as session:
            row = session.get(SensorRow, sensor_id)
            if row is None:
                return False
            changed = row.online != online
            row.online, row.status, row.last_seen_ns = online, status, at_ns
            return changed

    def mark_silent_sensors_offline(self, now_ns_: int, timeout_s: float) -> list[str]:
        """Sensors online but not heard from for `timeout_s`: set offline ('silent'); their ids."""
        cutoff_ns = now_ns_ - int(timeout_s * NS_PER_S)
        with self.session() as session:
            rows = session.scalars(
                select(SensorRow).where(
                    SensorRow.online.is_(True), SensorRow.last_seen_ns < cutoff_ns
                )
            ).all()
            for row in rows:
                row.online, row.status = False, "silent"
            return [row.id for row in rows]

    # -- reports ---------------------------------------------------------------------------
    def add_report(self, report: EventReport, received_at_ns: int) -> bool:
        """`add_reports` for one report: False (and nothing written) when its key is stored."""
        return bool(self.add_reports([(report, received_at_ns)]))

    def add_reports(self, received: Sequence[tuple[EventReport, int]]) -> set[ReportKey]:
        """Store accepted reports (each with its receipt time, UTC ns) in one transaction and
        mark their sensors heard (online, `last_seen_ns` = the latest receipt); returns the
        keys (`EventReport.key`: sensor id, report id) newly written. Keys already stored, or
        repeated in `received`, are skipped (the first occurrence is kept), so a redelivered
        batch writes nothing twice; a report id is only ever a duplicate of its own sensor's.

        The hot path of the service: one multi-row INSERT … ON CONFLICT DO NOTHING RETURNING
        (see `_insert_new_reports`) and one UPDATE per sensor, Core statements, no ORM.
        """
        rows: dict[ReportKey, dict[str, Any]] = {}
        for report, received_at_ns in received:
            rows.setdefault(report.key, _report_row(report, received_at_ns))
        if not rows:
            return set()
        with self.engine.begin() as connection:
            written = self._insert_new_reports(connection, list(rows.values()))
            heard_ns: dict[str, int] = {}
            for key in written:
                row = rows[key]
                sensor = row["sensor_id"]
                heard_ns[sensor] = max(heard_ns.get(sensor, 0), row["received_at_ns"])
            if heard_ns:
                heard = [{"sensor": s, "at_ns": at_ns} for s, at_ns in sorted(heard_ns.items())]
                connection.execute(_MARK_HEARD, heard)
        return written

    def report_ids(self, sensor_id: str | None = None) -> set[str]:
        """Ids of stored reports (of one sensor when given)."""
        query = select(ReportRow.report_id)
        if sensor_id is not None:
            query = query.where(ReportRow.sensor_id == sensor_id)
        with self.session() as session:
            return set(session.scalars(query))

    def count_reports(self) -> int:
        """Number of stored reports."""
        return self._count(ReportRow)

    def get_reports(self, report_ids: Iterable[str]) -> list[ReportRow]:
        """The stored reports among `report_ids`, by onset."""
        with self.session() as session:
            return list(
                session.scalars(
                    select(ReportRow)
                    .where(ReportRow.report_id.in_(list(report_ids)))
                    .order_by(ReportRow.onset_ns)
                )
            )

    # -- incidents -------------------------------------------------------------------------
    def save_incident(self, record: IncidentRecord, at_ns: int | None = None) -> SaveOutcome:
        """Insert, or update when `record.revision` is newer than the stored one.

        Returns 'created', 'updated', or 'stale' (an older or equal revision: nothing written).
        The operator's disposition is never overwritten by a new revision.
        """
        at_ns = self.clock() if at_ns is None else at_ns
        values = record.model_dump()
        with self.session() as session:
            row = session.get(IncidentRow, record.id)
            if row is None:
                session.add(IncidentRow(**values, created_at_ns=at_ns, updated_at_ns=at_ns))
                return "created"
            if record.revision <= row.revision:
                return "stale"
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at_ns = at_ns
            return "updated"

    def get_incident(self, incident_id: str) -> IncidentRow | None:
        """One incident, or None."""
        with self.session() as session:
            return session.get(IncidentRow, incident_id)

    def list_incidents(
        self, since_ns: int | None = None, limit: int = 200, open_only: bool = False
    ) -> list[IncidentRow]:
        """Newest first (by onset); `since_ns` bounds the onset; `open_only` hides decided ones."""
        query = select(IncidentRow).order_by(IncidentRow.onset_ns.desc()).limit(limit)
        if since_ns is not None:
            query = query.where(IncidentRow.onset_ns >= since_ns)
        if open_only:
            query = query.where(IncidentRow.disposition.is_(None))
        with self.session() as session:
            return list(session.scalars(query))

    def count_incidents(self) -> int:
        """Number of stored incidents."""
        return self._count(IncidentRow)

    # -- cues ------------------------------------------------------------------------------
    def add_cue(
        self,
        incident_id: str,
        camera_id: str,
        mode: str,
        state: CueState,
        pan_deg: float | None = None,
        tilt_deg: float | None = None,
        zoom: float | None = None,
        details: dict[str, object] | None = None,
        at_ns: int | None = None,
    ) -> CueRow:
        """Record a cue computed for an incident (the cameras concern audits the move itself)."""
        cue = CueRow(
            incident_id=incident_id,
            camera_id=camera_id,
            mode=mode,
            state=str(state),
            pan_deg=pan_deg,
            tilt_deg=tilt_deg,
            zoom=zoom,
            details=details or {},
            created_at_ns=self.clock() if at_ns is None else at_ns,
        )
        with self.session() as session:
            session.add(cue)
        return cue

    def update_cue(
        self,
        cue_id: int,
        state: CueState,
        executed_at_ns: int | None = None,
        latency_s: float | None = None,
    ) -> CueRow:
        """Move a cue along its life (approved, executed with its latency, refused, failed)."""
        with self.session() as session:
            cue = session.get(CueRow, cue_id)
            if cue is None:
                raise KeyError(f"no cue {cue_id}")
            cue.state = str(state)
            if executed_at_ns is not None:
                cue.executed_at_ns = executed_at_ns
            if latency_s is not None:
                cue.latency_s = latency_s
            return cue

    def list_cues(self, incident_id: str) -> list[CueRow]:
        """Cues of one incident, oldest first."""
        return self._of_incident(CueRow, incident_id)

    def _audit_incident(
        self,
        session: Session,
        action: str,
        actor: str,
        incident_id: str,
        details: dict[str, Any],
        at_ns: int,
    ) -> None:
        """Append `action` on the incident to the audit chain, in `session`'s transaction."""
        event = AuditEvent(
            action=action,
            actor=actor,
            subject=f"incident:{incident_id}",
            details=details,
            at_ns=at_ns,
        )
        self.audit.append(event, session)

    def _of_incident(
        self, model: type[IncidentChildRow], incident_id: str
    ) -> list[IncidentChildRow]:
        """Rows of `model` (cues, dispositions, saved images) of one incident, oldest first."""
        with self.session() as session:
            query = select(model).where(model.incident_id == incident_id).order_by(model.id)
            return list(session.scalars(query))

    # -- dispositions ----------------------------------------------------------------------
    def add_disposition(
        self,
        incident_id: str,
        action: DispositionAction,
        actor: str,
        reason: DismissReason | None = None,
        note: str = "",
        at_ns: int | None = None,
    ) -> DispositionRow:
        """Record an operator's decision and audit it (`incident.disposition`), atomically.

        A dismissal needs a reason; other actions take none. Raises KeyError for an unknown
        incident and ValueError for a bad reason.
        """
        action = DispositionAction(action)
        if (action is DispositionAction.DISMISS) != (reason is not None):
            raise ValueError(
                "a dismissal needs a reason (fireworks, construction, vehicle, "
                "other); confirm and escalate take none"
            )
        reason_text = str(DismissReason(reason)) if reason is not None else None
        at_ns = self.clock() if at_ns is None else at_ns
        with self.session() as session:
            incident = session.get(IncidentRow, incident_id)
            if incident is None:
                raise KeyError(f"no incident {incident_id!r}")
            incident.disposition = str(action)
            row = DispositionRow(
                incident_id=incident_id,
                action=str(action),
                reason=reason_text,
                note=note,
                actor=actor,
                at_ns=at_ns,
            )
            session.add(row)
            details = {"action": str(action), "reason": reason_text}
            if note:
                details["note"] = note
            self._audit_incident(
                session, "incident.disposition", actor, incident_id, details, at_ns
            )
        return row

    def list_dispositions(self, incident_id: str) -> list[DispositionRow]:
        """Decisions on one incident, oldest first."""
        return self._of_incident(DispositionRow, incident_id)

    # -- field outcomes --------------------------------------------------------------------
    def set_outcome(
        self,
        incident_id: str,
        dispatched: bool | None,
        evidence: FieldEvidence,
        actor: str,
        note: str = "",
        at_ns: int | None = None,
    ) -> OutcomeRow:
        """Record (or correct) what happened in the field after an incident, and audit it
        (`incident.outcome`, with the previous values when it changes one), atomically.
        Raises KeyError for an unknown incident."""
        evidence = FieldEvidence(evidence)
        at_ns = self.clock() if at_ns is None else at_ns
        with self.session() as session:
            if session.get(IncidentRow, incident_id) is None:
                raise KeyError(f"no incident {incident_id!r}")
            row = session.get(OutcomeRow, incident_id)
            details: dict[str, Any] = {"dispatched": dispatched, "evidence": str(evidence)}
            if note:
                details["note"] = note
            if row is None:
                row = OutcomeRow(incident_id=incident_id)
                session.add(row)
            else:
                details["previous"] = {"dispatched": row.dispatched, "evidence": row.evidence}
            row.dispatched, row.evidence, row.note = dispatched, str(evidence), note
            row.actor, row.at_ns = actor, at_ns
            self._audit_incident(session, "incident.outcome", actor, incident_id, details, at_ns)
        return row

    def get_outcome(self, incident_id: str) -> OutcomeRow | None:
        """The field outcome recorded for an incident, or None."""
        with self.session() as session:
            return session.get(OutcomeRow, incident_id)

    # -- class profiles --------------------------------------------------------------------
    def set_profile(self, name: str, spec: dict[str, Any], actor: str) -> ClassProfileRow:
        """Create or replace a class profile (validated by the caller) and audit it
        (`profile.set`, with the whole profile), atomically."""
        at_ns = self.clock()
        with self.session() as session:
            row = session.get(ClassProfileRow, name)
            if row is None:
                row = ClassProfileRow(name=name)
                session.add(row)
            row.spec, row.actor, row.updated_at_ns = spec, actor, at_ns
            self.audit.append(
                AuditEvent(
                    action="profile.set",
                    actor=actor,
                    subject=f"profile:{name}",
                    details={"profile": spec},
                    at_ns=at_ns,
                ),
                session,
            )
        return row

    def delete_profile(self, name: str, actor: str) -> None:
        """Remove a class profile and audit it (`profile.delete`); KeyError when unknown."""
        with self.session() as session:
            row = session.get(ClassProfileRow, name)
            if row is None:
                raise KeyError(f"no profile {name!r}")
            session.delete(row)
            self.audit.append(
                AuditEvent(action="profile.delete", actor=actor, subject=f"profile:{name}"),
                session,
            )

    def list_profiles(self) -> list[ClassProfileRow]:
        """Every class profile, by name."""
        with self.session() as session:
            return list(session.scalars(select(ClassProfileRow).order_by(ClassProfileRow.name)))

    # -- images an operator saved -----------------------------------------------------------
    def add_incident_image(
        self,
        incident_id: str,
        camera_id: str,
        image: bytes,
        media_type: str,
        *,
        blurred: bool,
        actor: str,
        reason: str = "",
        at_ns: int | None = None,
    ) -> IncidentImageRow:
        """Store an image of `camera_id`'s view on the incident and audit who saved it, when
        and from which camera, atomically: `incident.image_saved`, or
        `incident.image_saved_unblurred` for an unblurred one, which needs a `reason`.
        Raises KeyError for an unknown incident, ValueError for an unblurred one without a
        reason."""
        if not blurred and not reason.strip():
            raise ValueError("saving an unblurred image needs a reason")
        at_ns = self.clock() if at_ns is None else at_ns
        with self.session() as session:
            if session.get(IncidentRow, incident_id) is None:
                raise KeyError(f"no incident {incident_id!r}")
            row = IncidentImageRow(
                incident_id=incident_id,
                camera_id=camera_id,
                blurred=blurred,
                media_type=media_type,
                image=image,
                saved_by=actor,
                saved_at_ns=at_ns,
                reason=reason,
            )
            session.add(row)
            session.flush()
            details: dict[str, Any] = {
                "image_id": row.id,
                "camera_id": camera_id,
                "blurred": blurred,
                "bytes": len(image),
            }
            if reason:
                details["reason"] = reason
            action = "incident.image_saved" if blurred else "incident.image_saved_unblurred"
            self._audit_incident(session, action, actor, incident_id, details, at_ns)
            return row

    def list_incident_images(self, incident_id: str) -> list[IncidentImageRow]:
        """The images saved on one incident, oldest first (with their bytes)."""
        return self._of_incident(IncidentImageRow, incident_id)

    def get_incident_image(self, incident_id: str, image_id: int) -> IncidentImageRow | None:
        """One saved image of the incident, or None."""
        with self.session() as session:
            row = session.get(IncidentImageRow, image_id)
            return row if row is not None and row.incident_id == incident_id else None

    # -- users -----------------------------------------------------------------------------
    def add_user(self, name: str, role: Role, password_hash: str, actor: str = "system") -> UserRow:
        """Create a console user (hash the password with argon2 first) and audit it."""
        role = Role(role)
        user = UserRow(
            name=name,
            role=str(role),
            password_hash=password_hash,
            active=True,
            created_at_ns=self.clock(),
        )
        with self.session() as session:
            session.add(user)
            self.audit.append(
                AuditEvent(
                    action="user.create",
                    actor=actor,
                    subject=f"user:{name}",
                    details={"role": str(role)},
                ),
                session,
            )
        return user

    def get_user(self, name: str) -> UserRow | None:
        """A user by name, or None."""
        with self.session() as session:
            return session.scalar(select(UserRow).where(UserRow.name == name))

    def list_users(self) -> list[UserRow]:
        """All users, by name."""
        with self.session() as session:
            return list(session.scalars(select(UserRow).order_by(UserRow.name)))

    # -- aggregates ------------------------------------------------------------------------
    def list_aggregates(self) -> list[DailyAggregateRow]:
        """Counts kept after retention purges, by day."""
        with self.session() as session:
            return list(
                session.scalars(
                    select(DailyAggregateRow).order_by(
                        DailyAggregateRow.day, DailyAggregateRow.kind, DailyAggregateRow.class_
                    )
                )
            )
