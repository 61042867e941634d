"""A video event in a real browser (Debian's Chromium under Playwright), as `ouie serve` runs
it: a camera's stream (a synthetic clip: a walker stays in a forbidden zone) → an intrusion
incident in the operator's list → its page says which camera and zone saw how many people →
the operator confirms → the auditor finds the decision in the audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ouie.app.serve import build_central
from ouie.console.server import BackgroundServer
from ouie.console.users import create_user
from ouie.store.records import Role
from ouie.transport.bus import InProcessBus
from tests.builders import wait_until
from tests.e2e.browser import log_in, log_out
from tests.video_clips import CAMERA, DECLARED, city_with_video, write_walkers_clip

pytestmark = pytest.mark.browser
PASSWORD = "secret-pass-1"


def test_operator_confirms_an_intrusion_seen_by_a_camera(chromium: Any, tmp_path: Path) -> None:
    clip = write_walkers_clip(tmp_path / "walkers.avi")
    video = {**DECLARED, "cameras": [{**CAMERA, "source": str(clip)}]}
    runtime = build_central(city_with_video(tmp_path, video), bus=InProcessBus())
    try:
        create_user(runtime.store, "olga", Role.OPERATOR, PASSWORD, actor="root")
        create_user(runtime.store, "ada", Role.AUDITOR, PASSWORD, actor="root")
        assert wait_until(lambda: runtime.store.count_incidents() == 5, timeout_s=60)
        with BackgroundServer(runtime.app) as server:
            url = server.url + "/console/"
            page = chromium.new_page(viewport={"width": 1400, "height": 850})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            log_in(page, url, "olga", PASSWORD)
            rows = page.locator("tr.incident:has-text('intrusion')")
            rows.first.wait_for()
            assert rows.count() == 2
            incident_id = rows.last.get_attribute("data-incident")  # the earlier one
            rows.last.click()
            page.wait_for_url(f"**/incident.html?id={incident_id}")
            page.wait_for_selector("body[data-ready='true']")
            facts = page.inner_text("#facts")
            assert "intrusion" in facts
            assert "synthetic, zone right" in facts
            assert "seen on a camera's own stream" in facts
            assert "the camera's analysis saw it" in facts  # not a sensor network's confirmation
            assert page.input_value("#dismiss-reason") == "other"  # not a sound's confusion
            page.click("#confirm")
            page.wait_for_selector("#dispositions td.disp-confirm")
            page.screenshot(path=str(tmp_path / "video-incident.png"))
            stored = runtime.store.get_incident(incident_id or "")
            assert stored is not None and stored.disposition == "confirm"

            with page.expect_navigation(url="**/console/login.html"):
                log_out(page)
            log_in(page, url, "ada", PASSWORD)
            page.goto(url + "audit.html")
            page.wait_for_selector("body[data-ready='true']")
            decision = page.wait_for_selector("tr[data-action='incident.disposition']")
            assert "olga" in decision.inner_text()
            assert f"incident:{incident_id}" in decision.inner_text()
            assert errors == []
            page.close()
    finally:
        runtime.close()
