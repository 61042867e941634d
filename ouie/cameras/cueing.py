"""Incidents to camera moves, under the deployment's cue mode, with every act audited.

- `off`: nothing is computed and no camera moves (the incident is still raised and located);
- `suggest`: the cue is computed and kept pending; the camera moves only in `approve(cue_id,
  approver)`, which audits who approved;
- `auto`: the cue is executed at once by 'system' (accepted by `CueingConfig` only with a
  declared legal basis and DPIA, which are written to the audit trail when the controller starts).

A cued camera is held for its incident (a more serious incident may take it over; see
`ouie.cameras.planning`) and returns home `return_home_after_s` later (`return_due_cameras`).
Audit actions: `camera.cueing_mode`, `camera.cue`, `camera.cue_approved`, `camera.cue_rejected`,
`camera.cue_expired`,
`camera.mask_refused`, `camera.mask_clipped`, `camera.move`, `camera.move_failed`, `camera.home`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from ouie.cameras.config import CameraConfig, CameraCredentials, CueingConfig, CueMode
from ouie.cameras.geometry import PtzPosition
from ouie.cameras.onvif_client import CameraError, MoveResult, OnvifPtzClient
from ouie.cameras.planning import (
    BuildingShape,
    CameraHold,
    CueDecision,
    CuePlan,
    CueTarget,
    MaskDecision,
    plan_cue,
)
from ouie.core.audit import AuditEvent, AuditSink
from ouie.core.geo import LocalFrame

SYSTEM_ACTOR = "system"


class CueError(RuntimeError):
    """A cue that may not, or cannot, be carried out; the message says why."""


class CueStatus(StrEnum):
    """What became of a cue request."""

    OFF = "off"
    NO_CAMERA = "no_camera"
    PENDING = "pending"
    MOVED = "moved"
    FAILED = "failed"


class CameraMover(Protocol):
    """What moves cameras: ONVIF in production (`OnvifMover`), anything in tests."""

    async def move(
        self, camera: CameraConfig, position: PtzPosition, timeout_s: float
    ) -> MoveResult: ...

    async def home(self, camera: CameraConfig) -> None: ...


@dataclass(frozen=True)
class CueOutcome:
    """The answer to a cue request: status, the planner's decision, the move if one was made."""

    status: CueStatus
    cue_id: str | None = None
    decision: CueDecision | None = None
    move: MoveResult | None = None
    message: str = ""


@dataclass
class _Held:
    hold: CameraHold
    since_s: float


def _plan_details(plan: CuePlan) -> dict[str, Any]:
    """A plan as JSON-able audit details (without the footprint polygon)."""
    return plan.model_dump(mode="json", exclude={"footprint_enu"})


class CueController:
    """Computes cues for incidents and moves cameras as the cue mode allows (module docstring)."""

    def __init__(
        self,
        config: CueingConfig,
        cameras: Sequence[CameraConfig],
        frame: LocalFrame,
        mover: CameraMover,
        audit: AuditSink,
        buildings: Sequence[BuildingShape] = (),
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.cameras = {camera.id: camera for camera in cameras}
        self.frame, self.buildings = frame, list(buildings)
        self._mover, self._audit, self._clock_s = mover, audit, clock_s
        self._pending: dict[str, tuple[CueDecision, float]] = {}
        self._held: dict[str, _Held] = {}
        self._emit(
            "camera.cueing_mode",
            SYSTEM_ACTOR,
            "cueing",
            {
                "mode": config.mode.value,
                "legal_basis": config.legal_basis,
                "dpia": config.dpia,
                "cameras": sorted(self.cameras),
            },
        )

    def _emit(self, action: str, actor: str, subject: str, details: dict[str, Any]) -> None:
        self._audit(AuditEvent(action=action, actor=actor, subject=subject, details=details))

    @property
    def pending(self) -> dict[str, CueDecision]:
        """Cues waiting for a person's approval (suggest mode), by cue id."""
        return {cue_id: decision for cue_id, (decision, _) in self._pending.items()}

    @property
    def holds(self) -> dict[str, CameraHold]:
        """Cameras currently held, by camera id."""
        return {camera_id: held.hold for camera_id, held in self._held.items()}

    def plan(self, target: CueTarget) -> CueDecision:
        """The planner's decision for `target` given the current holds (moves nothing)."""
        return plan_cue(
            list(self.cameras.values()),
            target,
            self.frame,
            self.buildings,
            self.holds,
            margin=self.config.frame_margin,
        )

    async def cue(self, target: CueTarget) -> CueOutcome:
        """Handle an incident: nothing in `off`, a pending suggestion in `suggest`, a move in
        `auto`. Audits the cue and any mask refusal or clipping."""
        subject = f"incident:{target.incident_id}"
        if self.config.mode is CueMode.OFF:
            return CueOutcome(CueStatus.OFF, message="cue mode is off: no camera is moved")
        decision = self.plan(target)
        cue_id = uuid.uuid4().hex
        self._audit_decision(cue_id, subject, decision)
        if decision.plan is None:
            return CueOutcome(CueStatus.NO_CAMERA, cue_id, decision, message=decision.reason)
        if self.config.mode is CueMode.SUGGEST:
            self._pending[cue_id] = (decision, self._clock_s())
            return CueOutcome(
                CueStatus.PENDING, cue_id, decision, message="waiting for an operator's approval"
            )
        return await self._execute(cue_id, decision, SYSTEM_ACTOR)

    def _audit_decision(self, cue_id: str, subject: str, decision: CueDecision) -> None:
        details: dict[str, Any] = {
            "cue_id": cue_id,
            "mode": self.config.mode.value,
            "target": decision.target.model_dump(mode="json"),
            "reason": decision.reason,
            "plan": _plan_details(decision.plan) if decision.plan else None,
        }
        self._emit("camera.cue", SYSTEM_ACTOR, subject, details)
        for option in decision.options:
            if option.mask_decision is MaskDecision.REFUSED:
                self._emit(
                    "camera.mask_refused",
                    SYSTEM_ACTOR,
                    f"camera:{option.camera_id}",
                    {"cue_id": cue_id, "reason": option.reason},
                )
        if decision.plan and decision.plan.mask_decision in {
            MaskDecision.CLIPPED_ZOOM,
            MaskDecision.PANNED_AWAY,
        }:
            self._emit(
                "camera.mask_clipped",
                SYSTEM_ACTOR,
                f"camera:{decision.plan.camera_id}",
                {"cue_id": cue_id, "decision": decision.plan.mask_decision.value},
            )

    async def approve(self, cue_id: str, approver: str) -> CueOutcome:
        """A person approves a pending cue: audited with their name, then the camera moves.

        The person approved one camera: only that camera moves. Its plan is recomputed first,
        so a camera taken meanwhile by a more serious incident is not stolen back (the outcome
        is then NO_CAMERA with the reason, and nothing moves)."""
        if not approver.strip():
            raise CueError("an approval needs the name of the person approving")
        decision = self._take_pending(cue_id, approver)
        assert decision.plan is not None
        camera_id = decision.plan.camera_id
        self._emit(
            "camera.cue_approved",
            approver,
            f"incident:{decision.target.incident_id}",
            {"cue_id": cue_id, "camera_id": camera_id},
        )
        fresh = self.plan(decision.target)
        option = next(o for o in fresh.options if o.camera_id == camera_id)
        if option.plan is None:
            message = f"camera {camera_id} can no longer be used: {option.reason}"
            return CueOutcome(CueStatus.NO_CAMERA, cue_id, fresh, message=message)
        approved = fresh.model_copy(update={"plan": option.plan})
        return await self._execute(cue_id, approved, approver)

    def reject(self, cue_id: str, by: str) -> None:
        """A person declines a pending cue (audited); no camera moves."""
        decision = self._take_pending(cue_id, by)
        self._emit(
            "camera.cue_rejected", by, f"incident:{decision.target.incident_id}", {"cue_id": cue_id}
        )

    def _take_pending(self, cue_id: str, by: str) -> CueDecision:
        """Remove and return a pending cue; CueError when unknown or expired (audited)."""
        pending = self._pending.pop(cue_id, None)
        if pending is None:
            raise CueError(f"no pending cue {cue_id} (already decided, or never suggested)")
        decision, since_s = pending
        age_s = self._clock_s() - since_s
        if age_s > self.config.suggestion_ttl_s:
            self._emit(
                "camera.cue_expired",
                by,
                f"incident:{decision.target.incident_id}",
                {"cue_id": cue_id, "age_s": round(age_s, 1)},
            )
            raise CueError(
                f"cue {cue_id} expired: suggested {age_s:.0f} s ago, longer than "
                f"{self.config.suggestion_ttl_s:.0f} s; nothing moved"
            )
        return decision

    async def _execute(self, cue_id: str, decision: CueDecision, actor: str) -> CueOutcome:
        plan = decision.plan
        assert plan is not None
        camera = self.cameras[plan.camera_id]
        position = PtzPosition(plan.onvif_pan, plan.onvif_tilt, plan.onvif_zoom)
        subject = f"camera:{camera.id}"
        try:
            result = await self._mover.move(camera, position, self.config.move_timeout_s)
        except CameraError as error:
            self._emit(
                "camera.move_failed", actor, subject, {"cue_id": cue_id, "error": str(error)}
            )
            return CueOutcome(CueStatus.FAILED, cue_id, decision, message=str(error))
        self._held[camera.id] = _Held(
            CameraHold(decision.target.incident_id, decision.target.severity), self._clock_s()
        )
        self._emit(
            "camera.move",
            actor,
            subject,
            {
                "cue_id": cue_id,
                "incident_id": decision.target.incident_id,
                "method": result.method,
                "requested": vars(result.requested),
                "confirmed": vars(result.confirmed),
                "elapsed_s": round(result.elapsed_s, 4),
                "plan": _plan_details(plan),
            },
        )
        return CueOutcome(CueStatus.MOVED, cue_id, decision, result, "moved and confirmed")

    async def return_due_cameras(self) -> list[str]:
        """Send home every camera held for at least `return_home_after_s`; their ids."""
        now = self._clock_s()
        due = [
            camera_id
            for camera_id, held in self._held.items()
            if now - held.since_s >= self.config.return_home_after_s
        ]
        for camera_id in due:
            await self._send_home(camera_id, SYSTEM_ACTOR, "return_home_after_s elapsed")
        return due

    async def release_incident(self, incident_id: str, by: str) -> list[str]:
        """Send home at once the cameras held for `incident_id` (e.g. the operator dismissed
        it); their ids. Audited with `by` as actor."""
        held = [cid for cid, h in self._held.items() if h.hold.incident_id == incident_id]
        for camera_id in held:
            await self._send_home(camera_id, by, "incident released")
        return held

    async def _send_home(self, camera_id: str, actor: str, reason: str) -> None:
        """Release the hold, send the camera home, audit `camera.home` (with any error)."""
        held = self._held.pop(camera_id)
        details: dict[str, Any] = {"incident_id": held.hold.incident_id, "reason": reason}
        try:
            await self._mover.home(self.cameras[camera_id])
        except CameraError as error:
            details["error"] = str(error)
        self._emit("camera.home", actor, f"camera:{camera_id}", details)

    async def run_return_home(self, period_s: float = 1.0) -> None:
        """Forever: every `period_s`, send due cameras home (run it as a task; cancel to stop)."""
        while True:
            await self.return_due_cameras()
            await asyncio.sleep(period_s)


class OnvifMover:
    """Moves cameras over ONVIF, keeping one connected client per camera."""

    def __init__(
        self, credentials_for: Callable[[CameraConfig], CameraCredentials] | None = None
    ) -> None:
        self._credentials_for = credentials_for or (lambda camera: camera.credentials())
        self._clients: dict[str, OnvifPtzClient] = {}

    async def client(self, camera: CameraConfig) -> OnvifPtzClient:
        """The connected client of `camera` (connecting on first use)."""
        client = self._clients.get(camera.id)
        if client is None:
            client = OnvifPtzClient.for_camera(camera, self._credentials_for(camera))
            try:
                await client.connect()
            except BaseException:
                await client.close()
                raise
            self._clients[camera.id] = client
        return client

    async def move(
        self, camera: CameraConfig, position: PtzPosition, timeout_s: float
    ) -> MoveResult:
        """Move and confirm by GetStatus (see `OnvifPtzClient.move_and_confirm`)."""
        client = await self.client(camera)
        return await client.move_and_confirm(
            position, confirm_timeout_s=timeout_s, fallback_preset=None
        )

    async def home(self, camera: CameraConfig) -> None:
        """GotoHomePosition (or the home preset)."""
        client = await self.client(camera)
        await client.goto_home(camera.home_preset)

    async def close(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
