"""The console in a real browser, on the demo's whole chain: a simulated gunshot is heard by
the sensors, located and proposed for a camera; the operator sees it arrive live on the map and
in the list, approves the camera, sees its snapshot and confirms; the auditor finds the decision
in the audit trail."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ouie.app.demo import DemoRun, running_demo
from tests.console_scenarios import demo_options, write_square_scenario
from tests.e2e.browser import log_out

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def log_in(page: Any, run: DemoRun, role: str) -> None:
    """Log in from the login page."""
    login = next(login for login in run.logins if login.role == role)
    if not page.url.endswith("/console/login.html"):
        page.goto(run.url + "login.html")
    page.fill("#name", login.name)
    page.fill("#password", login.password)
    page.click("#login-button")
    page.wait_for_selector("body[data-ready='true']")


def test_operator_approves_the_camera_and_confirms_a_live_gunshot_the_auditor_sees_it(
    chromium: Any, tmp_path: Path
) -> None:
    scenario = write_square_scenario(tmp_path)
    with running_demo(demo_options(scenario, auto_cue=False, speed=4.0), tmp_path) as (
        run,
        replay,
    ):
        context = chromium.new_context(viewport={"width": 1400, "height": 850})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        page.goto(run.url)  # an anonymous visitor is sent to the login page
        page.wait_for_url("**/console/login.html")
        log_in(page, run, "operator")
        assert page.inner_text("#who") == "operator (operator)"
        assert "suggest" in page.inner_text("#cue-banner")
        assert page.locator("a[href='audit.html']").is_hidden()  # operators don't read the audit
        assert "cam-1" in page.inner_text("#cameras")

        replay_thread = threading.Thread(target=replay.run)
        replay_thread.start()  # the gunshot arrives over the live feed, no reload
        row = page.wait_for_selector("tr.incident:has-text('gunshot')", timeout=60_000)
        incident_id = row.get_attribute("data-incident")
        page.wait_for_selector(f"path[data-incident='{incident_id}']")  # its circle on the map
        replay_thread.join()
        page.wait_for_function(
            "document.querySelector('#sensor-count').textContent.startsWith('6/6')"
        )
        page.screenshot(path=str(tmp_path / "console-map.png"))

        # the list re-renders as reports come in: find the row again rather than hold a handle
        page.locator(f"tr.incident[data-incident='{incident_id}']").click()
        page.wait_for_url(f"**/incident.html?id={incident_id}")
        page.wait_for_selector("body[data-ready='true']")
        assert "gunshot" in page.inner_text("#facts")
        page.click("button[id^='approve-']")
        page.wait_for_selector("#cues :text('executed')")
        with page.expect_response(
            lambda response: "/snapshot" in response.url and response.status == 200
        ) as snapshot:
            pass  # the view after the move, fetched through the console
        assert snapshot.value.header_value("content-type") in ("image/png", "image/jpeg")
        expect(page.locator("#snapshot")).to_be_visible()
        page.click("#confirm")
        page.wait_for_selector("#dispositions td.disp-confirm")
        page.screenshot(path=str(tmp_path / "console-incident.png"))
        stored = run.store.get_incident(incident_id or "")
        assert stored is not None and stored.disposition == "confirm"

        with page.expect_navigation(url="**/console/login.html"):
            log_out(page)
        log_in(page, run, "auditor")
        page.goto(run.url + "audit.html")
        page.wait_for_selector("body[data-ready='true']")
        decision = page.wait_for_selector("tr[data-action='incident.disposition']")
        assert "operator" in decision.inner_text()
        assert f"incident:{incident_id}" in decision.inner_text()
        assert page.locator("tr[data-action='camera.cue_approved']").count() == 1
        assert "chain verified" in page.inner_text("#chain")
        page.screenshot(path=str(tmp_path / "console-audit.png"), full_page=True)
        assert errors == []
        context.close()
