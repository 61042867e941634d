"""The console API through FastAPI's TestClient: logins, roles, CSRF, triage, cue approval and
the audit trail, on a real (SQLite) store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ouie.console.app import SESSION_COOKIE, create_console_app
from ouie.console.auth import CSRF_HEADER, LoginThrottle, hash_password
from ouie.console.users import disable_user, set_password
from ouie.console.views import CameraView
from ouie.store.audit import ChainProblem
from ouie.store.models import CueRow
from ouie.store.records import CueState, IncidentRecord, Role
from ouie.store.repository import Store
from tests.builders import console_services

PASSWORDS = {"olga": "op-secret-1", "sam": "sup-secret-2", "ada": "aud-secret-3", "root": "adm-4"}
ROLES = {"olga": Role.OPERATOR, "sam": Role.SUPERVISOR, "ada": Role.AUDITOR, "root": Role.ADMIN}
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


class RecordingDesk:
    """A camera desk that records the moves it is asked for."""

    def __init__(self) -> None:
        self.executed: list[tuple[int, str]] = []
        self.declined: list[tuple[int, str]] = []
        self.released: list[tuple[str, str]] = []

    def views(self) -> list[CameraView]:
        return [
            CameraView(
                id="cam-1",
                lat=45.44,
                lon=4.39,
                bearing_deg=90.0,
                tilt_deg=-5,
                hfov_deg=40,
                state="home",
            )
        ]

    def snapshot(self, camera_id: str) -> tuple[bytes, str]:
        if camera_id != "cam-1":
            raise KeyError(camera_id)
        return PNG_1PX, "image/png"

    def execute(self, cue: CueRow, actor: str) -> bool:
        self.executed.append((cue.id, actor))
        return True

    def decline(self, cue: CueRow, actor: str) -> bool:
        self.declined.append((cue.id, actor))
        return True

    def release(self, incident_id: str, actor: str) -> list[str]:
        self.released.append((incident_id, actor))
        return ["cam-1"]


@pytest.fixture(scope="module")
def password_hashes() -> dict[str, str]:
    return {name: hash_password(password) for name, password in PASSWORDS.items()}


@pytest.fixture
def store(tmp_path: Path, password_hashes: dict[str, str]) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'ouie.db'}")
    for name, role in ROLES.items():
        store.add_user(name, role, password_hashes[name])
    store.save_incident(
        IncidentRecord(
            id="inc-1",
            class_="gunshot",
            onset_ns=1_782_075_600_000_000_000,
            lat=45.4405,
            lon=4.3872,
            uncertainty_m=12.5,
            sensors_used=["s01", "s02", "s03"],
            revision=1,
        )
    )
    store.add_cue("inc-1", "cam-1", "suggest", CueState.SUGGESTED, 31.0, -8.0, 0.4)
    yield store
    store.close()


@pytest.fixture
def desk() -> RecordingDesk:
    return RecordingDesk()


@pytest.fixture
def client(store: Store, desk: RecordingDesk) -> Iterator[TestClient]:
    with TestClient(create_console_app(console_services(store, cameras=desk))) as client:
        yield client


def csrf(client: TestClient) -> dict[str, str]:
    return {CSRF_HEADER: client.get("/api/session").json()["csrf"]}


def log_in(client: TestClient, name: str) -> dict[str, str]:
    """Log `name` in; returns the headers (CSRF) for the session's state-changing requests."""
    response = client.post(
        "/api/login", json={"name": name, "password": PASSWORDS[name]}, headers=csrf(client)
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == ROLES[name].value
    return {CSRF_HEADER: response.json()["csrf"]}


def audit_actions(store: Store) -> list[tuple[str, str, str]]:
    return [(e["action"], e["actor"], e["subject"]) for e in store.audit.entries()]


def test_login_with_a_wrong_password_is_refused_and_audited(
    client: TestClient, store: Store
) -> None:
    response = client.post(
        "/api/login", json={"name": "olga", "password": "guess"}, headers=csrf(client)
    )
    assert response.status_code == 401
    assert client.get("/api/session").json()["user"] is None
    assert client.get("/api/incidents").status_code == 401
    assert ("auth.login_failed", "anonymous", "user:olga") in audit_actions(store)


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client: TestClient) -> None:
    response = client.post(
        "/api/login", json={"name": "mallory", "password": "x"}, headers=csrf(client)
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong user name or password"


def test_login_without_the_csrf_token_is_refused(client: TestClient, store: Store) -> None:
    response = client.post("/api/login", json={"name": "olga", "password": PASSWORDS["olga"]})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not [a for a in audit_actions(store) if a[0].startswith("auth.")]


def test_login_is_audited_and_sets_a_strict_httponly_cookie(
    client: TestClient, store: Store
) -> None:
    response = client.post(
        "/api/login", json={"name": "olga", "password": PASSWORDS["olga"]}, headers=csrf(client)
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert ("auth.login", "olga", "user:olga") in audit_actions(store)
    assert response.json()["permissions"] == ["approve_cue", "save_image", "triage", "view"]


def test_operator_cannot_read_the_audit_trail(client: TestClient) -> None:
    log_in(client, "olga")
    assert client.get("/api/audit").status_code == 403


def test_auditor_reads_a_verified_chain_but_cannot_triage(client: TestClient, store: Store) -> None:
    headers = log_in(client, "ada")
    page = client.get("/api/audit").json()
    assert page["chain_ok"] is True
    assert page["total"] == len(audit_actions(store))
    assert page["entries"][0]["action"] == "auth.login"  # newest first
    response = client.post(
        "/api/incidents/inc-1/disposition", json={"action": "confirm"}, headers=headers
    )
    assert response.status_code == 403
    assert store.list_dispositions("inc-1") == []
    assert client.post("/api/incidents/inc-1/cues/1/approve", headers=headers).status_code == 403


def test_audit_filter_by_action_prefix(client: TestClient) -> None:
    log_in(client, "sam")
    client.get("/api/incidents/inc-1")
    page = client.get("/api/audit", params={"action": "incident."}).json()
    assert [e["action"] for e in page["entries"]] == ["incident.view"]
    assert page["entries"][0]["subject"] == "incident:inc-1"


def test_state_change_without_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, store: Store
) -> None:
    log_in(client, "olga")
    for headers in ({}, {CSRF_HEADER: "forged"}):
        response = client.post(
            "/api/incidents/inc-1/disposition", json={"action": "confirm"}, headers=headers
        )
        assert response.status_code == 403
    assert store.list_dispositions("inc-1") == []
    assert store.get_incident("inc-1").disposition is None  # type: ignore[union-attr]


def test_viewing_an_incident_is_audited(client: TestClient, store: Store) -> None:
    log_in(client, "olga")
    detail = client.get("/api/incidents/inc-1").json()
    assert detail["class"] == "gunshot"
    assert detail["uncertainty_m"] == pytest.approx(12.5)
    assert detail["sensors_used"] == ["s01", "s02", "s03"]
    assert detail["cues"][0]["state"] == "suggested"
    assert ("incident.view", "olga", "incident:inc-1") in audit_actions(store)
    assert client.get("/api/incidents/nope").status_code == 404


def test_operator_confirms_and_the_chain_records_it(client: TestClient, store: Store) -> None:
    headers = log_in(client, "olga")
    response = client.post(
        "/api/incidents/inc-1/disposition",
        json={"action": "confirm", "note": "heard on the radio too"},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["disposition"] == "confirm"
    assert [d["actor"] for d in response.json()["dispositions"]] == ["olga"]
    assert ("incident.disposition", "olga", "incident:inc-1") in audit_actions(store)
    assert store.audit.verify() == []
    assert client.get("/api/incidents").json()[0]["disposition"] == "confirm"


@pytest.mark.parametrize(("action", "released"), [("confirm", True), ("escalate", False)])
def test_a_decided_incident_sends_its_cameras_home_an_escalated_one_keeps_them(
    client: TestClient, desk: RecordingDesk, action: str, released: bool
) -> None:
    headers = log_in(client, "olga")
    response = client.post(
        "/api/incidents/inc-1/disposition", json={"action": action}, headers=headers
    )
    assert response.status_code == 200
    assert desk.released == ([("inc-1", "olga")] if released else [])


def test_dismiss_needs_a_reason_from_the_list(client: TestClient, store: Store) -> None:
    headers = log_in(client, "olga")
    url = "/api/incidents/inc-1/disposition"
    assert client.post(url, json={"action": "dismiss"}, headers=headers).status_code == 422
    bad = client.post(url, json={"action": "dismiss", "reason": "boredom"}, headers=headers)
    assert bad.status_code == 422
    ok = client.post(url, json={"action": "dismiss", "reason": "fireworks"}, headers=headers)
    assert ok.status_code == 200
    assert [(d.action, d.reason) for d in store.list_dispositions("inc-1")] == [
        ("dismiss", "fireworks")
    ]


def test_approving_a_suggested_cue_moves_the_camera_once(
    client: TestClient, store: Store, desk: RecordingDesk
) -> None:
    headers = log_in(client, "olga")
    cue_id = store.list_cues("inc-1")[0].id
    url = f"/api/incidents/inc-1/cues/{cue_id}/approve"
    response = client.post(url, headers=headers)
    assert response.status_code == 200
    assert response.json()["cues"][0]["state"] == "executed"
    assert desk.executed == [(cue_id, "olga")]
    assert client.post(url, headers=headers).status_code == 409
    assert desk.executed == [(cue_id, "olga")]


def test_declining_a_suggested_cue_moves_nothing_and_settles_it(
    client: TestClient, store: Store, desk: RecordingDesk
) -> None:
    cue_id = store.list_cues("inc-1")[0].id
    auditor = log_in(client, "ada")
    url = f"/api/incidents/inc-1/cues/{cue_id}"
    assert client.post(f"{url}/decline", headers=auditor).status_code == 403
    operator = log_in(client, "olga")
    response = client.post(f"{url}/decline", headers=operator)
    assert response.status_code == 200
    assert response.json()["cues"][0]["state"] == "refused"
    assert desk.declined == [(cue_id, "olga")]
    assert client.post(f"{url}/approve", headers=operator).status_code == 409
    assert desk.executed == []


def test_snapshot_is_proxied_from_the_camera(client: TestClient) -> None:
    log_in(client, "olga")
    response = client.get("/api/cameras/cam-1/snapshot")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == PNG_1PX
    assert client.get("/api/cameras/cam-9/snapshot").status_code == 404


def test_logout_ends_the_session(client: TestClient) -> None:
    headers = log_in(client, "sam")
    assert client.post("/api/logout", headers=headers).status_code == 200
    assert client.get("/api/incidents").status_code == 401


def test_pages_and_leaflet_are_bundled_with_strict_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'src="vendor/leaflet/leaflet.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    leaflet = client.get("/vendor/leaflet/leaflet.js")
    assert leaflet.status_code == 200
    assert "Leaflet 1.9.4" in leaflet.text[:200]
    assert client.get("/vendor/leaflet/images/marker-icon.png").status_code == 200
    assert client.get("/api/openapi.json").status_code == 404  # no API map for anonymous visitors


def test_disabling_a_user_ends_their_open_session(client: TestClient, store: Store) -> None:
    log_in(client, "olga")
    assert client.get("/api/incidents").status_code == 200
    assert disable_user(store, "olga", actor="root")
    response = client.get("/api/incidents")
    assert response.status_code == 401
    assert response.json()["detail"] == "session no longer valid"
    assert client.get("/api/session").json()["user"] is None
    refused = client.post(
        "/api/login", json={"name": "olga", "password": PASSWORDS["olga"]}, headers=csrf(client)
    )
    assert refused.status_code == 401
    assert ("user.disable", "root", "user:olga") in audit_actions(store)


def login_attempt(client: TestClient, name: str, password: str) -> int:
    response = client.post(
        "/api/login", json={"name": name, "password": password}, headers=csrf(client)
    )
    return response.status_code


def from_address(client: TestClient, host: str) -> TestClient:
    """Another browser, at client address `host`, on the same console app."""
    return TestClient(client.app, client=(host, 50000))


def test_failed_logins_lock_the_name_from_that_address_only(
    client: TestClient, store: Store
) -> None:
    """Five wrong passwords for sam from one address: the sixth attempt, even with the right
    password, is refused (429, Retry-After) without checking it. Sam logs in from his own
    desk meanwhile (a guesser cannot lock him out), and 50 more throttled attempts add one
    audit row, not 50."""
    for _ in range(5):
        assert login_attempt(client, "sam", "x") == 401
    right = client.post(
        "/api/login", json={"name": "sam", "password": PASSWORDS["sam"]}, headers=csrf(client)
    )
    assert right.status_code == 429
    assert 0 < int(right.headers["retry-after"]) <= 300
    rows_before = store.audit.count()
    for _ in range(50):
        assert login_attempt(client, "sam", "x") == 429
    assert store.audit.count() == rows_before  # the first refusal was audited already
    throttled = [e for e in store.audit.entries() if e["action"] == "auth.throttled"]
    assert [(e["subject"], e["details"]["limit"]) for e in throttled] == [("user:sam", "per_name")]
    assert login_attempt(client, "olga", PASSWORDS["olga"]) == 200  # other names: not locked
    sams_desk = from_address(client, "10.0.0.7")
    assert login_attempt(sams_desk, "sam", PASSWORDS["sam"]) == 200


def test_spraying_one_password_over_many_names_is_capped_per_address(client: TestClient) -> None:
    """30 attempts from one address over 30 names, then every name is refused there."""
    for k in range(30):
        assert login_attempt(client, f"user{k}", "Winter2026!") == 401
    assert login_attempt(client, "olga", PASSWORDS["olga"]) == 429
    assert login_attempt(from_address(client, "10.0.0.8"), "olga", PASSWORDS["olga"]) == 200


def test_concurrent_wrong_logins_check_at_most_the_limit_of_passwords(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 wrong logins for one name at once: the throttle admits and counts in one atomic
    step, so exactly 5 passwords are checked (the probe saw 18) and 35 answers are 429."""
    import ouie.console.api as api

    checked = []
    verify = api.verify_password

    def counting_verify(password_hash: str | None, password: str) -> bool:
        checked.append(password)
        return verify(password_hash, password)

    monkeypatch.setattr(api, "verify_password", counting_verify)
    headers = csrf(client)
    barrier = threading.Barrier(40)

    def attempt(_: int) -> int:
        barrier.wait()
        return client.post(
            "/api/login", json={"name": "sam", "password": "wrong"}, headers=headers
        ).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(attempt, range(40)))
    assert len(checked) == 5
    assert sorted(answers) == [401] * 5 + [429] * 35


def test_login_throttle_frees_slots_after_the_window_and_after_success() -> None:
    throttle = LoginThrottle(max_per_name=2, max_per_client=10, window_s=1)
    assert throttle.admit("a", "olga").wait_s == 0.0
    assert throttle.admit("a", "olga").wait_s == 0.0
    refused = throttle.admit("a", "olga")
    assert 0.0 < refused.wait_s <= 1.0 and refused.refused_by == "per_name"
    assert refused.first_refusal and not throttle.admit("a", "olga").first_refusal
    assert throttle.admit("b", "olga").wait_s == 0.0  # another address
    time.sleep(1.05)  # a lower bound only: a slow machine waits longer, never fails
    assert throttle.admit("a", "olga").wait_s == 0.0  # the window moved on
    throttle.succeeded("a", "olga")
    assert throttle.admit("a", "olga").wait_s == 0.0
    assert throttle.admit("a", "olga").wait_s == 0.0


def test_the_audit_page_verifies_the_chain_at_most_once_per_interval(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified = []
    verify = store.audit.verify

    def counting_verify() -> list[ChainProblem]:
        verified.append(1)
        return verify()

    monkeypatch.setattr(store.audit, "verify", counting_verify)
    log_in(client, "ada")
    pages = [client.get("/api/audit").json() for _ in range(20)]
    assert len(verified) == 1
    assert all(page["chain_ok"] for page in pages)
    assert len({page["chain_checked_at_ns"] for page in pages}) == 1


def stolen_copy(client: TestClient) -> TestClient:
    """A second client holding a copy of `client`'s session cookie (a thief's browser)."""
    thief = TestClient(client.app)
    thief.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    return thief


def logout(client: TestClient, store: Store, headers: dict[str, str]) -> None:
    assert client.post("/api/logout", headers=headers).status_code == 200


def change_password(client: TestClient, store: Store, headers: dict[str, str]) -> None:
    assert set_password(store, "olga", "a-brand-new-passphrase", actor="root")


def disable(client: TestClient, store: Store, headers: dict[str, str]) -> None:
    assert disable_user(store, "olga", actor="root")


Ending = Callable[[TestClient, Store, dict[str, str]], None]


@pytest.mark.parametrize("end", [logout, change_password, disable])
def test_a_copied_cookie_dies_with_its_session(
    end: Ending,
    client: TestClient,
    store: Store,
) -> None:
    headers = log_in(client, "olga")
    thief = stolen_copy(client)
    assert thief.get("/api/incidents").status_code == 200  # the copy works while the session does
    end(client, store, headers)
    assert thief.get("/api/incidents").status_code == 401
    assert thief.get("/api/incidents/inc-1").status_code == 401
    write = thief.post(
        "/api/incidents/inc-1/disposition",
        json={"action": "confirm"},
        headers={CSRF_HEADER: headers[CSRF_HEADER]},
    )
    assert write.status_code == 401
    assert store.list_dispositions("inc-1") == []
    assert client.get("/api/incidents").status_code == 401  # the owner's browser too


def test_a_password_change_is_audited_and_the_new_password_logs_in(
    client: TestClient,
    store: Store,
) -> None:
    log_in(client, "sam")
    assert set_password(store, "sam", "another-long-passphrase", actor="root")
    assert ("user.password", "root", "user:sam") in audit_actions(store)
    token = client.get("/api/session").json()
    assert token["user"] is None
    answer = client.post(
        "/api/login",
        json={"name": "sam", "password": "another-long-passphrase"},
        headers={CSRF_HEADER: token["csrf"]},
    )
    assert answer.status_code == 200
    assert PASSWORDS["sam"] != "another-long-passphrase"
