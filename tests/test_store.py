"""The store on SQLite and on a real PostgreSQL: schema from the migrations, reports
de-duplicated, incident revisions, dispositions audited, sensor status, retention."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st

from ouie.core.classes import EventClass
from ouie.core.recording import SensorSite
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S, iso_to_ns
from ouie.store.database import current_revision, head_revision
from ouie.store.models import Base
from ouie.store.records import DismissReason, DispositionAction, IncidentRecord, Role
from ouie.store.repository import Store
from ouie.store.retention import NS_PER_DAY, RetentionPolicy, purge
from tests.builders import make_report, store_url

T0 = iso_to_ns("2026-06-21T21:00:00Z")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A freshly migrated store on each backend."""
    opened = Store.open(store_url(request, tmp_path, "ouie.db"))
    yield opened
    opened.close()


def incident(revision: int = 0, **overrides: object) -> IncidentRecord:
    fields: dict[str, object] = {
        "id": "inc-1",
        "class": "gunshot",
        "onset_ns": T0,
        "lat": 45.4395,
        "lon": 4.3871,
        "uncertainty_m": 2.5,
        "ellipse": {"semi_major_m": 3.0, "semi_minor_m": 1.5, "orientation_deg": 30.0},
        "status": "fix",
        "sensors_used": ["s1", "s2", "s3"],
        "sensors_rejected": [{"sensor_id": "s4", "report_id": "r4", "reason": "late"}],
        "report_ids": ["r1", "r2", "r3", "r4"],
        "revision": revision,
    }
    fields.update(overrides)
    return IncidentRecord.model_validate(fields)


def test_migrations_create_exactly_the_models(store: Store) -> None:
    assert current_revision(store.engine) == head_revision() is not None
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_reports_are_stored_once_and_exactly(store: Store) -> None:
    report = make_report(onset_ns=T0 + 62_500)  # one 16 kHz sample after T0
    assert store.add_report(report, received_at_ns=T0 + NS_PER_S) is True
    assert store.add_report(report, received_at_ns=T0 + 2 * NS_PER_S) is False
    assert store.count_reports() == 1
    [stored] = store.get_reports([report.report_id])
    assert stored.onset_ns == T0 + 62_500
    assert stored.received_at_ns == T0 + NS_PER_S
    assert stored.payload["class"] == "gunshot" and stored.payload["schema"] == "ouie.report/2"


def test_incident_revisions_only_move_forward_and_keep_the_disposition(store: Store) -> None:
    assert store.save_incident(incident(0), at_ns=T0) == "created"
    store.add_disposition("inc-1", DispositionAction.CONFIRM, actor="alice", at_ns=T0 + 5)
    assert store.save_incident(incident(2, lat=45.44, uncertainty_m=1.2), at_ns=T0 + 9) == "updated"
    assert store.save_incident(incident(1, lat=0.0), at_ns=T0 + 10) == "stale"
    row = store.get_incident("inc-1")
    assert row is not None
    assert (row.revision, row.lat, row.uncertainty_m) == (2, 45.44, 1.2)
    assert row.disposition == "confirm"
    assert row.created_at_ns == T0 and row.updated_at_ns == T0 + 9
    assert row.sensors_rejected[0]["sensor_id"] == "s4" and row.ellipse["orientation_deg"] == 30.0


def test_dispositions_are_validated_and_audited(store: Store) -> None:
    store.save_incident(incident(), at_ns=T0)
    with pytest.raises(ValueError, match="needs a reason"):
        store.add_disposition("inc-1", DispositionAction.DISMISS, actor="bob")
    with pytest.raises(KeyError):
        store.add_disposition("nope", DispositionAction.CONFIRM, actor="bob")
    store.add_disposition(
        "inc-1",
        DispositionAction.DISMISS,
        actor="bob",
        reason=DismissReason.FIREWORKS,
        at_ns=T0 + 1,
    )
    [decision] = store.list_dispositions("inc-1")
    assert (decision.action, decision.reason, decision.actor) == ("dismiss", "fireworks", "bob")
    entries = list(store.audit.entries())
    assert [(e["action"], e["actor"], e["subject"]) for e in entries] == [
        ("incident.disposition", "bob", "incident:inc-1")
    ]
    assert entries[0]["details"] == {"action": "dismiss", "reason": "fireworks"}
    assert store.audit.verify() == []


def test_sensor_heartbeat_and_silence(store: Store) -> None:
    store.sync_sensors(
        [SensorSite(id="s1", lat=45.0, lon=4.0), SensorSite(id="s2", lat=45.1, lon=4.1)]
    )
    assert store.set_sensor_status("s1", "online", at_ns=T0) is True
    assert store.set_sensor_status("s1", "online", at_ns=T0 + NS_PER_S) is False
    store.add_report(make_report("s2"), received_at_ns=T0 + 100 * NS_PER_S)  # a sign of life
    silent = store.mark_silent_sensors_offline(T0 + 120 * NS_PER_S, timeout_s=60)
    assert silent == ["s1"]
    states = {s.id: (s.online, s.status) for s in store.list_sensors()}
    assert states == {"s1": (False, "silent"), "s2": (True, "unknown")}
    assert store.set_sensor_status("s2", "offline", at_ns=T0 + 121 * NS_PER_S) is True
    store.add_report(make_report("s2", seq=1), received_at_ns=T0 + 122 * NS_PER_S)
    [s2] = [s for s in store.list_sensors() if s.id == "s2"]
    assert (s2.online, s2.status, s2.last_seen_ns) == (True, "online", T0 + 122 * NS_PER_S)
    assert store.set_sensor_status("unknown-sensor", "online", at_ns=T0) is False


def test_users_are_unique_and_audited(store: Store) -> None:
    store.add_user("alice", Role.OPERATOR, "$argon2id$fake")
    user = store.get_user("alice")
    assert user is not None and user.role == "operator"
    with pytest.raises(ValueError):
        store.add_user("eve", "king", "x")  # type: ignore[arg-type]
    assert [e["action"] for e in store.audit.entries()] == ["user.create"]


def test_retention_deletes_old_detail_and_keeps_counts(store: Store) -> None:
    now = T0 + 100 * NS_PER_DAY
    old_day, recent = T0 + 10 * NS_PER_DAY, now - NS_PER_DAY
    for seq, onset in enumerate([old_day, old_day + 60 * NS_PER_S, recent]):
        store.add_report(make_report(seq=seq, onset_ns=onset), received_at_ns=onset)
    store.save_incident(incident(id="old-a", onset_ns=old_day))
    store.save_incident(incident(id="old-b", onset_ns=old_day + 1, **{"class": "scream"}))
    store.save_incident(incident(id="new", onset_ns=recent))
    store.add_disposition("old-a", DispositionAction.DISMISS, "bob", DismissReason.FIREWORKS)
    result = purge(store, RetentionPolicy(reports_days=30, incidents_days=60), now_ns=now)
    assert (result.reports_deleted, result.incidents_deleted) == (2, 2)
    assert store.count_reports() == 1
    assert [i.id for i in store.list_incidents()] == ["new"]
    assert store.list_dispositions("old-a") == []  # gone with its incident
    day = "2026-07-01"
    assert {(a.day, a.kind, a.class_, a.disposition, a.count) for a in store.list_aggregates()} == {
        (day, "report", "gunshot", "", 2),
        (day, "incident", "gunshot", "dismiss", 1),
        (day, "incident", "scream", "open", 1),
    }
    purge(store, RetentionPolicy(reports_days=30, incidents_days=60), now_ns=now)  # idempotent
    assert sum(a.count for a in store.list_aggregates()) == 4
    actions = [e["action"] for e in store.audit.entries()]
    assert actions == ["incident.disposition", "retention.purge"]  # the no-op purge is silent
    assert store.audit.verify() == []


report_fields = st.fixed_dictionaries(
    {
        "sensor_id": st.text(
            alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=64
        ),
        "seq": st.integers(0, 2**62),
        "class": st.sampled_from([str(c) for c in EventClass]),
        "score": st.floats(0, 1),
        "onset": st.integers(1, 2**63 - 1),
        "onset_uncertainty_s": st.floats(0, 10),
        "duration_s": st.floats(0, 3600),
        "peak_dbfs": st.floats(-200, 0),
    }
)


@pytest.fixture(scope="module")
def round_trip_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One SQLite store for every example of the property."""
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('round-trip') / 'ouie.db'}")
    yield store
    store.close()


@settings(max_examples=60, deadline=None)
@given(fields=report_fields)
def test_any_valid_report_round_trips_through_the_wire_and_the_store(
    fields: dict[str, object], round_trip_store: Store
) -> None:
    """JSON on the wire → stored row → same report, to the nanosecond and the last float bit."""
    overrides = {k: v for k, v in fields.items() if k not in ("class", "onset")}
    wire = make_report(class_=fields["class"], onset_ns=fields["onset"], **overrides).to_json()  # type: ignore[arg-type]
    report = EventReport.from_json(wire)
    assert round_trip_store.add_report(report, received_at_ns=1)
    [row] = round_trip_store.get_reports([report.report_id])
    assert EventReport.model_validate(row.payload) == report
    assert (row.onset_ns, row.seq, row.peak_dbfs) == (report.onset_ns, report.seq, report.peak_dbfs)


def test_fusion_incidents_map_to_records_without_losing_the_geometry(store: Store) -> None:
    from ouie.core.incident import Ellipse95, Hyperbola, Incident, RejectedSensor

    fix = Incident(
        incident_id="f1",
        revision=3,
        **{"class": "gunshot"},
        status="fix",
        onset_ns=T0,
        lat=45.44,
        lon=4.387,
        uncertainty_m=2.1,
        ellipse95=Ellipse95(semi_major_m=2.5, semi_minor_m=1.0, orientation_deg=120.0),
        sensors_used=["s1", "s2", "s3"],
        report_ids=["a", "b", "c", "d"],
        score=0.8,
        sensors_rejected=[RejectedSensor(sensor_id="s4", report_id="d", reason="late (NLOS?)")],
    )
    branch = Incident(
        incident_id="h1",
        revision=1,
        **{"class": "scream"},
        status="hyperbola",
        onset_ns=T0,
        hyperbola=Hyperbola(
            near_sensor_id="s1",
            far_sensor_id="s2",
            range_difference_m=12.5,
            points=[(45.44, 4.38), (45.441, 4.381)],
        ),
        sensors_used=["s1", "s2"],
        report_ids=["e", "f"],
        score=0.6,
    )
    for incident in (fix, branch):
        assert store.save_incident(IncidentRecord.from_incident(incident)) == "created"
    stored_fix, stored_branch = store.get_incident("f1"), store.get_incident("h1")
    assert stored_fix is not None and stored_branch is not None
    assert (stored_fix.class_, stored_fix.status, stored_fix.revision) == ("gunshot", "fix", 3)
    assert stored_fix.ellipse == {
        "semi_major_m": 2.5,
        "semi_minor_m": 1.0,
        "orientation_deg": 120.0,
    }
    assert stored_fix.sensors_rejected == [
        {"sensor_id": "s4", "report_id": "d", "reason": "late (NLOS?)"}
    ]
    assert (stored_branch.lat, stored_branch.lon, stored_branch.status) == (None, None, "hyperbola")
    assert stored_branch.hyperbola is not None
    assert stored_branch.hyperbola["range_difference_m"] == 12.5
    assert [tuple(p) for p in stored_branch.hyperbola["points"]] == [(45.44, 4.38), (45.441, 4.381)]
