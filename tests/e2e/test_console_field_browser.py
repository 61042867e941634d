"""The operator's evening in a real browser, with what issue 15 added last: a new alert arrives
on top with its camera cue while context stays folded; the supervisor's class profile shows in
the banner; a click on the map asks a camera to look there; the incident page has its small map
(fix, 95 % ellipse, the cued camera's view cone), local times, the technical detail folded away,
and records the field outcome. Screenshots go to $OUIE_SCREENS_DIR (else a temporary folder)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouie.console.api import ConsoleServices
from ouie.console.app import create_console_app
from ouie.console.auth import hash_password
from ouie.console.server import BackgroundServer
from ouie.console.views import CameraView, IncidentSummary, LookView
from ouie.core.recording import SensorSite
from ouie.core.timebase import NS_PER_S
from ouie.store.models import CueRow
from ouie.store.records import CueState, Role
from ouie.store.repository import Store
from tests.builders import console_services
from tests.e2e.browser import log_in, log_out
from tests.e2e.test_console_ranking_browser import (
    EVENING,
    SITE_MAP,
    T0,
    confirmed,
    record,
    wgs84,
)

pytestmark = pytest.mark.browser
PASSWORD = "secret-pass"
CAMERA = CameraView(
    id="cam-north",
    lat=wgs84(-60, 40)[0],
    lon=wgs84(-60, 40)[1],
    bearing_deg=150.0,
    tilt_deg=-10.0,
    hfov_deg=40.0,
    state="home",
)
HELD_REASON = (
    "profile 'fireworks night': gunshot needs a score of at least 0.95 within 300 m of the show "
    "(20:00–02:00 Europe/Paris, every day); this one scored 0.90, so it is not alerted"
)
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


class OneCameraDesk:
    """One camera that says where it looks and answers "look here" (the real desk is tested
    against virtual ONVIF cameras in tests/test_console_cameras.py)."""

    def __init__(self) -> None:
        self.looked: list[tuple[float, float, str]] = []

    def views(self) -> list[CameraView]:
        return [CAMERA]

    def snapshot(self, camera_id: str) -> tuple[bytes, str]:
        return PNG_1PX, "image/png"

    def look_here(self, lat: float, lon: float, actor: str) -> LookView:
        self.looked.append((lat, lon, actor))
        return LookView(moved=True, camera_id=CAMERA.id, message=f"{CAMERA.id} turned there")

    def execute(self, cue: CueRow, actor: str) -> bool:
        return True

    def decline(self, cue: CueRow, actor: str) -> bool:
        return True

    def release(self, incident_id: str, actor: str) -> list[str]:
        return []


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServices]:
    folder = tmp_path_factory.mktemp("field")
    store = Store.open(f"sqlite:///{folder / 'ouie.db'}", clock=lambda: T0 + 95 * NS_PER_S)
    store.add_user("olga", Role.OPERATOR, hash_password(PASSWORD))
    store.add_user("sam", Role.SUPERVISOR, hash_password(PASSWORD))
    grid = [(x, y) for x in (-200.0, 0.0, 200.0) for y in (-150.0, 50.0, 250.0)]
    store.sync_sensors(
        SensorSite(id=f"s{k}", lat=wgs84(*p)[0], lon=wgs84(*p)[1], height_m=4.0)
        for k, p in enumerate(grid)
    )
    for incident in EVENING:
        store.save_incident(incident, T0)
    held = {
        "confirmed": False,
        "heard_by": 6,
        "expected_sensors": 6,
        "reasons": [HELD_REASON, "heard by 6 sensors, their onsets consistent in time"],
    }
    store.save_incident(
        record("held-shot", "gunshot", 50, (150, -40), 3, 6, score=0.9, assessment=held), T0
    )
    store.set_profile(
        "fireworks night",
        {
            "name": "fireworks night",
            "start": "20:00",
            "end": "02:00",
            "rules": [
                {
                    "class": "gunshot",
                    "min_score": 0.95,
                    "near": [
                        {"name": "the show", "lat": wgs84(150, -50)[0], "lon": wgs84(150, -50)[1]}
                    ],
                }
            ],
        },
        "sam",
    )
    yield console_services(store, map_view=SITE_MAP, cameras=OneCameraDesk())
    store.close()


@pytest.fixture(scope="module")
def console_url(services: ConsoleServices) -> Iterator[str]:
    with BackgroundServer(create_console_app(services)) as server:
        yield server.url + "/"
        services.feed.close()


def screens(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OUIE_SCREENS_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_new_alert_with_its_cue_look_here_minimap_and_outcome(
    chromium: Any, console_url: str, services: ConsoleServices, tmp_path: Path
) -> None:
    shots = screens(tmp_path)
    page = chromium.new_page(viewport={"width": 1400, "height": 850})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, console_url, "olga", PASSWORD)
    banner = page.inner_text("#profile-banner")
    assert banner.startswith("Class profile in force: fireworks night (20:00–02:00")
    assert "gunshot needs score ≥ 0.95 within 300 m of the show" in banner

    # A new alert, located with an ellipse, its camera cue suggested, arrives live.
    new = record("new-shot", "gunshot", 90, (-30, -20), 5.0, 7, score=0.9, assessment=confirmed(7))
    new = new.model_copy(
        update={"ellipse": {"semi_major_m": 6.0, "semi_minor_m": 2.5, "orientation_deg": 30.0}}
    )
    services.store.save_incident(new, T0 + 90 * NS_PER_S)
    services.store.add_cue("new-shot", CAMERA.id, "suggest", CueState.SUGGESTED, 150.0, -10.0, 0.3)
    row = services.store.get_incident("new-shot")
    assert row is not None
    services.feed.publish("incident", IncidentSummary.of(row).model_dump())
    page.wait_for_selector("#incidents tr.incident.fresh[data-incident='new-shot']")
    top = page.locator("#incidents tr.incident").first
    assert top.get_attribute("data-incident") == "new-shot"
    assert page.inner_text("#new-alert") == "New gunshot — 23:01:30 CEST"
    assert page.locator("#context-section").get_attribute("open") is None
    assert page.locator("#context tr.incident").first.is_hidden()
    assert page.locator("#unconfirmed tr[data-incident='held-shot']").count() == 1
    page.wait_for_selector("path[data-incident='new-shot']")
    page.screenshot(path=str(shots / "console-map-list.png"))

    # "Look here": a click on an empty part of the map, then the button in its popup.
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + 60, box["y"] + box["height"] - 60)
    page.click("#look-here")
    page.wait_for_selector("#look-answer:has-text('turned')")
    assert page.inner_text("#look-answer") == "cam-north turned there"
    assert services.cameras is not None and services.cameras.looked[0][2] == "olga"  # type: ignore[attr-defined]
    page.screenshot(path=str(shots / "console-look-here.png"))

    # The incident page: its cue, the small map, local times, detail folded, the outcome.
    page.click("#incidents tr[data-incident='new-shot']")
    page.wait_for_selector("body[data-ready='true']")
    assert page.locator("#approve-1, [id^='approve-']").count() == 1  # the cue, one click away
    page.wait_for_selector("#minimap path[data-ellipse='ellipse']")
    page.wait_for_selector("#minimap path[data-cone='cam-north']")
    assert page.inner_text("#minimap-note") == "95 % ellipse 6.0 × 2.5 m"
    assert "2026-06-21 23:01:30 CEST" in page.inner_text("#facts")
    assert page.locator("#technical").get_attribute("open") is None
    assert page.locator("#technical-facts").is_hidden()
    page.click("#technical summary")
    assert "21:01:30 UTC" in page.inner_text("#technical-facts")
    page.select_option("#outcome-dispatched", "yes")
    page.select_option("#outcome-evidence", "found")
    page.fill("#outcome-note", "casings found by the first unit")
    page.click("#outcome-save")
    page.wait_for_selector("#outcome-now:has-text('olga')")
    assert page.inner_text("#outcome-now").startswith(
        "a unit was sent; evidence found (casings found by the first unit) — recorded by olga"
    )
    stored = services.store.get_outcome("new-shot")
    assert stored is not None and stored.evidence == "found" and stored.dispatched is True
    page.screenshot(path=str(shots / "incident-page.png"), full_page=True)

    # An unlocatable sound says so in words and draws no circle.
    page.goto(console_url + "incident.html?id=show-1")
    page.wait_for_selector("body[data-ready='true']")
    assert page.inner_text("#minimap-note").startswith("not located: ±6000 m is wider than")
    assert page.locator("#minimap path[data-ellipse]").count() == 0
    assert "could be anywhere over the site" in page.inner_text("#facts")
    assert "do not pin it down" in page.inner_text("#facts")
    page.screenshot(path=str(shots / "incident-not-located.png"), full_page=True)

    # A gunshot a class profile holds back: unconfirmed, and the page says which profile.
    page.goto(console_url + "incident.html?id=held-shot")
    page.wait_for_selector("body[data-ready='true']")
    facts = page.inner_text("#facts")
    assert "a class profile in force holds it back" in facts and HELD_REASON in facts
    assert errors == []
    page.close()


def test_a_supervisor_sets_a_profile_from_the_form_and_an_operator_cannot(
    chromium: Any, console_url: str, services: ConsoleServices, tmp_path: Path
) -> None:
    shots = screens(tmp_path)
    page = chromium.new_page(viewport={"width": 1400, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, console_url, "olga", PASSWORD)
    assert page.locator("a[href='profiles.html']").is_hidden()
    page.goto(console_url + "profiles.html")
    page.wait_for_selector("body[data-ready='true']")
    assert page.inner_text("#error") == "Only a supervisor sets class profiles."
    page.click("#p-save")  # the server refuses it too
    page.wait_for_selector("#error:has-text('may not set_profiles')")
    log_out(page)

    log_in(page, console_url, "sam", PASSWORD)
    page.click("a[href='profiles.html']")
    page.wait_for_selector("body[data-ready='true']")
    page.fill("#p-name", "match night")
    page.select_option("#p-class", "scream")
    page.check("#p-off")
    page.fill("#p-start", "19:00")
    page.fill("#p-end", "23:30")
    page.fill("#p-venues", "Stade Geoffroy-Guichard; 45.4607; 4.3903")
    page.fill("#p-radius", "400")
    page.click("#p-save")
    page.wait_for_selector("#profiles tr[data-profile='match night']")
    summary = page.inner_text("#profiles tr[data-profile='match night']")
    assert "scream off within 400 m of Stade Geoffroy-Guichard" in summary
    assert "match night" in page.inner_text("#profile-banner")  # 23:01 CEST: in force
    page.fill("#p-zone", "Mars/Olympus")
    page.click("#p-save")
    page.wait_for_selector("#error:has-text('time_zone: unknown time zone')")
    page.screenshot(path=str(shots / "profiles-page.png"), full_page=True)
    audit = [e for e in services.store.audit.entries() if e["action"] == "profile.set"]
    assert (audit[-1]["actor"], audit[-1]["subject"]) == ("sam", "profile:match night")
    assert audit[-1]["details"]["profile"]["rules"][0]["radius_m"] == 400
    assert errors == []
    page.close()
