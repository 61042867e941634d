"""The console in a real browser: log in, an injected incident appears live on the map and in
the list, an operator confirms it, an auditor sees the decision in the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from ouie.console.api import ConsoleServices
from ouie.console.app import create_console_app
from ouie.console.auth import hash_password
from ouie.console.feed import LiveFeed
from ouie.console.server import BackgroundServer
from ouie.console.views import CuePolicyView, IncidentSummary, MapView
from ouie.core.recording import SensorSite
from ouie.core.timebase import now_ns
from ouie.store.records import IncidentRecord, Role
from ouie.store.repository import Store

pytestmark = pytest.mark.browser

USERS = {"olga": (Role.OPERATOR, "op-secret-1"), "ada": (Role.AUDITOR, "aud-secret-3")}


@dataclass
class LiveConsole:
    url: str
    store: Store
    feed: LiveFeed


@pytest.fixture
def live_console(tmp_path: Path) -> Iterator[LiveConsole]:
    store = Store.open(f"sqlite:///{tmp_path / 'ouie.db'}")
    for name, (role, password) in USERS.items():
        store.add_user(name, role, hash_password(password))
    store.sync_sensors(
        [SensorSite(id=f"s{i}", lat=45.4400 + 0.0008 * i, lon=4.3860 + 0.001 * i) for i in range(4)]
    )
    store.set_sensor_status("s0", "online", now_ns())
    feed = LiveFeed()
    services = ConsoleServices(
        store=store,
        feed=feed,
        cue_policy=CuePolicyView(mode="suggest"),
        map_view=MapView(lat=45.4410, lon=4.3875, zoom=17),
    )
    host = FastAPI()
    host.mount("/console", create_console_app(services))
    host.add_api_route("/", lambda: RedirectResponse("/console/"), include_in_schema=False)
    with BackgroundServer(host) as server:
        yield LiveConsole(url=server.url, store=store, feed=feed)
    store.close()


def log_in(page: Any, base_url: str, name: str) -> None:
    page.goto(f"{base_url}/")
    page.wait_for_url("**/console/login.html")
    page.fill("#name", name)
    page.fill("#password", USERS[name][1])
    page.click("#login-button")
    page.wait_for_selector("body[data-ready='true']")


def inject_incident(console: LiveConsole) -> IncidentRecord:
    """What the central service does when fusion locates a sound: store it, publish it."""
    record = IncidentRecord(
        id="inc-e2e-1",
        class_="gunshot",
        onset_ns=now_ns() - 2_000_000_000,
        lat=45.4412,
        lon=4.3878,
        uncertainty_m=18.0,
        sensors_used=["s0", "s1", "s2"],
        revision=1,
    )
    console.store.save_incident(record)
    row = console.store.get_incident(record.id)
    assert row is not None
    console.feed.publish("incident", IncidentSummary.of(row).model_dump())
    return record


def test_operator_confirms_a_live_incident_and_the_auditor_sees_it(
    chromium: Any, live_console: LiveConsole, tmp_path: Path
) -> None:
    context = chromium.new_context(viewport={"width": 1400, "height": 850})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_console.url, "olga")
    assert page.inner_text("#who") == "olga (operator)"
    assert "suggest" in page.inner_text("#cue-banner")
    assert page.locator("a[href='audit.html']").is_hidden()  # operators don't read the audit
    assert page.inner_text("#sensor-count") == "1/4 online"

    record = inject_incident(live_console)  # arrives over the live feed, no reload
    row = page.wait_for_selector(f"tr[data-incident='{record.id}']", timeout=10_000)
    assert "gunshot" in row.inner_text()
    assert page.locator(f"path[data-incident='{record.id}']").count() == 1  # circle on the map
    screenshot = tmp_path / "console-map.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000

    row.click()
    page.wait_for_url(f"**/incident.html?id={record.id}")
    page.wait_for_selector("body[data-ready='true']")
    assert "18.0 m" in page.inner_text("#facts")
    page.click("#confirm")
    page.wait_for_selector("#dispositions td.disp-confirm")
    page.screenshot(path=str(tmp_path / "console-incident.png"))
    stored = live_console.store.get_incident(record.id)
    assert stored is not None and stored.disposition == "confirm"

    page.click("#logout")
    page.wait_for_url("**/console/login.html")
    log_in(page, live_console.url, "ada")
    page.goto(f"{live_console.url}/console/audit.html")
    page.wait_for_selector("body[data-ready='true']")
    decision = page.wait_for_selector("tr[data-action='incident.disposition']")
    assert "olga" in decision.inner_text()
    assert f"incident:{record.id}" in decision.inner_text()
    assert "chain verified" in page.inner_text("#chain")
    page.screenshot(path=str(tmp_path / "console-audit.png"), full_page=True)
    assert errors == []
    context.close()
