"""Cue modes against virtual ONVIF cameras: who may move a camera, when, and what is audited."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ouie.cameras.config import CameraConfig, CueingConfig, CueMode, PrivacyMask
from ouie.cameras.cueing import CueController, CueError, CueStatus, OnvifMover
from ouie.cameras.geometry import PtzPosition
from ouie.cameras.planning import SEVERITY, CueTarget
from ouie.core.audit import AuditEvent
from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.sim.cameras.virtual import VirtualCameraFleet, start_virtual_cameras

FRAME = LocalFrame(45.4397, 4.3872, 500.0)


def at(east_m: float, north_m: float) -> tuple[float, float]:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, FRAME.origin_height_m)
    return float(lat), float(lon)


CAMERA = CameraConfig(id="c1", lat=at(0, 0)[0], lon=at(0, 0)[1], heading_deg=0.0)


def target(east_m: float, north_m: float, incident: str, cls: EventClass) -> CueTarget:
    lat, lon = at(east_m, north_m)
    return CueTarget(lat=lat, lon=lon, radius_m=10, incident_id=incident, severity=SEVERITY[cls])


class Clock:
    """A hand-driven monotonic clock, s."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture()
def fleet() -> Iterator[VirtualCameraFleet]:
    with start_virtual_cameras([CAMERA], FRAME) as running:
        yield running


def controller(
    fleet: VirtualCameraFleet, config: CueingConfig, clock: Clock | None = None
) -> tuple[CueController, list[AuditEvent], OnvifMover]:
    events: list[AuditEvent] = []
    mover = OnvifMover(lambda _camera: fleet.credentials)
    cues = CueController(
        config, list(fleet.configs.values()), FRAME, mover, events.append, clock_s=clock or Clock()
    )
    return cues, events, mover


def actions(events: list[AuditEvent]) -> list[str]:
    return [event.action for event in events]


def test_suggest_never_moves_a_camera_before_a_person_approves(fleet: VirtualCameraFleet) -> None:
    virtual = fleet.cameras["c1"]
    home = virtual.position
    cues, events, mover = controller(fleet, CueingConfig(mode=CueMode.SUGGEST))

    async def scenario() -> tuple[CueStatus, CueStatus, PtzPosition | None]:
        outcome = await cues.cue(target(30, 100, "i1", EventClass.GUNSHOT))
        assert outcome.cue_id in cues.pending
        assert virtual.moves == 0 and virtual.position == home  # nothing moved yet
        approved = await cues.approve(outcome.cue_id or "", approver="alice")
        await mover.close()
        return outcome.status, approved.status, approved.move.confirmed if approved.move else None

    suggested, approved, confirmed = asyncio.run(scenario())
    assert suggested is CueStatus.PENDING and approved is CueStatus.MOVED
    assert virtual.moves == 1 and virtual.position == confirmed != home
    assert actions(events) == [
        "camera.cueing_mode",
        "camera.cue",
        "camera.cue_approved",
        "camera.move",
    ]
    approval, move = events[2], events[3]
    assert approval.actor == "alice" and move.actor == "alice"
    assert move.details["confirmed"] == vars(confirmed)
    assert not cues.pending


def test_a_rejected_suggestion_moves_nothing_and_is_audited(fleet: VirtualCameraFleet) -> None:
    cues, events, _ = controller(fleet, CueingConfig(mode=CueMode.SUGGEST))
    outcome = asyncio.run(cues.cue(target(30, 100, "i1", EventClass.SCREAM)))
    cues.reject(outcome.cue_id or "", by="bob")
    assert fleet.cameras["c1"].moves == 0
    assert events[-1].action == "camera.cue_rejected" and events[-1].actor == "bob"
    with pytest.raises(CueError, match="no pending cue"):
        asyncio.run(cues.approve(outcome.cue_id or "", approver="bob"))
    with pytest.raises(CueError, match="name of the person"):
        asyncio.run(cues.approve("whatever", approver="  "))


def test_an_approval_moves_only_the_approved_camera_and_not_one_taken_meanwhile() -> None:
    second = CAMERA.model_copy(update={"id": "c2", "lat": at(200, 0)[0], "lon": at(200, 0)[1]})
    with start_virtual_cameras([CAMERA, second], FRAME) as fleet:
        cues, events, mover = controller(fleet, CueingConfig(mode=CueMode.SUGGEST))

        async def scenario() -> tuple[CueStatus, CueStatus, str]:
            scream = await cues.cue(target(20, 100, "scream", EventClass.SCREAM))
            gun = await cues.cue(target(30, 90, "gun", EventClass.GUNSHOT))
            assert scream.decision and gun.decision and scream.decision.plan and gun.decision.plan
            assert scream.decision.plan.camera_id == gun.decision.plan.camera_id == "c1"
            moved = await cues.approve(gun.cue_id or "", approver="alice")
            late = await cues.approve(scream.cue_id or "", approver="bob")
            await mover.close()
            return moved.status, late.status, late.message

        moved, late, message = asyncio.run(scenario())
    assert moved is CueStatus.MOVED and late is CueStatus.NO_CAMERA
    assert "camera c1 can no longer be used" in message and "held by" in message
    assert fleet.cameras["c1"].moves == 1 and fleet.cameras["c2"].moves == 0  # c2 never approved
    assert [e.actor for e in events if e.action == "camera.cue_approved"] == ["alice", "bob"]


def test_a_stale_suggestion_expires_without_moving(fleet: VirtualCameraFleet) -> None:
    clock = Clock()
    cues, events, _ = controller(
        fleet, CueingConfig(mode=CueMode.SUGGEST, suggestion_ttl_s=60), clock
    )
    outcome = asyncio.run(cues.cue(target(30, 100, "i1", EventClass.GUNSHOT)))
    clock.now_s += 61
    with pytest.raises(CueError, match="expired"):
        asyncio.run(cues.approve(outcome.cue_id or "", approver="alice"))
    assert fleet.cameras["c1"].moves == 0 and not cues.pending
    assert events[-1].action == "camera.cue_expired" and events[-1].actor == "alice"


def test_off_computes_nothing_and_moves_nothing(fleet: VirtualCameraFleet) -> None:
    cues, events, _ = controller(fleet, CueingConfig())
    outcome = asyncio.run(cues.cue(target(30, 100, "i1", EventClass.GUNSHOT)))
    assert outcome.status is CueStatus.OFF and outcome.decision is None
    assert actions(events) == ["camera.cueing_mode"] and events[0].details["mode"] == "off"
    assert fleet.cameras["c1"].moves == 0


def test_auto_moves_at_once_declares_its_basis_and_returns_home(fleet: VirtualCameraFleet) -> None:
    clock = Clock()
    config = CueingConfig(
        mode=CueMode.AUTO,
        legal_basis="décret 2026-1 art. 3",
        dpia="AIPD-42",
        return_home_after_s=60,
    )
    cues, events, mover = controller(fleet, config, clock)
    virtual = fleet.cameras["c1"]
    home = virtual.position

    async def scenario() -> tuple[CueStatus, list[str], list[str]]:
        moved = await cues.cue(target(-40, 120, "i1", EventClass.GUNSHOT))
        clock.now_s += 59.0
        early = await cues.return_due_cameras()
        clock.now_s += 1.0
        due = await cues.return_due_cameras()
        await mover.close()
        return moved.status, early, due

    status, early, due = asyncio.run(scenario())
    assert events[0].action == "camera.cueing_mode"
    assert events[0].details["legal_basis"] == "décret 2026-1 art. 3"
    assert events[0].details["dpia"] == "AIPD-42"
    assert status is CueStatus.MOVED and events[2].actor == "system"
    assert early == [] and due == ["c1"]
    assert virtual.position == home and virtual.moves == 2
    assert events[-1].action == "camera.home" and not cues.holds


def test_releasing_an_incident_sends_its_camera_home_at_once(fleet: VirtualCameraFleet) -> None:
    config = CueingConfig(mode=CueMode.AUTO, legal_basis="x", dpia="y")
    cues, events, mover = controller(fleet, config)
    home = fleet.cameras["c1"].position

    async def scenario() -> tuple[list[str], list[str]]:
        await cues.cue(target(-40, 120, "i1", EventClass.GUNSHOT))
        other = await cues.release_incident("i2", by="alice")
        released = await cues.release_incident("i1", by="alice")
        await mover.close()
        return other, released

    other, released = asyncio.run(scenario())
    assert other == [] and released == ["c1"]
    assert fleet.cameras["c1"].position == home and not cues.holds
    assert (events[-1].action, events[-1].actor) == ("camera.home", "alice")


def test_a_camera_held_by_a_gunshot_is_not_taken_by_a_scream(fleet: VirtualCameraFleet) -> None:
    config = CueingConfig(mode=CueMode.AUTO, legal_basis="x", dpia="y")
    cues, _, mover = controller(fleet, config)

    async def scenario() -> tuple[CueStatus, CueStatus, str]:
        first = await cues.cue(target(0, 100, "gun", EventClass.GUNSHOT))
        second = await cues.cue(target(50, 50, "scream", EventClass.SCREAM))
        await mover.close()
        return first.status, second.status, second.message

    first, second, message = asyncio.run(scenario())
    assert first is CueStatus.MOVED and second is CueStatus.NO_CAMERA
    assert cues.holds["c1"].incident_id == "gun" and fleet.cameras["c1"].moves == 1
    assert "no usable camera" in message


def test_a_mask_refusal_is_audited() -> None:
    lat0, lon0 = at(-10, 90)
    lat1, lon1 = at(10, 110)
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    masked = CAMERA.model_copy(
        update={
            "masks": [PrivacyMask(id="yard", polygon={"type": "Polygon", "coordinates": [ring]})]
        }
    )
    with start_virtual_cameras([masked], FRAME) as fleet:
        cues, events, _ = controller(fleet, CueingConfig(mode=CueMode.SUGGEST))
        outcome = asyncio.run(cues.cue(target(0, 100, "i1", EventClass.GUNSHOT)))
    assert outcome.status is CueStatus.NO_CAMERA and not cues.pending
    refusal = next(e for e in events if e.action == "camera.mask_refused")
    assert refusal.subject == "camera:c1" and "yard" in refusal.details["reason"]
