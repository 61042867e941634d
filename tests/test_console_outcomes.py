"""Outcomes, class profiles and "look here" through the console's API: who may, CSRF, the
audit rows, the banner, and clear refusals (reusing tests/test_console_api.py's fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ouie.console.app import create_console_app
from ouie.console.views import LookView
from ouie.core.timebase import iso_to_ns
from ouie.store.repository import Store
from tests.builders import console_services
from tests.test_console_api import (  # noqa: F401 (fixtures)
    RecordingDesk,
    audit_actions,
    log_in,
    password_hashes,
    store,
)

NIGHT = {
    "name": "fireworks night",
    "time_zone": "Europe/Paris",
    "start": "20:00",
    "end": "02:00",
    "rules": [
        {
            "class": "gunshot",
            "min_score": 0.95,
            "near": [{"name": "Parc François Mitterrand", "lat": 45.4405, "lon": 4.3872}],
            "radius_m": 300,
        }
    ],
}


class LookingDesk(RecordingDesk):
    """RecordingDesk that also answers "look here" (the real one: test_console_cameras.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.looked: list[tuple[float, float, str]] = []

    def look_here(self, lat: float, lon: float, actor: str) -> LookView:
        self.looked.append((lat, lon, actor))
        return LookView(moved=True, camera_id="cam-1", message="cam-1 turned")


def make_client(served: Store, mode: str, clock_iso: str) -> tuple[TestClient, LookingDesk]:
    served.clock = lambda: iso_to_ns(clock_iso)
    desk = LookingDesk()
    return TestClient(create_console_app(console_services(served, mode, cameras=desk))), desk


@pytest.fixture
def night(store: Store) -> Iterator[tuple[TestClient, LookingDesk]]:  # noqa: F811
    client, desk = make_client(store, "suggest", "2026-07-14T21:30:00Z")  # 23:30 CEST
    with client:
        yield client, desk


def test_an_operator_records_the_outcome_later_and_corrects_it(
    night: tuple[TestClient, LookingDesk],
    store: Store,  # noqa: F811
) -> None:
    client, _desk = night
    headers = log_in(client, "olga")
    body: dict[str, Any] = {"dispatched": True, "evidence": "nothing"}
    detail = client.post("/api/incidents/inc-1/outcome", json=body, headers=headers).json()
    assert detail["outcome"]["evidence"] == "nothing" and detail["outcome"]["actor"] == "olga"
    body = {"dispatched": True, "evidence": "found", "note": "casings"}
    detail = client.post("/api/incidents/inc-1/outcome", json=body, headers=headers).json()
    assert detail["outcome"]["evidence"] == "found" and detail["outcome"]["note"] == "casings"
    outcomes = [e for e in store.audit.entries() if e["action"] == "incident.outcome"]
    assert [e["actor"] for e in outcomes] == ["olga", "olga"]
    assert outcomes[1]["details"]["previous"] == {"dispatched": True, "evidence": "nothing"}
    bad = client.post(
        "/api/incidents/inc-1/outcome", json={"dispatched": 1, "evidence": "maybe"}, headers=headers
    )
    assert bad.status_code == 422
    missing = client.post("/api/incidents/nope/outcome", json=body, headers=headers)
    assert missing.status_code == 404


def test_outcomes_need_the_triage_right_and_the_csrf_token(
    night: tuple[TestClient, LookingDesk],
    store: Store,  # noqa: F811
) -> None:
    client, _desk = night
    body = {"dispatched": False, "evidence": "unknown"}
    headers = log_in(client, "ada")  # auditor
    assert (
        client.post("/api/incidents/inc-1/outcome", json=body, headers=headers).status_code == 403
    )
    log_in(client, "olga")
    assert client.post("/api/incidents/inc-1/outcome", json=body).status_code == 403  # no CSRF
    assert store.get_outcome("inc-1") is None


def test_only_a_supervisor_sets_a_profile_and_the_banner_shows_it_in_force(
    night: tuple[TestClient, LookingDesk],
    store: Store,  # noqa: F811
) -> None:
    client, _desk = night
    headers = log_in(client, "olga")
    assert client.post("/api/profiles", json=NIGHT, headers=headers).status_code == 403
    headers = log_in(client, "sam")
    assert client.post("/api/profiles", json=NIGHT).status_code == 403  # no CSRF
    [view] = client.post("/api/profiles", json=NIGHT, headers=headers).json()
    assert view["active_now"] is True and view["actor"] == "sam"
    banner = client.get("/api/overview").json()["profiles_active"]
    assert banner == [
        "fireworks night (20:00–02:00 Europe/Paris, every day): gunshot needs score ≥ 0.95 "
        "within 300 m of Parc François Mitterrand"
    ]
    assert ("profile.set", "sam", "profile:fireworks night") in audit_actions(store)
    assert client.delete("/api/profiles/fireworks night", headers=headers).json() == []
    assert ("profile.delete", "sam", "profile:fireworks night") in audit_actions(store)
    assert client.get("/api/overview").json()["profiles_active"] == []


def test_a_bad_profile_is_refused_naming_the_field_and_nothing_changes(
    night: tuple[TestClient, LookingDesk],
    store: Store,  # noqa: F811
) -> None:
    client, _desk = night
    headers = log_in(client, "sam")
    bad = {**NIGHT, "rules": [{"class": "gunshot", "min_score": 2}]}
    response = client.post("/api/profiles", json=bad, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("rules.0.min_score: Input should be less")
    assert store.list_profiles() == []
    assert not any(action == "profile.set" for action, _a, _s in audit_actions(store))


def test_a_profile_outside_its_hours_is_listed_but_not_in_the_banner(
    store: Store,  # noqa: F811
) -> None:
    client, _desk = make_client(store, "suggest", "2026-07-14T10:00:00Z")  # noon CEST
    with client:
        headers = log_in(client, "sam")
        [view] = client.post("/api/profiles", json=NIGHT, headers=headers).json()
        assert view["active_now"] is False
        assert client.get("/api/overview").json()["profiles_active"] == []


def test_look_here_becomes_a_cue_audited_with_who_and_where(
    night: tuple[TestClient, LookingDesk],
    store: Store,  # noqa: F811
) -> None:
    client, desk = night
    headers = log_in(client, "olga")
    answer = client.post("/api/look", json={"lat": 45.4411, "lon": 4.3866}, headers=headers)
    assert answer.status_code == 200 and answer.json()["camera_id"] == "cam-1"
    assert desk.looked == [(45.4411, 4.3866, "olga")]
    [entry] = [e for e in store.audit.entries() if e["action"] == "camera.look_requested"]
    assert (entry["actor"], entry["subject"]) == ("olga", "place:45.441100,4.386600")
    assert entry["details"]["mode"] == "suggest"


def test_look_here_is_refused_for_an_auditor_and_in_mode_off(
    store: Store,  # noqa: F811
) -> None:
    client, desk = make_client(store, "suggest", "2026-07-14T21:30:00Z")
    with client:
        headers = log_in(client, "ada")
        refused = client.post("/api/look", json={"lat": 45.44, "lon": 4.39}, headers=headers)
        assert refused.status_code == 403 and "may not approve_cue" in refused.json()["detail"]
    client, desk = make_client(store, "off", "2026-07-14T21:30:00Z")
    with client:
        headers = log_in(client, "olga")
        off = client.post("/api/look", json={"lat": 45.44, "lon": 4.39}, headers=headers)
        assert off.status_code == 409 and "cue mode is off" in off.json()["detail"]
        outside = client.post("/api/look", json={"lat": 95, "lon": 4.39}, headers=headers)
        assert outside.status_code == 422
    assert desk.looked == []
    assert not any(a == "camera.look_requested" for a, _b, _c in audit_actions(store))
