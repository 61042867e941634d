"""The cameras as the central service and the console reach them: `ControllerDesk`.

One object over the cameras concern's `CueController` (which enforces the cue mode, the masks
and the holds, and audits every act) and an `OnvifMover`:

- for the central service it is the `Cuer`: a located incident becomes a `CueTarget`; in
  `suggest` the controller keeps the cue pending and the store records it as `suggested` (with
  the controller's cue id in its details); in `auto` the camera moves at once and the stored
  cue carries the instant the move was confirmed;
- for the console it is the `CameraDesk`: each camera's current orientation (ONVIF GetStatus),
  its snapshot (GetSnapshotUri + HTTP GET, proxied, never stored), and `execute`, which hands an
  operator's approval to `CueController.approve` (which re-plans, audits the approval with the
  operator's name, and moves the camera), and `decline`, which hands a refusal to
  `CueController.reject` (audited too; no camera moves).

The controller is asynchronous; the desk runs it, its return-home task and a watcher on an event
loop of its own thread, and the callers (the service's cue worker, the console's request
threads) wait for the answers. The watcher polls the cameras and pushes every change of
orientation on the live feed, whoever moved the camera (an approval, `auto`, a return home).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from ouie.cameras.config import CameraConfig, CueMode
from ouie.cameras.cueing import CueController, CueError, CueOutcome, CueStatus, OnvifMover
from ouie.cameras.geometry import PtzPosition, hfov_for_zoom, onvif_to_pan, onvif_to_tilt
from ouie.cameras.onvif_client import CameraError
from ouie.cameras.planning import SEVERITY, CueTarget
from ouie.central.ports import CueRecord
from ouie.console.feed import LiveFeed
from ouie.console.views import CameraView, LookView
from ouie.core.classes import EventClass
from ouie.core.timebase import now_ns
from ouie.store.models import CueRow
from ouie.store.records import CueState, IncidentRecord

T = TypeVar("T")

MIN_FRAME_RADIUS_M = 5.0
"""Frame at least this radius around an incident, even a very precise fix, m."""
LOOK_RADIUS_M = 15.0
"""A "look here" frames this radius around the place clicked, m (a click is not a fix)."""
LOOK_SEVERITY = 0
"""A "look here" ranks below every incident: it never takes a camera held for one."""
STATUS_TIMEOUT_S = 2.0
"""Longest wait for a camera's GetStatus, s."""


def bearing_deg(camera: CameraConfig, position: PtzPosition) -> float:
    """Bearing of the optical axis, degrees clockwise from north: heading + pan, in [0, 360)."""
    return (camera.heading_deg + onvif_to_pan(camera, position.pan)) % 360.0


def camera_view(camera: CameraConfig, position: PtzPosition | None, state: str) -> CameraView:
    """A camera on the map at `position` (None: unknown, drawn at its home view)."""
    if position is None:
        return CameraView(
            id=camera.id,
            lat=camera.lat,
            lon=camera.lon,
            bearing_deg=(camera.heading_deg + camera.home_pan_deg) % 360.0,
            tilt_deg=camera.home_tilt_deg,
            hfov_deg=hfov_for_zoom(camera, 0.0),
            state=state,
        )
    return CameraView(
        id=camera.id,
        lat=camera.lat,
        lon=camera.lon,
        bearing_deg=bearing_deg(camera, position),
        tilt_deg=onvif_to_tilt(camera, position.tilt),
        hfov_deg=hfov_for_zoom(camera, position.zoom),
        state=state,
    )


def cue_target(incident: IncidentRecord) -> CueTarget:
    """What to frame for an incident: its position, its 95 % radius (at least
    MIN_FRAME_RADIUS_M) and the severity of its class."""
    assert incident.lat is not None and incident.lon is not None
    try:
        severity = SEVERITY[EventClass(incident.class_)]
    except ValueError:
        severity = min(SEVERITY.values())
    return CueTarget(
        lat=incident.lat,
        lon=incident.lon,
        radius_m=max(incident.uncertainty_m or MIN_FRAME_RADIUS_M, MIN_FRAME_RADIUS_M),
        incident_id=incident.id,
        severity=severity,
    )


class ControllerDesk:
    """`Cuer` for the central service and `CameraDesk` for the console (module docstring)."""

    def __init__(
        self,
        controller: CueController,
        mover: OnvifMover,
        feed: LiveFeed | None = None,
        clock: Callable[[], int] = now_ns,
        watch_period_s: float = 1.0,
        return_home_period_s: float = 1.0,
    ) -> None:
        self.controller, self.mover, self.feed, self.clock = controller, mover, feed, clock
        self._shown: dict[str, CameraView] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cameras", daemon=True)
        self._thread.start()
        self._tasks = self._run(
            self._start(
                self._watch_forever(watch_period_s),
                self.controller.run_return_home(return_home_period_s),
            )
        )

    # -- plumbing --------------------------------------------------------------------------
    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        return self._submit(coroutine).result(timeout_s)

    @staticmethod
    async def _start(*coroutines: Coroutine[Any, Any, None]) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(coroutine) for coroutine in coroutines]

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.mover.close()

    def close(self) -> None:
        """Stop the watcher and the return-home task (waiting for them), then close the ONVIF
        clients and the loop."""
        self._run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _camera(self, camera_id: str) -> CameraConfig:
        return self.controller.cameras[camera_id]

    async def _view(self, camera: CameraConfig) -> CameraView:
        state = "cued" if camera.id in self.controller.holds else "home"
        try:
            client = await self.mover.client(camera)
            position = await asyncio.wait_for(client.status(), STATUS_TIMEOUT_S)
        except (CameraError, TimeoutError, OSError):
            return camera_view(camera, None, "unreachable")
        return camera_view(camera, position, state)

    async def _views(self) -> list[CameraView]:
        cameras = sorted(self.controller.cameras.values(), key=lambda c: c.id)
        return list(await asyncio.gather(*(self._view(camera) for camera in cameras)))

    async def _publish_changes(self) -> None:
        """Push the cameras whose orientation or state changed since last shown."""
        for view in await self._views():
            if self._shown.get(view.id) != view:
                self._shown[view.id] = view
                if self.feed is not None:
                    self.feed.publish("camera", view.model_dump())

    async def _watch_forever(self, period_s: float) -> None:
        while True:
            await self._publish_changes()
            await asyncio.sleep(period_s)

    # -- Cuer (central service) ------------------------------------------------------------
    def cue(self, incident: IncidentRecord) -> list[CueRecord]:
        """Plan and, per the cue mode, propose or execute a camera move for `incident`
        (nothing to store in mode off or when no camera can see the place)."""
        outcome = self._run(self.controller.cue(cue_target(incident)))
        stored = self._stored(outcome)
        if outcome.status is CueStatus.MOVED:
            self._run(self._publish_changes())
        return stored

    def _stored(self, outcome: CueOutcome) -> list[CueRecord]:
        """The store's record of a controller outcome."""
        plan = outcome.decision.plan if outcome.decision else None
        state = {
            CueStatus.PENDING: CueState.SUGGESTED,
            CueStatus.MOVED: CueState.EXECUTED,
            CueStatus.FAILED: CueState.FAILED,
        }.get(outcome.status)
        if plan is None or state is None:
            return []
        return [
            CueRecord(
                camera_id=plan.camera_id,
                state=state,
                pan_deg=plan.pan_deg,
                tilt_deg=plan.tilt_deg,
                zoom=plan.onvif_zoom,
                commanded_at_ns=self.clock() if state is CueState.EXECUTED else None,
                details={
                    "cue_id": outcome.cue_id,
                    "mode": self.controller.config.mode.value,
                    "bearing_deg": plan.bearing_deg,
                    "distance_m": plan.distance_m,
                    "mask_decision": plan.mask_decision.value,
                    "message": outcome.message,
                },
            )
        ]

    # -- CameraDesk (console) --------------------------------------------------------------
    def views(self) -> list[CameraView]:
        """Every camera with the orientation its GetStatus reports now."""
        return self._run(self._views())

    def snapshot(self, camera_id: str) -> tuple[bytes, str]:
        """The camera's current image (JPEG or PNG, sniffed from its first bytes)."""
        camera = self._camera(camera_id)

        async def fetch() -> bytes:
            client = await self.mover.client(camera)
            return await client.snapshot()

        try:
            image = self._run(fetch())
        except CameraError as error:
            raise OSError(str(error)) from None
        return image, "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"

    def look_here(self, lat: float, lon: float, actor: str) -> LookView:
        """An operator asks to see a place: the controller plans a cue for it (the best camera
        with a line of sight, masks and holds respected; audited `camera.cue` under the
        subject `incident:look-…`) and, in `suggest`, the request is its approval (audited
        `camera.cue_approved` with `actor`); in `auto` it moves at once. LookupError in `off`."""
        if self.controller.config.mode is CueMode.OFF:
            raise LookupError("cue mode is off: no camera is moved, not even on request")
        target = CueTarget(
            lat=lat,
            lon=lon,
            radius_m=LOOK_RADIUS_M,
            incident_id=f"look-{uuid.uuid4().hex[:12]}",
            severity=LOOK_SEVERITY,
        )
        outcome = self._run(self.controller.cue(target))
        if outcome.status is CueStatus.PENDING and outcome.cue_id is not None:
            outcome = self._run(self.controller.approve(outcome.cue_id, actor))
        plan = outcome.decision.plan if outcome.decision else None
        moved = outcome.status is CueStatus.MOVED
        if moved:
            self._run(self._publish_changes())
        message = (
            f"{plan.camera_id} turned to {plan.bearing_deg:.0f}° ({plan.distance_m:.0f} m away)"
            if moved and plan
            else outcome.message or "no camera can see this place"
        )
        return LookView(
            moved=moved,
            camera_id=plan.camera_id if plan else None,
            bearing_deg=plan.bearing_deg if plan else None,
            distance_m=plan.distance_m if plan else None,
            message=message,
        )

    def execute(self, cue: CueRow, actor: str) -> bool:
        """Carry out an operator's approval of a suggested cue; True once the move is
        confirmed. The controller re-plans first and audits the approval by name."""
        cue_id = cue.details.get("cue_id")
        if not isinstance(cue_id, str):
            return False
        try:
            outcome = self._run(self.controller.approve(cue_id, actor))
        except CueError:
            return False
        self._run(self._publish_changes())
        return outcome.status is CueStatus.MOVED

    def release(self, incident_id: str, actor: str) -> list[str]:
        """The incident is decided: the cameras held for it go home now, not on the timer
        (`camera.home` audited with `actor`); their ids."""
        released = self._run(self.controller.release_incident(incident_id, actor))
        if released:
            self._run(self._publish_changes())
        return released

    def decline(self, cue: CueRow, actor: str) -> bool:
        """An operator declines a suggested cue: no camera moves; the controller audits who
        declined (`camera.cue_rejected`). False when the cue is no longer pending."""
        cue_id = cue.details.get("cue_id")
        if not isinstance(cue_id, str):
            return False
        try:
            self.controller.reject(cue_id, actor)
        except CueError:
            return False
        return True
