"""Class profiles by schedule: the decision (which incident still raises an alert), the hours
(wrapping midnight, in the site's zone), the central service applying them (no alert, no cue,
the reason stored) and the audit row of a supervisor's change."""

from __future__ import annotations

import json
from datetime import date, time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from ouie.central.service import CentralService
from ouie.core.incident import Assessment, Incident, IncidentStatus
from ouie.core.timebase import NS_PER_S, iso_to_ns
from ouie.fusion.profiles import ClassProfile, apply_profiles, distance_m
from ouie.store.repository import Store
from ouie.transport.bus import InProcessBus
from ouie.transport.topics import INCIDENTS_TOPIC, reports_topic
from tests.builders import SITES, Clock, FakeCuer, FakeFusion, make_report

STADIUM = {"name": "Stade Geoffroy-Guichard", "lat": 45.442, "lon": 4.387}
NIGHT = iso_to_ns("2026-07-14T21:30:00Z")  # 23:30 CEST on the 14th
AFTER_MIDNIGHT = iso_to_ns("2026-07-14T23:30:00Z")  # 01:30 CEST on the 15th
NEXT_NIGHT = iso_to_ns("2026-07-15T21:30:00Z")  # 23:30 CEST on the 15th


def fireworks_night(**overrides: Any) -> ClassProfile:
    spec: dict[str, Any] = {
        "name": "fireworks night",
        "time_zone": "Europe/Paris",
        "dates": ["2026-07-14"],
        "start": "20:00",
        "end": "02:00",
        "rules": [
            {"class": "gunshot", "min_score": 0.95, "near": [STADIUM], "radius_m": 300},
            {"class": "scream", "switch_off": True},
        ],
    }
    spec.update(overrides)
    return ClassProfile.model_validate(spec)


def incident(
    class_: str = "gunshot",
    score: float = 0.9,
    onset_ns: int = NIGHT,
    lat: float | None = 45.443,
    assessment: Assessment | None = None,
) -> Incident:
    return Incident(
        incident_id="inc-1",
        revision=1,
        class_=class_,
        status=IncidentStatus.FIX if lat is not None else IncidentStatus.HYPERBOLA,
        onset_ns=onset_ns,
        lat=lat,
        lon=4.387 if lat is not None else None,
        uncertainty_m=3.0 if lat is not None else None,
        score=score,
        sensors_used=["s1", "s2", "s3"],
        report_ids=["r1", "r2", "r3"],
        assessment=assessment,
    )


def test_distance_is_the_great_circle() -> None:
    # 0.001° of latitude is 111.2 m anywhere (R·π/180·0.001).
    assert distance_m(45.442, 4.387, 45.443, 4.387) == pytest.approx(111.19, abs=0.01)


def test_a_gunshot_under_the_raised_bar_near_the_venue_does_not_raise_an_alert() -> None:
    profile = fireworks_night()
    lowered = apply_profiles(incident(score=0.9), [profile])
    assert not lowered.raises_alert and lowered.unconfirmed
    assert lowered.assessment is not None
    [reason] = lowered.assessment.reasons
    assert "fireworks night" in reason and "0.95" in reason and "0.90" in reason
    assert "Stade Geoffroy-Guichard" in reason
    # Above the bar it stays an alert, untouched.
    kept = apply_profiles(incident(score=0.97), [profile])
    assert kept.raises_alert and kept.assessment is None
    # 111 m north of the venue is inside 300 m; 0.004° (445 m) is not.
    far = apply_profiles(incident(score=0.9, lat=45.446), [profile])
    assert far.raises_alert


def test_the_network_assessment_is_kept_and_the_profile_reason_comes_first() -> None:
    before = Assessment(
        confirmed=True, heard_by=3, expected_sensors=4, reasons=["3 of 4 sensors heard it"]
    )
    lowered = apply_profiles(incident(assessment=before), [fireworks_night()])
    assert lowered.assessment is not None
    assert lowered.assessment.heard_by == 3 and lowered.assessment.expected_sensors == 4
    assert lowered.assessment.reasons[0].startswith("profile 'fireworks night'")
    assert lowered.assessment.reasons[1] == "3 of 4 sensors heard it"


def test_hours_wrap_midnight_and_dates_name_the_night_it_starts() -> None:
    profile = fireworks_night()
    assert profile.active_at(NIGHT) and profile.active_at(AFTER_MIDNIGHT)
    assert not profile.active_at(NEXT_NIGHT)  # the 15th is not listed
    assert not profile.active_at(iso_to_ns("2026-07-14T12:00:00Z"))  # 14:00 local
    scream = incident("scream", score=0.99, lat=None)
    assert not apply_profiles(scream, [profile]).raises_alert  # site-wide: no position needed
    assert apply_profiles(incident("scream", onset_ns=NEXT_NIGHT), [profile]).raises_alert
    every_day = fireworks_night(dates=[], start="22:00", end="06:00")
    assert every_day.active_at(NEXT_NIGHT) and every_day.window_start_day(
        iso_to_ns("2026-07-16T03:00:00Z")
    ) == date(2026, 7, 15)


def test_an_unlocated_gunshot_is_not_near_a_venue_and_context_is_never_touched() -> None:
    profile = fireworks_night()
    assert apply_profiles(incident(score=0.5, lat=None), [profile]).raises_alert
    siren = incident("siren", score=0.1)
    assert apply_profiles(siren, [profile]) is siren


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules": [{"class": "siren", "switch_off": True}]}, "context class"),
        ({"rules": [{"class": "gunshot"}]}, "either sets min_score or switch_off"),
        ({"rules": [{"class": "gunshot", "min_score": 1.5}]}, "less than or equal to 1"),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"start": "25:00"}, "start"),
        ({"rules": []}, "at least 1"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        fireworks_night(**change)


def test_hours_and_summary_in_words() -> None:
    profile = fireworks_night()
    assert profile.start == time(20, 0)
    assert profile.summary() == (
        "fireworks night (20:00–02:00 Europe/Paris on 2026-07-14): gunshot needs score ≥ 0.95 "
        "within 300 m of Stade Geoffroy-Guichard; scream off anywhere on the site"
    )


@pytest.fixture
def service(tmp_path: Path) -> Any:
    store = Store.open(f"sqlite:///{tmp_path / 'central.db'}")
    bus, clock = InProcessBus(), Clock(NIGHT + NS_PER_S)
    cuer = FakeCuer(store)
    central = CentralService(
        store,
        bus,
        FakeFusion(),
        SITES,
        heartbeat_timeout_s=60,
        cuer=cuer,
        clock=clock,
        tick_s=3600,
    )
    central.start()
    yield SimpleNamespace(central=central, store=store, bus=bus, cuer=cuer)
    central.stop()
    bus.close()
    store.close()


def test_the_central_service_applies_the_profile_in_force(service: Any) -> None:
    store, bus, central = service.store, service.bus, service.central
    # FakeFusion puts the fix at the mean of s1..s3 (45.442, 4.387): on the venue.
    store.set_profile("fireworks night", fireworks_night().model_dump(mode="json"), "sup")
    published: list[dict[str, Any]] = []
    bus.subscribe(INCIDENTS_TOPIC, lambda _t, p: published.append(json.loads(p)))
    for i in range(1, 4):
        report = make_report(f"s{i}", onset_ns=NIGHT + i * 1_000_000, score=0.9)
        bus.publish(reports_topic(report.sensor_id), report.to_json().encode())
    assert bus.drain(5)
    central.stop()
    [row] = store.list_incidents()
    assert row.assessment is not None and row.assessment["confirmed"] is False
    assert "needs a score of at least 0.95" in row.assessment["reasons"][0]
    assert store.list_cues(row.id) == [] and not service.cuer.cued.is_set()
    assert published[0]["assessment"]["confirmed"] is False


def test_without_the_profile_the_same_incident_raises_an_alert_and_is_cued(service: Any) -> None:
    store, bus, central = service.store, service.bus, service.central
    store.set_profile("fireworks night", fireworks_night().model_dump(mode="json"), "sup")
    store.delete_profile("fireworks night", "sup")
    for i in range(1, 4):
        report = make_report(f"s{i}", onset_ns=NIGHT + i * 1_000_000, score=0.9)
        bus.publish(reports_topic(report.sensor_id), report.to_json().encode())
    assert bus.drain(5)
    central.stop()
    [row] = store.list_incidents()
    assert row.assessment is None
    assert [cue.state for cue in store.list_cues(row.id)] == ["executed"]


def test_setting_and_deleting_a_profile_is_audited_with_who_and_what(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'audit.db'}")
    spec = fireworks_night().model_dump(mode="json")
    store.set_profile("fireworks night", spec, "alice")
    store.delete_profile("fireworks night", "bob")
    with pytest.raises(KeyError):
        store.delete_profile("fireworks night", "bob")
    set_row, delete_row = [e for e in store.audit.entries() if e["action"].startswith("profile.")]
    assert (set_row["action"], set_row["actor"], set_row["subject"]) == (
        "profile.set",
        "alice",
        "profile:fireworks night",
    )
    assert set_row["details"]["profile"]["rules"][0]["min_score"] == 0.95
    assert (delete_row["action"], delete_row["actor"]) == ("profile.delete", "bob")
    assert store.audit.verify() == []
    assert store.list_profiles() == []
    store.close()


def test_ouie_profile_set_reads_yaml_names_a_bad_field_and_audits(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ouie.cli import app

    database = f"sqlite:///{tmp_path / 'cli.db'}"
    good = tmp_path / "night.yaml"
    good.write_text(
        "name: fireworks night\ndates: [2026-07-14]\nstart: '20:00'\nend: '02:00'\n"
        "rules:\n  - class: gunshot\n    min_score: 0.95\n    near:\n"
        "      - {name: Parc, lat: 45.4405, lon: 4.3872}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(
        app, ["profile", "set", str(good), "--database", database, "--actor", "sam"]
    )
    assert result.exit_code == 0, result.output
    assert "gunshot needs score ≥ 0.95 within 300 m of Parc" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nrules:\n  - class: gunshot\n    min_score: 3\n", encoding="utf-8")
    result = runner.invoke(app, ["profile", "set", str(bad), "--database", database])
    assert result.exit_code == 1 and "rules.0.min_score" in result.output
    store = Store.open(database)
    try:
        assert [row.name for row in store.list_profiles()] == ["fireworks night"]
        assert [e["actor"] for e in store.audit.entries() if e["action"] == "profile.set"] == [
            "sam"
        ]
    finally:
        store.close()
    result = runner.invoke(app, ["profile", "remove", "nope", "--database", database])
    assert result.exit_code == 1 and "no profile named 'nope'" in result.output
