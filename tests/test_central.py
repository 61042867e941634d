"""The central service: validation with reasons and counters, de-duplication, incidents stored
and published, cues with their latency, sensor heartbeats, /healthz and /metrics, the city
config, and `ouie audit verify` on a tampered database."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from ouie.app.config import load_city_config
from ouie.central.app import create_app
from ouie.central.service import CentralService, audit_config, moved_out_of_cue
from ouie.central.validation import RejectReason
from ouie.cli import app as cli_app
from ouie.core.audit import AuditEvent
from ouie.core.config import ConfigError
from ouie.core.incident import Incident, VideoSighting
from ouie.core.recording import sensors_geojson
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S, iso_to_ns
from ouie.store.records import IncidentRecord
from ouie.store.repository import Store
from ouie.transport.bus import InProcessBus
from ouie.transport.topics import INCIDENTS_TOPIC, reports_topic, status_topic
from tests.builders import SITES, Clock, FakeCuer, FakeFusion, make_report

T0 = iso_to_ns("2026-06-21T21:00:00Z")


@pytest.fixture
def service(tmp_path: Path) -> Any:
    store = Store.open(f"sqlite:///{tmp_path / 'central.db'}")
    bus, clock = InProcessBus(), Clock(T0 + NS_PER_S)
    central = CentralService(
        store,
        bus,
        FakeFusion(),
        SITES,
        heartbeat_timeout_s=60,
        cuer=FakeCuer(store),
        clock=clock,
        tick_s=3600,
    )
    central.start()
    yield SimpleNamespace(central=central, store=store, bus=bus, clock=clock)
    central.stop()
    bus.close()
    store.close()


def send(bus: InProcessBus, report: EventReport, topic_sensor: str | None = None) -> None:
    bus.publish(reports_topic(topic_sensor or report.sensor_id), report.to_json().encode())


def rejected(central: CentralService) -> dict[str, float]:
    return {
        str(r): central.metrics.reports_rejected.labels(reason=str(r))._value.get()
        for r in RejectReason
    }


def test_bad_messages_are_rejected_with_reasons_and_good_ones_counted_once(service: Any) -> None:
    bus, central = service.bus, service.central
    good = make_report("s1", onset_ns=T0)
    send(bus, good)
    send(bus, good)  # duplicate
    bus.publish(reports_topic("s1"), b"{not json")
    bus.publish(reports_topic("s1"), b"\xff\xfe")
    bus.publish(
        reports_topic("s1"), json.dumps({"schema": "ouie.report/1", "sensor_id": "s1"}).encode()
    )
    send(bus, make_report("s9", onset_ns=T0))  # not deployed
    send(bus, make_report("s2", onset_ns=T0), topic_sensor="s3")  # impersonation
    send(bus, make_report("s2", onset_ns=T0 + 60 * NS_PER_S))  # 59 s in the future
    send(bus, make_report("s2", onset_ns=T0 - 7200 * NS_PER_S))  # two hours old
    assert bus.drain(5)
    assert service.store.report_ids() == {good.report_id}
    assert rejected(central) == {
        "unstorable": 0,
        "malformed": 2,
        "schema": 1,
        "envelope": 0,
        "oversize": 0,
        "unknown_sensor": 1,
        "topic_mismatch": 1,
        "clock_future": 1,
        "clock_past": 1,
        "duplicate": 1,
    }
    assert central.metrics.reports_received._value.get() == 9
    assert central.metrics.reports_accepted._value.get() == 1


def test_reports_become_a_stored_published_cued_incident(service: Any) -> None:
    bus, store, central = service.bus, service.store, service.central
    published: list[dict[str, Any]] = []
    bus.subscribe(INCIDENTS_TOPIC, lambda _t, p: published.append(json.loads(p)))
    heard: list[tuple[str, dict[str, Any]]] = []
    central.add_listener(lambda kind, payload: heard.append((kind, payload)))
    reports = [make_report(f"s{i}", onset_ns=T0 + i * 1_000_000) for i in range(1, 5)]
    for report in reports:
        send(bus, report)
    assert bus.drain(5)
    central.stop()  # waits for the cue worker
    [row] = store.list_incidents()
    assert row.revision == 2 and row.sensors_used == ["s1", "s2", "s3", "s4"]
    assert [p["revision"] for p in published] == [1, 2]
    assert published[0]["class"] == "gunshot" and published[0]["incident_id"] == row.id
    assert published[0]["schema"] == "ouie.incident/1"
    assert [k for k, _p in heard] == ["incident", "incident"]
    # The revision moved the incident 56 m, beyond the first fix's 3 m radius: cued again.
    first, again = store.list_cues(row.id)
    for cue, heard_reports in ((first, reports[:3]), (again, reports)):
        end_ns = max(r.onset_ns for r in heard_reports) + round(0.3 * NS_PER_S)
        assert cue.state == "executed" and cue.executed_at_ns == end_ns + NS_PER_S // 5
        assert cue.latency_s == pytest.approx(0.2)
    assert central.metrics.cue_latency._sum.get() == pytest.approx(0.4)
    assert central.metrics.incidents._value.get() == 1
    assert central.metrics.incident_updates._value.get() == 1
    sensors = {s.id: s.online for s in store.list_sensors()}
    assert sensors == {"s1": True, "s2": True, "s3": True, "s4": True}


def test_a_video_event_raises_an_alert_but_moves_no_camera(service: Any) -> None:
    """A camera's intrusion (even one placed at the camera's mounting) is stored as an alert
    and never cued: the camera that saw it is already on it."""
    store, central = service.store, service.central
    intrusion = Incident(
        incident_id="video-1",
        revision=1,
        class_="intrusion",
        status="camera",
        onset_ns=T0,
        lat=45.44,
        lon=4.39,
        sensors_used=[],
        report_ids=[],
        score=1.0,
        video=VideoSighting(camera_id="cam-1", zone="tracks", people=1, end_ns=T0, ongoing=True),
    )
    asked: list[str] = []
    central.cuer = SimpleNamespace(cue=lambda record: asked.append(record.id) or [])
    central.add_incidents([intrusion])
    central.stop()  # waits for the cue worker
    (row,) = store.list_incidents()
    assert IncidentRecord.model_validate(
        {"id": row.id, "class": row.class_, "onset_ns": row.onset_ns, "video": row.video}
    ).raises_alert
    assert asked == [] and store.list_cues("video-1") == []


def test_heartbeat_status_and_silence(service: Any) -> None:
    bus, store, central, clock = service.bus, service.store, service.central, service.clock
    bus.publish(status_topic("s1"), b"online", retain=True)
    bus.publish(status_topic("s2"), b"online", retain=True)
    bus.publish(status_topic("s9"), b"online")  # unknown: ignored
    assert bus.drain(5)
    assert central.metrics.sensors_online._value.get() == 2
    bus.publish(status_topic("s2"), b"offline")  # its last will
    assert bus.drain(5)
    clock.now_ns += 30 * NS_PER_S
    send(bus, make_report("s3", onset_ns=clock.now_ns - NS_PER_S))
    assert bus.drain(5)
    clock.now_ns += 45 * NS_PER_S  # s1 silent 75 s > 60 s; s3 heard 45 s ago
    central.tick()
    states = {s.id: (s.online, s.status) for s in store.list_sensors()}
    assert states == {
        "s1": (False, "silent"),
        "s2": (False, "offline"),
        "s3": (True, "unknown"),
        "s4": (False, "unknown"),
    }
    assert central.metrics.sensors_online._value.get() == 1


def test_healthz_and_metrics(service: Any) -> None:
    send(service.bus, make_report("s1", onset_ns=T0))
    send(service.bus, make_report("s1", onset_ns=T0 + 10 * 60 * NS_PER_S))
    assert service.bus.drain(5)
    client = TestClient(create_app(service.central))
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "database": True,
        "database_writes": True,
        "ingest_backlog": 0,
        "bus_connected": True,
        "sensors_total": 4,
        "sensors_online": 1,
    }
    metrics = client.get("/metrics").text
    assert "ouie_reports_received_total 2.0" in metrics
    assert 'ouie_reports_rejected_total{reason="clock_future"} 1.0' in metrics
    assert "ouie_cue_latency_seconds_count 0.0" in metrics


def test_config_change_is_audited(service: Any) -> None:
    store = service.store
    assert audit_config(store, "se", "a" * 64) == "config.load"
    assert audit_config(store, "se", "a" * 64) == "config.load"
    assert audit_config(store, "se", "b" * 64) == "config.change"
    last = store.audit.last(["config.change"], "city:se")
    assert last is not None and last["details"] == {"sha256": "b" * 64, "previous_sha256": "a" * 64}


def write_city(tmp_path: Path, **overrides: Any) -> Path:
    (tmp_path / "sensors.geojson").write_text(json.dumps(sensors_geojson(SITES)))
    city = {
        "name": "test-city",
        "origin": {"lat": 45.44, "lon": 4.387},
        "database_url": f"sqlite:///{tmp_path / 'city.db'}",
        "sensors_file": "sensors.geojson",
        **overrides,
    }
    path = tmp_path / "city.yaml"
    path.write_text(json.dumps(city))  # JSON is YAML
    return path


def test_city_config_resolves_paths_and_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broker.secret").write_text("s3cret\n")
    city = load_city_config(write_city(tmp_path, broker={"password_file": "broker.secret"}))
    assert [s.id for s in city.sensors()] == ["s1", "s2", "s3", "s4"]
    assert city.broker.settings().password.get_secret_value() == "s3cret"  # type: ignore[union-attr]
    monkeypatch.setenv("OUIE_BROKER_PASSWORD", "from-env")
    city = load_city_config(write_city(tmp_path))
    assert city.broker.settings().password.get_secret_value() == "from-env"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"retention\.reports_days"):
        load_city_config(write_city(tmp_path, retention={"reports_days": -1}))
    with pytest.raises(ConfigError, match="sensors_file"):
        load_city_config(write_city(tmp_path, sensors_file="missing.geojson"))


def test_broker_secrets_are_never_echoed_and_a_missing_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password written into city.yaml is refused without being quoted; a password_env
    naming an unset variable is reported at start, not as a refused MQTT login later."""
    with pytest.raises(ConfigError, match=r"broker\.password: Extra inputs") as refused:
        load_city_config(write_city(tmp_path, broker={"password": "hunter2-literal"}))
    assert "hunter2-literal" not in str(refused.value)
    monkeypatch.delenv("OUIE_BROKER_PASSWORD", raising=False)
    city = load_city_config(write_city(tmp_path))
    with pytest.raises(ConfigError, match=r"broker\.password_env: .*OUIE_BROKER_PASSWORD is not"):
        city.broker.settings()


def test_audit_verify_command_names_the_tampered_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = Store.open(url)
    for k in range(6):
        store.audit(AuditEvent(action="incident.view", actor="alice", subject=f"incident:{k}"))
    runner = CliRunner()
    intact = runner.invoke(cli_app, ["audit", "verify", "--db", url])
    assert intact.exit_code == 0 and "intact" in intact.output and "6 entries" in intact.output
    export = tmp_path / "audit.jsonl"
    assert runner.invoke(cli_app, ["audit", "export", str(export), "--db", url]).exit_code == 0
    with store.engine.begin() as db:
        db.execute(text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3"))
        db.execute(text("DELETE FROM audit_entries WHERE seq = 5"))
    store.close()
    broken = runner.invoke(cli_app, ["audit", "verify", "--db", url])
    assert broken.exit_code == 1
    assert "row 3" in broken.output and "edited" in broken.output
    assert "row 6" in broken.output and "deleted or inserted" in broken.output
    assert runner.invoke(cli_app, ["audit", "verify", "--jsonl", str(export)]).exit_code == 0
    assert runner.invoke(cli_app, ["audit", "verify"]).exit_code == 2  # neither --db nor --config


def test_serve_refuses_a_bad_city_file_naming_the_field(tmp_path: Path) -> None:
    city = write_city(tmp_path, transport="carrier-pigeon")
    run = CliRunner().invoke(cli_app, ["serve", "--config", str(city)])
    assert run.exit_code == 2
    assert "transport" in run.output and "carrier-pigeon" in run.output
    city = write_city(tmp_path, database_url="mysql://ouie:hunter2@db/ouie")
    run = CliRunner().invoke(cli_app, ["serve", "--config", str(city)])
    assert run.exit_code == 2
    assert "database_url: 'mysql' is not supported" in run.output
    assert "hunter2" not in run.output


def test_audit_verify_reads_the_database_named_by_the_city_file(tmp_path: Path) -> None:
    city = write_city(tmp_path)
    store = Store.open(load_city_config(city).database_url)
    store.audit(AuditEvent(action="config.change", actor="admin", subject="city:test-city"))
    store.close()
    run = CliRunner().invoke(cli_app, ["audit", "verify", "--config", str(city)])
    assert run.exit_code == 0 and "1 entries" in run.output


@pytest.mark.timeout(60)  # a `serve` that wrongly starts would block until killed
def test_audit_verify_uses_the_city_key_and_catches_an_unkeyed_rewrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ouie.store.audit import GENESIS_HASH, AuditKey, entry_hash

    monkeypatch.delenv("OUIE_AUDIT_KEY", raising=False)
    (tmp_path / "audit.key").write_text("a" * 64 + "\n")
    city = write_city(tmp_path, audit={"key_file": "audit.key"})
    key = load_city_config(city).audit.key()
    assert key == AuditKey.from_text("a" * 64, "test")
    store = Store.open(load_city_config(city).database_url, audit_key=key)
    for k in range(3):
        store.audit(AuditEvent(action="incident.view", actor="alice", subject=f"incident:{k}"))
    runner = CliRunner()
    intact = runner.invoke(cli_app, ["audit", "verify", "--config", str(city)])
    assert intact.exit_code == 0 and "3 entries" in intact.output
    keyless_city = tmp_path / "keyless.yaml"  # the same city and database, without the key
    keyless_city.write_text(json.dumps({**json.loads(city.read_text()), "audit": {}}))
    keyless = runner.invoke(cli_app, ["serve", "--config", str(keyless_city)])
    assert keyless.exit_code == 2 and "the audit chain is keyed" in keyless.output
    assert "OUIE_AUDIT_KEY" in keyless.output  # refuses to start rather than write unkeyed rows
    without_key = runner.invoke(cli_app, ["audit", "verify", "--db", str(store.engine.url)])
    assert without_key.exit_code == 1 and "key_unknown" in without_key.output
    export = tmp_path / "audit.jsonl"
    assert (
        runner.invoke(cli_app, ["audit", "export", str(export), "--config", str(city)]).exit_code
        == 0
    )
    monkeypatch.setenv("OUIE_AUDIT_KEY", "a" * 64)  # the oversight body holds the key too
    assert runner.invoke(cli_app, ["audit", "verify", "--jsonl", str(export)]).exit_code == 0
    monkeypatch.delenv("OUIE_AUDIT_KEY")
    prev = GENESIS_HASH
    with store.engine.begin() as db:  # rewrite everything as a plain SHA-256 chain
        for entry in list(store.audit.entries()):
            digest = entry_hash({**entry, "actor": "mallory"}, prev)
            db.execute(
                text(
                    "UPDATE audit_entries SET actor='mallory', hash=:h, prev_hash=:p, key_id=NULL "
                    "WHERE seq=:s"
                ),
                {"h": digest, "p": prev, "s": entry["seq"]},
            )
            prev = digest
    store.close()
    forged = runner.invoke(cli_app, ["audit", "verify", "--config", str(city)])
    assert forged.exit_code == 1 and "unkeyed" in forged.output
    with_literal = write_city(tmp_path, audit={"key": "x" * 40})
    literal = runner.invoke(cli_app, ["serve", "--config", str(with_literal)])
    assert literal.exit_code == 2 and "audit" in literal.output
    assert "never goes in the configuration" in literal.output


def test_a_camera_is_cued_again_only_when_a_revision_leaves_the_circle_it_framed() -> None:
    cued = IncidentRecord.model_validate(
        {
            "id": "i1",
            "class": "gunshot",
            "onset_ns": T0,
            "lat": 45.0,
            "lon": 4.0,
            "uncertainty_m": 40.0,
        }
    )
    north_m = 1.0 / 111_195.0  # degrees of latitude per metre
    near = cued.model_copy(update={"lat": 45.0 + 30 * north_m, "uncertainty_m": 5.0})
    far = cued.model_copy(update={"lat": 45.0 + 50 * north_m, "uncertainty_m": 5.0})
    assert not moved_out_of_cue(cued, near)
    assert moved_out_of_cue(cued, far)
    assert not moved_out_of_cue(cued, cued.model_copy(update={"lat": None, "lon": None}))
