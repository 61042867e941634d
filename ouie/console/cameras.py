"""The cameras as the console and the central service reach them: `ControllerDesk`.

One object over the cameras concern's `CueController` (which enforces the cue mode, the masks
and the holds, and audits every act) and its `OnvifMover`:

- for the central service it is the `Cuer`: a located incident becomes a `CueTarget`; in
  `suggest` the controller keeps the cue pending and the store records it as `suggested` (with
  the controller's cue id in its details); in `auto` the camera moves at once;
- for the console it is the `CameraDesk`: each camera's current orientation (ONVIF GetStatus),
  its snapshot (GetSnapshotUri + HTTP GET, proxied, never stored), and `execute`, which hands an
  operator's approval to `CueController.approve` (audited there with the operator's name).

The controller is asynchronous; the desk runs it on its own event-loop thread and the callers
(the service's cue worker, the console's request threads) wait for the answer. Every change of
a camera's orientation is pushed on the live feed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ouie.cameras.config import CameraConfig
from ouie.cameras.cueing import CueController, CueError, CueOutcome, CueStatus, OnvifMover
from ouie.cameras.geometry import PtzPosition, hfov_for_zoom, onvif_to_pan, onvif_to_tilt
from ouie.cameras.onvif_client import CameraError
from ouie.cameras.planning import SEVERITY, CueTarget
from ouie.central.service import CueOutcome as StoredCue
from ouie.console.feed import LiveFeed
from ouie.console.views import CameraView
from ouie.core.classes import EventClass
from ouie.core.timebase import now_ns
from ouie.store.models import Cue
from ouie.store.records import CueState, IncidentRecord

T = TypeVar("T")

DEFAULT_RADIUS_M = 15.0
"""Radius framed when an incident has no uncertainty radius, m."""
STATUS_TIMEOUT_S = 2.0
"""Longest wait for a camera's GetStatus when drawing the map, s."""


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
    """What to frame for an incident: its position, 95 % radius and class severity."""
    assert incident.lat is not None and incident.lon is not None
    try:
        severity = SEVERITY[EventClass(incident.class_)]
    except ValueError:
        severity = min(SEVERITY.values())
    return CueTarget(
        lat=incident.lat,
        lon=incident.lon,
        radius_m=incident.uncertainty_m or DEFAULT_RADIUS_M,
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
        return_home_period_s: float = 1.0,
    ) -> None:
        self.controller, self.mover, self.feed, self.clock = controller, mover, feed, clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cameras", daemon=True)
        self._thread.start()
        self._returns = self._submit(self._return_home_forever(return_home_period_s))

    # -- plumbing --------------------------------------------------------------------------
    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        result: T = self._submit(coroutine).result(timeout_s)
        return result

    def close(self) -> None:
        """Stop the return-home loop, close the ONVIF clients and the event loop."""
        self._returns.cancel()
        self._run(self.mover.close())
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

    async def _publish(self, camera_ids: list[str]) -> None:
        if self.feed is None:
            return
        for camera_id in camera_ids:
            view = await self._view(self._camera(camera_id))
            self.feed.publish("camera", view.model_dump())

    async def _return_home_forever(self, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            await self._publish(await self.controller.return_due_cameras())

    # -- Cuer (central service) ------------------------------------------------------------
    def cue(self, incident: IncidentRecord) -> list[StoredCue]:
        """Plan and, per the cue mode, propose or execute a camera move for `incident`."""
        outcome = self._run(self.controller.cue(cue_target(incident)))
        stored = self._stored(outcome)
        if outcome.status is CueStatus.MOVED and stored:
            self._run(self._publish([stored[0].camera_id]))
        return stored

    def _stored(self, outcome: CueOutcome) -> list[StoredCue]:
        """The store's record of a controller outcome (nothing when no camera is involved)."""
        plan = outcome.decision.plan if outcome.decision else None
        if plan is None:
            return []
        state = {
            CueStatus.PENDING: CueState.SUGGESTED,
            CueStatus.MOVED: CueState.EXECUTED,
            CueStatus.FAILED: CueState.FAILED,
        }.get(outcome.status)
        if state is None:
            return []
        return [
            StoredCue(
                camera_id=plan.camera_id,
                state=state,
                pan_deg=plan.pan_deg,
                tilt_deg=plan.tilt_deg,
                zoom=plan.onvif_zoom,
                commanded_at_ns=self.clock() if state is CueState.EXECUTED else None,
                details={
                    "cue_id": outcome.cue_id,
                    "mode": self.controller.config.mode.value,
                    "mask_decision": plan.mask_decision.value,
                    "message": outcome.message,
                },
            )
        ]

    # -- CameraDesk (console) --------------------------------------------------------------
    def views(self) -> list[CameraView]:
        """Every camera with the orientation its GetStatus reports now."""

        async def all_views() -> list[CameraView]:
            cameras = sorted(self.controller.cameras.values(), key=lambda c: c.id)
            return list(await asyncio.gather(*(self._view(camera) for camera in cameras)))

        return self._run(all_views())

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

    def execute(self, cue: Cue, actor: str) -> bool:
        """Carry out an operator's approval of a suggested cue; True once the move is
        confirmed. The controller re-plans first and audits the approval by name."""
        cue_id = cue.details.get("cue_id")
        if not isinstance(cue_id, str):
            return False
        try:
            outcome = self._run(self.controller.approve(cue_id, actor))
        except CueError:
            return False
        if outcome.status is CueStatus.MOVED and outcome.decision and outcome.decision.plan:
            self._run(self._publish([outcome.decision.plan.camera_id]))
        return outcome.status is CueStatus.MOVED
