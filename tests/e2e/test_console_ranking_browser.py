"""What the operator sees first, in a real browser: open alerts on top, ranked by severity and
confidence (a gunshot near fireworks below a clean one, and saying why); unconfirmed and context
in their own folded sections; no circle wider than the site; a new alert that arrives live
takes the top row with a banner and a pulse while context stays folded; times in the site's
zone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouie.console.api import ConsoleServices
from ouie.console.app import create_console_app
from ouie.console.auth import hash_password
from ouie.console.server import BackgroundServer
from ouie.console.views import IncidentSummary, MapView
from ouie.core.geo import LocalFrame
from ouie.core.recording import SensorSite
from ouie.core.timebase import NS_PER_S, iso_to_ns
from ouie.store.records import IncidentRecord, Role
from ouie.store.repository import Store
from ouie.store.retention import RetentionPolicy
from tests.builders import console_services
from tests.e2e.browser import log_in

pytestmark = pytest.mark.browser
PASSWORD = "secret-pass"
FRAME = LocalFrame(45.4397, 4.3872, 520.0)
SITE_MAP = MapView(lat=FRAME.origin_lat_deg, lon=FRAME.origin_lon_deg, zoom=16)
"""The console's map over FRAME's origin."""
T0 = iso_to_ns("2026-06-21T21:00:00Z")


def wgs84(east_m: float, north_m: float) -> tuple[float, float]:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, FRAME.origin_height_m)
    return float(lat), float(lon)


def record(
    incident_id: str,
    cls: str,
    t_s: float,
    where_en_m: tuple[float, float],
    uncertainty_m: float,
    sensors: int,
    score: float = 0.8,
    status: str = "fix",
    assessment: dict[str, Any] | None = None,
) -> IncidentRecord:
    lat, lon = wgs84(*where_en_m)
    return IncidentRecord.model_validate(
        {
            "id": incident_id,
            "class": cls,
            "onset_ns": T0 + round(t_s * NS_PER_S),
            "lat": lat,
            "lon": lon,
            "uncertainty_m": uncertainty_m,
            "status": status,
            "score": score,
            "sensors_used": [f"s{k}" for k in range(sensors)],
            "report_ids": [f"{incident_id}-r{k}" for k in range(sensors)],
            "assessment": assessment,
            "revision": 1,
        }
    )


def confirmed(n: int, *reasons: str, context: bool = False) -> dict[str, Any]:
    return {
        "confirmed": True,
        "heard_by": n,
        "expected_sensors": n,
        "context_nearby": context,
        "reasons": [f"heard by {n} sensors, their onsets consistent in time", *reasons],
    }


EVENING = [
    record("siren-1", "siren", 10, (0, 0), 450, 9, status="area"),
    record("show-1", "fireworks", 40, (150, -50), 6000, 12, status="fix"),  # wider than the site
    record(
        "near-show",
        "gunshot",
        60,
        (160, -40),
        4,
        5,
        score=0.95,
        assessment=confirmed(
            5, "fireworks heard 12 s before, 30 m away: may be a firecracker", context=True
        ),
    ),
    record("glass-1", "glass_break", 70, (-120, 60), 3, 4, assessment=confirmed(4)),
    record("scream-1", "scream", 75, (100, 150), 6, 4, assessment=confirmed(4)),
    record(
        "lone-scream",
        "scream",
        80,
        (40, 90),
        150,
        1,
        status="single",
        assessment={
            "confirmed": False,
            "heard_by": 1,
            "expected_sensors": 3,
            "reasons": ["only 1 of the 3 sensors within 200 m heard it"],
        },
    ),
]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServices]:
    folder = tmp_path_factory.mktemp("ranking")
    store = Store.open(f"sqlite:///{folder / 'ouie.db'}")
    store.add_user("olga", Role.OPERATOR, hash_password(PASSWORD))
    grid = [(x, y) for x in (-200.0, 0.0, 200.0) for y in (-150.0, 50.0, 250.0)]
    store.sync_sensors(
        SensorSite(id=f"s{k}", lat=wgs84(*p)[0], lon=wgs84(*p)[1], height_m=4.0)
        for k, p in enumerate(grid)
    )
    for incident in EVENING:
        store.save_incident(incident, T0)
    yield console_services(store, map_view=SITE_MAP, retention=RetentionPolicy())
    store.close()


@pytest.fixture(scope="module")
def console_url(services: ConsoleServices) -> Iterator[str]:
    with BackgroundServer(create_console_app(services)) as server:
        yield server.url + "/"
        services.feed.close()


def rows(page: Any, table: str) -> list[str]:
    return page.locator(f"#{table} tr.incident").evaluate_all(
        "rows => rows.map(r => r.dataset.incident)"
    )


def test_a_new_alert_arrives_on_top_with_its_cue_while_context_stays_folded(
    chromium: Any, console_url: str, services: ConsoleServices, tmp_path: Path
) -> None:
    page = chromium.new_page(viewport={"width": 1400, "height": 850})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, console_url, "olga", PASSWORD)

    # Ranked by severity + score + sensors/10, fireworks nearby −2: the scream (3 + .8 + .4)
    # above the gunshot that fireworks may explain (4 + .95 + .5 − 2), above the glass (2 + .8 + .4)
    assert rows(page, "incidents") == ["scream-1", "near-show", "glass-1"]
    assert "may be a firecracker" in page.get_attribute("tr[data-incident='near-show']", "title")
    assert rows(page, "unconfirmed") == ["lone-scream"]
    assert sorted(rows(page, "context")) == ["show-1", "siren-1"]
    assert page.locator("#unconfirmed-section").get_attribute("open") is None
    assert page.locator("#context-section").get_attribute("open") is None
    assert page.locator("#context tr.incident").first.is_hidden()  # folded away
    assert page.inner_text("#incident-count") == "(3 open of 3)"
    # the 6 km 'fix' of the show is not drawn over the site, and says so in its row
    assert page.locator("[data-incident='show-1']").count() == 1  # its row only
    page.click("#context-section summary")
    assert "not located" in page.inner_text("tr[data-incident='show-1']")
    page.click("#context-section summary")  # folded again
    assert page.locator("#new-alert").is_hidden()

    new = record("new-shot", "gunshot", 90, (-30, -20), 2, 7, score=0.9, assessment=confirmed(7))
    services.store.save_incident(new, T0 + 90 * NS_PER_S)
    row = services.store.get_incident("new-shot")
    assert row is not None
    services.feed.publish("incident", IncidentSummary.of(row).model_dump())

    page.wait_for_selector("#incidents tr.incident.fresh[data-incident='new-shot']")
    assert rows(page, "incidents")[0] == "new-shot"
    assert page.inner_text("#new-alert") == "New gunshot — 23:01:30 CEST"  # site time
    assert page.title().startswith("(4)")
    assert page.locator("#context-section").get_attribute("open") is None
    page.wait_for_selector("path[data-incident='new-shot']")  # its marker on the map
    page.screenshot(path=str(tmp_path / "console-ranked.png"))

    page.click("tr[data-incident='near-show']")
    page.wait_for_selector("body[data-ready='true']")
    assert "may be a firecracker" in page.inner_text("#why")
    assert "an alert" in page.inner_text("#facts")
    assert "2026-06-21 23:01:00 CEST" in page.inner_text("#facts")  # 21:01:00 UTC, Paris summer
    page.keyboard.press("c")  # confirm, one key
    page.wait_for_selector("#dispositions td.disp-confirm")
    page.screenshot(path=str(tmp_path / "console-incident-why.png"))
    stored = services.store.get_incident("near-show")
    assert stored is not None and stored.disposition == "confirm"
    assert errors == []
    page.close()
