"""Saving a video incident's image in a real browser (Debian's Chromium under Playwright): the
lawn intrusion of vtest.avi (real footage) at 56 s, its camera's current view made by
`ouie.video` (people blurred, zones and lines drawn) → an operator presses "Save image" → the
incident page shows the saved, blurred image with who saved it; the operator is offered no
unblurred save. A supervisor saves one unblurred, giving a reason (the browser's prompt)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ouie.console.app import create_console_app
from ouie.console.auth import hash_password
from ouie.console.server import BackgroundServer
from ouie.core.timebase import NS_PER_S
from ouie.store.records import IncidentRecord, Role
from ouie.store.repository import Store
from ouie.video.config import VideoCamera, load_video_config
from ouie.video.events import CameraAnalyser
from ouie.video.people import Detection
from ouie.video.privacy import jpeg, operator_view
from ouie.video.source import read_frames
from tests.builders import console_services
from tests.e2e.browser import log_in, log_out

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT.parent / "shared" / "video" / "vtest.avi"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not VIDEO.is_file(), reason=f"{VIDEO} is absent (real footage)"),
]
PASSWORD = "secret-pass-1"
AT_S = 56.0
"""Inside the annotated lawn intrusion (50.4–73.9 s)."""
START = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


class HeldView:
    """A camera's view held at one analysed frame of vtest.avi, shown as `CameraWatch` shows
    its current one (`operator_view`)."""

    def __init__(self, camera: VideoCamera) -> None:
        self.camera = camera
        analyser = CameraAnalyser(camera, START)
        self.view: tuple[np.ndarray, list[Detection]] | None = None
        for frame in read_frames(str(VIDEO), camera.analysis_fps):
            self.view = (frame.image, analyser.step(frame).detections)
            if frame.t_s >= AT_S:
                break

    def snapshot(self, camera_id: str, *, blurred: bool = True) -> tuple[bytes, str]:
        if camera_id != self.camera.id or self.view is None:
            raise KeyError(camera_id)
        image, detections = self.view
        return jpeg(operator_view(image, detections, self.camera, blurred=blurred)), "image/jpeg"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    folder = tmp_path_factory.mktemp("saved-image")
    camera = load_video_config(ROOT / "bench" / "data" / "vtest_video.yaml").cameras[0]
    store = Store.open(f"sqlite:///{folder / 'ouie.db'}")
    store.add_user("olga", Role.OPERATOR, hash_password(PASSWORD))
    store.add_user("sam", Role.SUPERVISOR, hash_password(PASSWORD))
    onset_ns = round((START.timestamp() + 50.4) * NS_PER_S)
    store.save_incident(
        IncidentRecord(
            id="video-lawn",
            class_="intrusion",
            onset_ns=onset_ns,
            status="camera",
            score=1.0,
            revision=1,
            video={
                "camera_id": camera.id,
                "zone": "lawn",
                "people": 2,
                "end_ns": onset_ns + round(5.6 * NS_PER_S),
                "ongoing": True,
            },
        )
    )
    services = console_services(store, "off", video=HeldView(camera))
    with BackgroundServer(create_console_app(services)) as server:
        yield server.url + "/", store
        services.feed.close()
    store.close()


def test_an_operator_saves_the_blurred_image_and_sees_it_on_the_incident_page(
    chromium: Any, console: tuple[str, Store], tmp_path: Path
) -> None:
    url, store = console
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, url, "olga", PASSWORD)
    page.goto(url + "incident.html?id=video-lawn")
    page.wait_for_selector("body[data-ready='true']")
    assert page.locator("#save-blurred").is_visible()
    assert page.locator("#save-unblurred").is_hidden()  # an operator may not
    assert page.locator("#images figure").count() == 0
    page.click("#save-blurred")
    saved = page.locator("#images figure.saved-image img")
    saved.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('#images img'); "
        "return i && i.complete && i.naturalWidth === 768; }"
    )
    caption = page.inner_text("#images figcaption")
    assert "Saved by olga" in caption and "from vtest (people blurred)" in caption
    page.locator("#images").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "incident-saved-blurred.png"), full_page=True)
    (row,) = store.list_incident_images("video-lawn")
    assert row.blurred and row.saved_by == "olga" and row.image[:2] == b"\xff\xd8"  # a JPEG
    assert store.audit.last(["incident.image_saved"], "incident:video-lawn") is not None
    assert errors == []

    log_out(page)
    log_in(page, url, "sam", PASSWORD)
    page.goto(url + "incident.html?id=video-lawn")
    page.wait_for_selector("body[data-ready='true']")
    page.once("dialog", lambda dialog: dialog.accept("police requisition 2026-118 (test)"))
    page.click("#save-unblurred")
    page.locator("#images figure").nth(1).wait_for()
    assert "UNBLURRED — police requisition 2026-118" in page.inner_text("#images")
    page.screenshot(path=str(tmp_path / "incident-saved-by-supervisor.png"), full_page=True)
    entry = store.audit.last(["incident.image_saved_unblurred"], "incident:video-lawn")
    assert entry is not None and entry["actor"] == "sam"
    assert errors == []
