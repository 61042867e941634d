"""The camera desk against virtual ONVIF cameras: as the central service's cuer, suggest keeps
the camera still until an operator approves through the desk and auto moves at once; the map
shows the real orientation (pushed by the watcher, whoever moved the camera); snapshots proxy."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import pytest

from ouie.app.camera_desk import ControllerDesk
from ouie.cameras.config import CameraConfig, CueingConfig, CueMode
from ouie.cameras.cueing import CueController, OnvifMover
from ouie.console.feed import LiveFeed
from ouie.core.audit import AuditEvent
from ouie.core.geo import LocalFrame
from ouie.sim.cameras.virtual import VirtualCameraFleet, start_virtual_cameras
from ouie.store.models import CueRow
from ouie.store.records import CueState, IncidentRecord

FRAME = LocalFrame(45.4397, 4.3872, 500.0)
CAMERA = CameraConfig(id="c1", lat=45.4397, lon=4.3872, heading_deg=0.0)
EAST_M, NORTH_M = 30.0, 100.0
EXPECTED_BEARING_DEG = math.degrees(math.atan2(EAST_M, NORTH_M))


def incident(incident_id: str) -> IncidentRecord:
    lat, lon, _ = FRAME.to_wgs84(EAST_M, NORTH_M, FRAME.origin_height_m)
    return IncidentRecord(
        id=incident_id,
        class_="gunshot",
        onset_ns=1_782_075_600_000_000_000,
        lat=float(lat),
        lon=float(lon),
        uncertainty_m=10.0,
        revision=1,
    )


@pytest.fixture()
def fleet() -> Iterator[VirtualCameraFleet]:
    with start_virtual_cameras([CAMERA], FRAME) as running:
        yield running


def desk_for(
    fleet: VirtualCameraFleet, mode: CueMode, audit: list[AuditEvent], feed: LiveFeed | None = None
) -> ControllerDesk:
    extra = {"legal_basis": "demonstration only", "dpia": "demonstration only"}
    config = CueingConfig(mode=mode, **(extra if mode is CueMode.AUTO else {}))
    mover = OnvifMover(lambda _camera: fleet.credentials)
    controller = CueController(config, list(fleet.configs.values()), FRAME, mover, audit.append)
    return ControllerDesk(
        controller, mover, feed, clock=lambda: 1_782_075_601_000_000_000, watch_period_s=0.1
    )


def test_suggest_waits_for_the_operator_then_the_map_shows_the_new_bearing(
    fleet: VirtualCameraFleet,
) -> None:
    audit: list[AuditEvent] = []
    desk = desk_for(fleet, CueMode.SUGGEST, audit)
    try:
        [proposed] = desk.cue(incident("inc-1"))
        assert proposed.state is CueState.SUGGESTED
        assert proposed.commanded_at_ns is None
        assert proposed.pan_deg == pytest.approx(EXPECTED_BEARING_DEG, abs=0.5)
        assert fleet.cameras["c1"].moves == 0
        [before] = desk.views()
        assert before.state == "home"
        assert before.bearing_deg == pytest.approx(CAMERA.home_pan_deg % 360, abs=0.5)

        row = CueRow(camera_id="c1", details=proposed.details)
        assert desk.execute(row, "olga") is True
        assert fleet.cameras["c1"].moves == 1
        [after] = desk.views()
        assert after.state == "cued"
        assert after.bearing_deg == pytest.approx(EXPECTED_BEARING_DEG, abs=1.0)
        assert desk.execute(row, "olga") is False  # a cue is approved once
        assert desk.decline(row, "olga") is False  # and is no longer pending
        approvals = [e for e in audit if e.action == "camera.cue_approved"]
        assert [(e.actor, e.subject) for e in approvals] == [("olga", "incident:inc-1")]

        image, media_type = desk.snapshot("c1")
        assert media_type in ("image/png", "image/jpeg")
        assert len(image) > 1000
        with pytest.raises(KeyError):
            desk.snapshot("c9")
    finally:
        desk.close()


def test_an_automatic_move_reaches_the_map_through_the_watcher(
    fleet: VirtualCameraFleet,
) -> None:
    audit: list[AuditEvent] = []
    feed = LiveFeed()
    desk = desk_for(fleet, CueMode.AUTO, audit, feed)

    async def watch() -> list[dict[str, object]]:
        async with feed.subscribe() as queue:
            await asyncio.sleep(0.3)  # the watcher has shown the home view by now
            [executed] = await asyncio.to_thread(desk.cue, incident("inc-2"))
            assert executed.state is CueState.EXECUTED
            assert executed.commanded_at_ns == 1_782_075_601_000_000_000
            assert executed.details["mode"] == "auto"
            seen = []
            while True:
                kind, view = await asyncio.wait_for(queue.get(), 5.0)
                seen.append(view)
                if kind == "camera" and view["state"] == "cued":
                    return seen

    try:
        seen = asyncio.run(watch())
        assert seen[-1]["bearing_deg"] == pytest.approx(EXPECTED_BEARING_DEG, abs=1.0)
        assert fleet.cameras["c1"].moves == 1
        assert [e.actor for e in audit if e.action == "camera.move"] == ["system"]
    finally:
        desk.close()


def test_a_declined_suggestion_never_moves_the_camera(fleet: VirtualCameraFleet) -> None:
    audit: list[AuditEvent] = []
    desk = desk_for(fleet, CueMode.SUGGEST, audit)
    try:
        [proposed] = desk.cue(incident("inc-3"))
        row = CueRow(camera_id="c1", details=proposed.details)
        assert desk.decline(row, "olga") is True
        assert desk.execute(row, "olga") is False
        assert fleet.cameras["c1"].moves == 0
        declined = [e for e in audit if e.action == "camera.cue_rejected"]
        assert [(e.actor, e.subject) for e in declined] == [("olga", "incident:inc-3")]
    finally:
        desk.close()


def test_a_decided_incident_sends_its_camera_home_at_once(fleet: VirtualCameraFleet) -> None:
    audit: list[AuditEvent] = []
    desk = desk_for(fleet, CueMode.AUTO, audit)
    try:
        [executed] = desk.cue(incident("inc-4"))
        assert executed.state is CueState.EXECUTED
        assert desk.views()[0].state == "cued"
        assert desk.release("inc-9", "olga") == []  # another incident holds nothing
        assert desk.release("inc-4", "olga") == ["c1"]
        assert desk.views()[0].state == "home"
        homes = [e for e in audit if e.action == "camera.home"]
        assert [(e.actor, e.details["reason"]) for e in homes] == [("olga", "incident released")]
    finally:
        desk.close()


def test_look_here_turns_the_camera_that_sees_the_place_approved_by_who_asked(
    fleet: VirtualCameraFleet,
) -> None:
    audit: list[AuditEvent] = []
    desk = desk_for(fleet, CueMode.SUGGEST, audit)
    try:
        lat, lon, _ = FRAME.to_wgs84(EAST_M, NORTH_M, FRAME.origin_height_m)
        look = desk.look_here(float(lat), float(lon), "olga")
        assert look.moved and look.camera_id == "c1"
        assert look.bearing_deg == pytest.approx(EXPECTED_BEARING_DEG, abs=0.5)
        assert look.distance_m == pytest.approx(math.hypot(EAST_M, NORTH_M), abs=1.0)
        assert fleet.cameras["c1"].moves == 1
        actions = [(e.action, e.actor) for e in audit]
        assert ("camera.cue", "system") in actions
        assert ("camera.cue_approved", "olga") in actions and ("camera.move", "olga") in actions
        cue = next(e for e in audit if e.action == "camera.cue")
        assert cue.subject.startswith("incident:look-")
        # A look request never takes a camera held for an incident (severity 0 < every class).
        [proposed] = desk.cue(incident("inc-7"))
        assert desk.execute(CueRow(camera_id="c1", details=proposed.details), "olga")
        moves = fleet.cameras["c1"].moves
        elsewhere = desk.look_here(float(lat), float(lon) + 0.0005, "olga")
        assert not elsewhere.moved and fleet.cameras["c1"].moves == moves
    finally:
        desk.close()


def test_look_here_is_refused_in_mode_off(fleet: VirtualCameraFleet) -> None:
    audit: list[AuditEvent] = []
    desk = desk_for(fleet, CueMode.OFF, audit)
    try:
        with pytest.raises(LookupError, match="cue mode is off"):
            desk.look_here(45.44, 4.3875, "olga")
        assert fleet.cameras["c1"].moves == 0
    finally:
        desk.close()
