"""The service's `Cuer` on top of the cameras concern's `CueController` (async, ONVIF).

The controller runs on an event loop of its own thread (its ONVIF clients belong to that loop),
together with its return-home task. Outcomes map to stored cues: a suggestion (suggest mode)
becomes a `suggested` cue the console can approve; a confirmed move an `executed` cue with the
instant the camera confirmed; no usable camera or mode `off` stores nothing (the controller has
audited its decision either way).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from ouie.cameras.cueing import CueController, CueStatus, OnvifMover
from ouie.cameras.planning import SEVERITY, CueTarget
from ouie.central.service import CueOutcome
from ouie.core.classes import EventClass
from ouie.core.timebase import now_ns
from ouie.store.records import CueState, IncidentRecord

log = logging.getLogger(__name__)

MIN_FRAME_RADIUS_M = 5.0
"""Frame at least this radius around a fix, even a very precise one, m."""


class ControllerCuer:
    """Adapts `CueController` to the `Cuer` protocol (see module docstring)."""

    def __init__(
        self,
        controller: CueController,
        clock: Callable[[], int] = now_ns,
        timeout_s: float = 30.0,
        mover: OnvifMover | None = None,
    ) -> None:
        """`mover`: the controller's ONVIF mover, whose connections `close()` closes."""
        self.controller, self._clock, self._timeout_s = controller, clock, timeout_s
        self._mover = mover
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="cueing", daemon=True)
        self._thread.start()
        self._return_home = asyncio.run_coroutine_threadsafe(
            self._start_return_home(), self.loop
        ).result(5)

    async def _start_return_home(self) -> asyncio.Task[None]:
        return asyncio.create_task(self.controller.run_return_home())

    def cue(self, incident: IncidentRecord) -> list[CueOutcome]:
        """Ask the controller for a cue; returns what to store (empty for off / no camera)."""
        assert incident.lat is not None and incident.lon is not None
        target = CueTarget(
            lat=incident.lat,
            lon=incident.lon,
            radius_m=max(incident.uncertainty_m or MIN_FRAME_RADIUS_M, MIN_FRAME_RADIUS_M),
            incident_id=incident.id,
            severity=SEVERITY.get(EventClass(incident.class_), 1),
        )
        answer = asyncio.run_coroutine_threadsafe(self.controller.cue(target), self.loop).result(
            self._timeout_s
        )
        plan = answer.decision.plan if answer.decision is not None else None
        if answer.status in (CueStatus.OFF, CueStatus.NO_CAMERA) or plan is None:
            log.info("incident %s: no cue (%s: %s)", incident.id, answer.status, answer.message)
            return []
        state = {
            CueStatus.PENDING: CueState.SUGGESTED,
            CueStatus.MOVED: CueState.EXECUTED,
            CueStatus.FAILED: CueState.FAILED,
        }[answer.status]
        return [
            CueOutcome(
                camera_id=plan.camera_id,
                state=state,
                pan_deg=plan.pan_deg,
                tilt_deg=plan.tilt_deg,
                zoom=plan.onvif_zoom,
                commanded_at_ns=self._clock() if answer.status is CueStatus.MOVED else None,
                details={
                    "cue_id": answer.cue_id,
                    "mode": self.controller.config.mode.value,
                    "bearing_deg": plan.bearing_deg,
                    "distance_m": plan.distance_m,
                    "mask_decision": str(plan.mask_decision),
                    "message": answer.message,
                },
            )
        ]

    def close(self) -> None:
        """Stop the return-home task, close the mover's connections, stop the loop."""
        self.loop.call_soon_threadsafe(self._return_home.cancel)
        if self._mover is not None:
            asyncio.run_coroutine_threadsafe(self._mover.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
