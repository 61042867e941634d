"""The cameras as the console sees them: `ControllerDesk`, a `CameraDesk` over the central
service's `ControllerCuer` (which runs the cameras concern's `CueController` on an event loop of
its own thread).

- `views()`: each camera's current orientation, from ONVIF GetStatus;
- `snapshot()`: its current image (GetSnapshotUri + HTTP GET), proxied, never stored;
- `execute()`: an operator's approval of a suggested cue, handed to `CueController.approve`
  (which re-plans, audits the approval with the operator's name, and moves the camera).

A watcher polls the cameras and pushes every change of orientation on the live feed, whoever
moved the camera (an approval, `auto` cueing, a return home). The desk's ONVIF clients live on
the cuer's loop, like the controller's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from ouie.cameras.config import CameraConfig
from ouie.cameras.cueing import CueError, CueStatus, OnvifMover
from ouie.cameras.geometry import PtzPosition, hfov_for_zoom, onvif_to_pan, onvif_to_tilt
from ouie.cameras.onvif_client import CameraError
from ouie.central.cueing import ControllerCuer
from ouie.console.feed import LiveFeed
from ouie.console.views import CameraView
from ouie.store.models import Cue

T = TypeVar("T")

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


class ControllerDesk:
    """The console's `CameraDesk` over a `ControllerCuer` (module docstring)."""

    def __init__(
        self,
        cuer: ControllerCuer,
        mover: OnvifMover,
        feed: LiveFeed | None = None,
        watch_period_s: float = 1.0,
    ) -> None:
        self.cuer, self.controller, self.mover, self.feed = cuer, cuer.controller, mover, feed
        self._shown: dict[str, CameraView] = {}
        self._watcher = self._submit(self._watch_forever(watch_period_s))

    # -- plumbing --------------------------------------------------------------------------
    def _submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.cuer.loop)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        return self._submit(coroutine).result(timeout_s)

    def close(self) -> None:
        """Stop watching and close the desk's ONVIF clients (before the cuer closes)."""
        self._watcher.cancel()
        self._run(self.mover.close())

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

    # -- CameraDesk ------------------------------------------------------------------------
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
        self._run(self._publish_changes())
        return outcome.status is CueStatus.MOVED
