"""Video events on the incident path, as `ouie serve` runs them: a city whose `video_file`
enables a camera (a synthetic clip as its source) → incidents of status camera in the store and
on the console → an operator confirms one → the audit chain records it. The same file without
its declared DPIA is refused at start, naming the missing field. The observatory counts the
video events by kind with their confirm rate. A PTZ camera is analysed only
at its home position."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from ouie.app.serve import build_central
from ouie.console.auth import CSRF_HEADER
from ouie.console.users import create_user
from ouie.core.config import ConfigError, validate_config
from ouie.core.incident import Incident
from ouie.core.timebase import NS_PER_S
from ouie.observatory.figures import Period, compute_figures
from ouie.observatory.report import build_report, render_html
from ouie.store.records import Role
from ouie.transport.bus import InProcessBus
from ouie.video.config import VideoConfig
from ouie.video.incidents import CameraWatch
from tests.video_clips import CAMERA, DECLARED, city_with_video, write_walkers_clip


def test_video_events_become_incidents_an_operator_decides(tmp_path: Path) -> None:
    clip = write_walkers_clip(tmp_path / "walkers.avi")
    camera = {**CAMERA, "source": str(clip)}
    runtime = build_central(
        city_with_video(tmp_path, {**DECLARED, "cameras": [camera]}), bus=InProcessBus()
    )
    try:
        for watch in runtime.video_watches:
            watch.join(timeout=60)
        assert not any(watch.is_alive() for watch in runtime.video_watches)
        rows = runtime.store.list_incidents()
        assert sorted(row.class_ for row in rows) == [
            "density",
            "density",
            "intrusion",
            "intrusion",
            "wrong_way",
        ]
        assert {row.status for row in rows} == {"camera"}
        assert {row.revision for row in rows} == {2}  # raised (1), then closed (2)
        intrusion = min((r for r in rows if r.class_ == "intrusion"), key=lambda r: r.onset_ns)
        assert intrusion.video is not None
        assert intrusion.video["camera_id"] == "synthetic"
        assert intrusion.video["zone"] == "right"
        assert intrusion.video["people"] == 1 and intrusion.video["ongoing"] is False
        # 5.0 s to 6.4 s of the clip (tests/test_video_events.py derives them).
        assert intrusion.video["end_ns"] - intrusion.onset_ns == 1_400_000_000
        assert intrusion.sensors_used == [] and intrusion.lat is None

        create_user(runtime.store, "olga", Role.OPERATOR, "op-secret-one", actor="root")
        with TestClient(runtime.app) as client:
            token = client.get("/console/api/session").json()["csrf"]
            login = client.post(
                "/console/api/login",
                json={"name": "olga", "password": "op-secret-one"},
                headers={CSRF_HEADER: token},
            )
            headers = {CSRF_HEADER: login.json()["csrf"]}
            shown = {i["id"]: i for i in client.get("/console/api/incidents").json()}
            assert shown[intrusion.id]["class"] == "intrusion"
            assert shown[intrusion.id]["video"]["zone"] == "right"
            no_view = client.get("/console/api/video/synthetic/snapshot")
            assert no_view.status_code == 409  # the clip has ended: no current view is kept
            assert client.get("/console/api/video/nope/snapshot").status_code == 404
            decided = client.post(
                f"/console/api/incidents/{intrusion.id}/disposition",
                json={"action": "confirm"},
                headers=headers,
            )
            assert decided.status_code == 200, decided.text
            assert decided.json()["disposition"] == "confirm"
        entries = list(runtime.store.audit.entries())
        assert ("incident.disposition", "olga", f"incident:{intrusion.id}") in [
            (e["action"], e["actor"], e["subject"]) for e in entries
        ]
        (started,) = [e for e in entries if e["action"] == "video.analysis"]
        assert started["details"] == {
            "enabled": True,
            "legal_basis": "test",
            "dpia": "test",
            "cameras": ["synthetic"],
        }
        day = datetime.fromtimestamp(intrusion.onset_ns / NS_PER_S, UTC).date()
        figures = compute_figures(runtime.store, Period.model_validate({"from": day, "to": day}))
        assert figures.classes == ["density", "intrusion", "wrong_way"]
        by_class = {f.class_: f for f in figures.by_class}
        assert (by_class["intrusion"].incidents, by_class["intrusion"].confirmed) == (2, 1)
        assert by_class["intrusion"].confirm_rate == 1.0  # of the decided ones
        assert by_class["density"].open == 2
        assert figures.video_total is not None  # the video events apart from the sounds
        assert (figures.video_total.incidents, figures.video_total.confirmed) == (5, 1)
        report = build_report(runtime.store, runtime.city.deployment(), figures.period)
        html = render_html(report)
        assert 'data-class="video"' in html and 'data-class="intrusion"' in html
    finally:
        runtime.close()


def test_enabled_video_without_its_dpia_is_refused_at_start(tmp_path: Path) -> None:
    undeclared = {"enabled": True, "legal_basis": "municipal order 12", "cameras": [CAMERA]}
    with pytest.raises(ConfigError, match="missing: dpia"):
        build_central(city_with_video(tmp_path, undeclared), bus=InProcessBus())


def test_a_ptz_camera_is_analysed_only_at_home(tmp_path: Path) -> None:
    clip = write_walkers_clip(tmp_path / "walkers.avi")
    camera = validate_config(
        {**DECLARED, "cameras": [{**CAMERA, "source": str(clip), "ptz": True}]}, VideoConfig
    ).cameras[0]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    incidents: list[Incident] = []
    CameraWatch(camera, incidents.extend, threading.Event(), None, lambda: start).run()
    assert incidents == []  # PTZ without a known position: not analysed at all
    asked = iter(range(1000))
    # Away (cued) for the first 7 s of the clip, i.e. its first 35 analysed frames.
    at_home = lambda: next(asked) >= 35  # noqa: E731
    CameraWatch(camera, incidents.extend, threading.Event(), at_home, lambda: start).run()
    # The clock is read at the first analysed frame, 7 s into the clip: the clip starts at −7 s.
    clip_start_ns = round(start.timestamp() * NS_PER_S) - 7 * NS_PER_S
    onsets_s = sorted({(i.onset_ns - clip_start_ns) / NS_PER_S for i in incidents})
    assert onsets_s == [8.0, 10.4]  # the second walker only: zone from 8 s, line at 10.4 s
    assert {str(i.class_) for i in incidents} == {"intrusion", "density", "wrong_way"}


def test_the_current_view_shows_people_blurred(tmp_path: Path) -> None:
    clip = write_walkers_clip(tmp_path / "walkers.avi")
    camera = validate_config(
        {**DECLARED, "cameras": [{**CAMERA, "source": str(clip)}]}, VideoConfig
    ).cameras[0]
    views: list[np.ndarray] = []

    def on_incidents(incidents: list[Incident]) -> None:
        if not views:  # the first event: the walker stands in the zone, feet at row 180
            views.append(cv2.imdecode(np.frombuffer(watch.snapshot(), np.uint8), cv2.IMREAD_COLOR))

    watch = CameraWatch(camera, on_incidents, threading.Event())
    watch.run()
    with pytest.raises(LookupError, match="no current view"):
        watch.snapshot()  # the watch ended: nothing is kept
    (view,) = views
    assert view.shape == (240, 320, 3)

    # Raised 1 s after the feet entered x ≥ 200 (4.9 s): at 6.0 s the walker, a (30, 30, 40)
    # ellipse 14 × 40 px (≈ 440 px) on a 90–170 grey ground, is at x 260–274, rows 140–180;
    # its edge steps ≈ 110 grey levels between neighbouring pixels in the analysed frame.
    # Blurred (σ = 40/8 = 5 px), the edge is soft and most of its dark pixels are gone.
    grey = cv2.cvtColor(view, cv2.COLOR_BGR2GRAY).astype(float)
    box = grey[130:190, 250:285]
    assert np.abs(np.diff(box[20:40], axis=1)).max() < 40
    assert (box < 60).sum() < 0.5 * 440
