"""An operator's "save image" on a video incident: the only way an image is ever stored. The
console stores the camera's current view, people blurred, with the incident (role-checked,
CSRF-checked, audited with who, when and which camera); only a supervisor may save one
unblurred, with a reason, audited apart, and only a supervisor may open it (each view audited).
Retention deletes the images with their incident. The views carry the zones and lines."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from ouie.console.app import create_console_app
from ouie.console.auth import CSRF_HEADER, hash_password
from ouie.core.config import validate_config
from ouie.core.incident import Incident
from ouie.core.timebase import ns_to_iso
from ouie.store.records import IncidentRecord, Role
from ouie.store.repository import Store
from ouie.store.retention import NS_PER_DAY, RetentionPolicy, purge
from ouie.video.config import VideoConfig
from ouie.video.incidents import CameraWatch
from ouie.video.privacy import ZONE_BGR
from tests.builders import console_services
from tests.video_clips import CAMERA, DECLARED, write_walkers_clip

PASSWORDS = {"olga": "op-secret-1", "sam": "sup-secret-2", "ada": "aud-secret-3"}
ROLES = {"olga": Role.OPERATOR, "sam": Role.SUPERVISOR, "ada": Role.AUDITOR}
ONSET_NS = 1_782_075_600_000_000_000
VIDEO = "video-1"


class CameraViews:
    """The video desk as the console sees it: a blurred and an unblurred current view."""

    def __init__(self) -> None:
        self.has_view = True

    def snapshot(self, camera_id: str, *, blurred: bool = True) -> tuple[bytes, str]:
        if camera_id != "gare-1":
            raise KeyError(camera_id)
        if not self.has_view:
            raise LookupError("video camera gare-1 has no current view")
        return (b"blurred view" if blurred else b"unblurred view"), "image/jpeg"


@pytest.fixture(scope="module")
def password_hashes() -> dict[str, str]:
    return {name: hash_password(password) for name, password in PASSWORDS.items()}


@pytest.fixture
def store(tmp_path: Path, password_hashes: dict[str, str]) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'ouie.db'}")
    for name, role in ROLES.items():
        store.add_user(name, role, password_hashes[name])
    video = {"camera_id": "gare-1", "zone": "tracks", "people": 2, "end_ns": ONSET_NS + 10**10}
    store.save_incident(
        IncidentRecord(
            id=VIDEO,
            class_="intrusion",
            onset_ns=ONSET_NS,
            status="camera",
            score=1.0,
            revision=1,
            video={**video, "ongoing": True},
        )
    )
    store.save_incident(
        IncidentRecord(id="sound-1", class_="gunshot", onset_ns=ONSET_NS, revision=1)
    )
    yield store
    store.close()


@pytest.fixture
def views() -> CameraViews:
    return CameraViews()


@pytest.fixture
def client(store: Store, views: CameraViews) -> Iterator[TestClient]:
    services = console_services(store, "off", video=views)
    with TestClient(create_console_app(services)) as client:
        yield client


def log_in(client: TestClient, name: str) -> dict[str, str]:
    token = client.get("/api/session").json()["csrf"]
    response = client.post(
        "/api/login",
        json={"name": name, "password": PASSWORDS[name]},
        headers={CSRF_HEADER: token},
    )
    assert response.status_code == 200, response.text
    return {CSRF_HEADER: response.json()["csrf"]}


def audited(store: Store, action: str) -> list[dict[str, object]]:
    return [entry for entry in store.audit.entries() if entry["action"] == action]


def test_an_operator_saves_the_blurred_view_and_it_is_audited(
    client: TestClient, store: Store
) -> None:
    headers = log_in(client, "olga")
    assert store.list_incident_images(VIDEO) == []  # nothing is stored until someone saves
    refused = client.post(f"/api/incidents/{VIDEO}/images", json={})  # no CSRF token
    assert refused.status_code == 403 and store.list_incident_images(VIDEO) == []
    response = client.post(f"/api/incidents/{VIDEO}/images", json={}, headers=headers)
    assert response.status_code == 200, response.text
    (image,) = response.json()["images"]
    assert (image["camera_id"], image["blurred"], image["saved_by"]) == ("gare-1", True, "olga")
    shown = client.get(f"/api/incidents/{VIDEO}").json()["images"]
    assert shown == [image]
    body = client.get(f"/api/incidents/{VIDEO}/images/{image['id']}")
    assert body.content == b"blurred view" and body.headers["cache-control"] == "no-store"
    (entry,) = audited(store, "incident.image_saved")
    assert (entry["actor"], entry["subject"]) == ("olga", f"incident:{VIDEO}")
    assert entry["details"] == {
        "image_id": image["id"],
        "camera_id": "gare-1",
        "blurred": True,
        "bytes": len(b"blurred view"),
    }
    assert ns_to_iso(int(entry["at_ns"])) == image["saved_at_utc"]  # type: ignore[call-overload]


def test_unblurred_only_by_a_supervisor_with_a_reason_audited_apart(
    client: TestClient, store: Store
) -> None:
    olga = log_in(client, "olga")
    unblurred = {"blurred": False, "reason": "police requisition 2026-118"}
    denied = client.post(f"/api/incidents/{VIDEO}/images", json=unblurred, headers=olga)
    assert denied.status_code == 403 and store.list_incident_images(VIDEO) == []
    client.post(f"/api/incidents/{VIDEO}/images", json={}, headers=olga)
    client.post("/api/logout", headers=olga)

    sam = log_in(client, "sam")
    no_reason = client.post(f"/api/incidents/{VIDEO}/images", json={"blurred": False}, headers=sam)
    assert no_reason.status_code == 422
    saved = client.post(f"/api/incidents/{VIDEO}/images", json=unblurred, headers=sam)
    assert saved.status_code == 200, saved.text
    blurred_image, raw = saved.json()["images"]
    assert (raw["blurred"], raw["saved_by"], raw["reason"]) == (False, "sam", unblurred["reason"])
    (entry,) = audited(store, "incident.image_saved_unblurred")
    assert entry["actor"] == "sam" and entry["details"]["reason"] == unblurred["reason"]
    assert client.get(f"/api/incidents/{VIDEO}/images/{raw['id']}").content == b"unblurred view"
    (viewed,) = audited(store, "incident.image_viewed_unblurred")
    assert viewed["actor"] == "sam"
    client.post("/api/logout", headers=sam)

    log_in(client, "olga")  # an operator sees the blurred one, not the unblurred one
    assert client.get(f"/api/incidents/{VIDEO}/images/{blurred_image['id']}").status_code == 200
    assert client.get(f"/api/incidents/{VIDEO}/images/{raw['id']}").status_code == 403
    assert len(audited(store, "incident.image_viewed_unblurred")) == 1


def test_no_image_from_an_auditor_a_sound_or_a_camera_without_a_view(
    client: TestClient, store: Store, views: CameraViews
) -> None:
    ada = log_in(client, "ada")
    assert client.post(f"/api/incidents/{VIDEO}/images", json={}, headers=ada).status_code == 403
    client.post("/api/logout", headers=ada)
    olga = log_in(client, "olga")
    sound = client.post("/api/incidents/sound-1/images", json={}, headers=olga)
    assert sound.status_code == 409 and "video event" in sound.json()["detail"]
    assert client.post("/api/incidents/nope/images", json={}, headers=olga).status_code == 404
    views.has_view = False
    gone = client.post(f"/api/incidents/{VIDEO}/images", json={}, headers=olga)
    assert gone.status_code == 409 and "no current view" in gone.json()["detail"]
    assert store.list_incident_images(VIDEO) == []
    assert audited(store, "incident.image_saved") == []


def test_retention_deletes_the_saved_images_with_their_incident(
    client: TestClient, store: Store
) -> None:
    olga = log_in(client, "olga")
    client.post(f"/api/incidents/{VIDEO}/images", json={}, headers=olga)
    kept = purge(store, RetentionPolicy(incidents_days=30), ONSET_NS + 29 * NS_PER_DAY)
    assert kept.images_deleted == 0 and len(store.list_incident_images(VIDEO)) == 1
    result = purge(store, RetentionPolicy(incidents_days=30), ONSET_NS + 31 * NS_PER_DAY)
    assert (result.incidents_deleted, result.images_deleted) == (2, 1)
    assert store.list_incident_images(VIDEO) == []
    (entry,) = audited(store, "retention.purge")
    assert entry["details"]["images_deleted"] == 1


def test_the_view_is_blurred_unless_asked_and_shows_the_zone(tmp_path: Path) -> None:
    """On the synthetic clip: at the first event the walker stands in the zone; the blurred and
    unblurred views differ only around the walker, and both draw the zone's outline (x = 200)."""
    clip = write_walkers_clip(tmp_path / "walkers.avi")
    camera = validate_config(
        {**DECLARED, "cameras": [{**CAMERA, "source": str(clip)}]}, VideoConfig
    ).cameras[0]
    views: dict[bool, np.ndarray] = {}

    def on_incidents(incidents: list[Incident]) -> None:
        for blurred in (True, False):
            if blurred not in views:
                encoded = np.frombuffer(watch.snapshot(blurred=blurred), np.uint8)
                views[blurred] = cv2.imdecode(encoded, cv2.IMREAD_COLOR)

    watch = CameraWatch(camera, on_incidents, threading.Event())
    watch.run()
    grey = {k: cv2.cvtColor(v, cv2.COLOR_BGR2GRAY).astype(float) for k, v in views.items()}
    edge = {k: np.abs(np.diff(g[150:170, 250:285], axis=1)).max() for k, g in grey.items()}
    assert edge[False] > 80 and edge[True] < 40  # the walker's edge: sharp, then smeared
    for view in views.values():
        outline = view[125:235, 199:202].reshape(-1, 3).astype(float)  # the zone's left edge
        assert np.median(np.abs(outline - ZONE_BGR).sum(axis=1)) < 90
