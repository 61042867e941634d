"""The console's JSON API (mounted under `/api` of the console app).

Every route depends on `requires(permission)` (role check, and CSRF for state-changing methods);
logins and every view of an incident go to the audit chain.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from math import ceil
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select

from ouie.central.ports import DecisionListener
from ouie.console.auth import (
    ROLE_PERMISSIONS,
    LoginThrottle,
    Permission,
    SessionUser,
    check_csrf,
    csrf_token,
    requires,
    session_token,
    session_user,
    start_session,
    verify_password,
)
from ouie.console.config import ConsoleConfig
from ouie.console.feed import CLOSED, LiveFeed, sse_frame
from ouie.console.views import (
    AuditEntryView,
    AuditPage,
    CameraDesk,
    CameraView,
    CuePolicyView,
    CueView,
    DispositionView,
    ImageView,
    IncidentDetail,
    IncidentSummary,
    LookView,
    MapView,
    OutcomeView,
    Overview,
    ProfileView,
    SensorView,
    SessionInfo,
    VideoViews,
)
from ouie.core.audit import AuditEvent
from ouie.core.timebase import NS_PER_S
from ouie.fusion.profiles import ClassProfile
from ouie.store.models import AuditEntryRow, CueRow
from ouie.store.records import CueState, DismissReason, DispositionAction, FieldEvidence, Role
from ouie.store.repository import Store
from ouie.store.retention import RetentionPolicy
from ouie.store.sessions import ConsoleSessions

SESSION_ENDED = "session no longer valid"
"""The 401 detail for a cookie whose session ended (logout, password change, disable, expiry,
role change)."""
SESSION_RECHECK_S = 1.0
"""An open event stream re-checks its session at most this often, s (a store read)."""
HEARTBEAT_S = 15.0
"""An SSE comment is sent this often so that proxies keep the stream and dead clients show."""


log = logging.getLogger(__name__)


@dataclass
class ConsoleServices:
    """What the console runs on: the store, the live feed, the cue policy, the map, (when
    cameras are configured) the camera desk, (when known) the retention policy in force,
    which the transparency report states, and (when video is analysed) the video cameras'
    blurred views."""

    store: Store
    feed: LiveFeed
    cue_policy: CuePolicyView
    map_view: MapView
    cameras: CameraDesk | None = None
    retention: RetentionPolicy | None = None
    decision_listeners: list[DecisionListener] = field(default_factory=list)
    """Told of every disposition once it is stored (the notify outputs); they must not block."""
    video: VideoViews | None = None


def services_of(request: Request) -> ConsoleServices:
    """The services of the console app serving `request`."""
    services: ConsoleServices = request.app.state.services
    return services


class ChainCheck:
    """The audit chain's verification, shared by every audit page: `verify()` walks the whole
    chain (O(rows)), so it runs at most once per `every_s` and once at a time; requests in
    between get the last result and its time."""

    def __init__(self, store: Store, every_s: float) -> None:
        self.store, self.every_ns = store, round(every_s * NS_PER_S)
        self._lock = threading.Lock()
        self._last: tuple[int, list[str]] | None = None

    def result(self) -> tuple[int, list[str]]:
        """(when checked, UTC ns; the problems, empty when intact)."""
        with self._lock:
            now = self.store.clock()
            if self._last is None or now - self._last[0] >= self.every_ns:
                problems = [problem.message for problem in self.store.audit.verify()]
                self._last = (now, problems)
            return self._last


def sessions_of(request: Request) -> ConsoleSessions:
    """The server-side sessions of the console app serving `request`."""
    sessions: ConsoleSessions = request.app.state.sessions
    return sessions


def live_user(request: Request) -> SessionUser | None:
    """The cookie's user while its server-side session lives; otherwise None, and a cookie
    whose session has ended (logout, password change, disable, expiry) is cleared."""
    user, token = session_user(request), session_token(request)
    if user is None:
        return None
    if token is None or sessions_of(request).user_of(token) != user.name:
        request.session.clear()
        return None
    return user


def authorized(permission: Permission) -> Callable[[Request], SessionUser]:
    """`requires(permission)` on a live server-side session, and the user must still exist,
    be active and hold the same role in the store: disabling a user or changing their role
    ends their sessions at once."""
    check = requires(permission)

    def dependency(request: Request) -> SessionUser:
        if session_user(request) is not None and live_user(request) is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, SESSION_ENDED)
        user = check(request)
        row = services_of(request).store.get_user(user.name)
        if row is None or not row.active or row.role != user.role:
            request.session.clear()
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, SESSION_ENDED)
        return user

    return dependency


Services = Annotated[ConsoleServices, Depends(services_of)]
Viewer = Annotated[SessionUser, Depends(authorized(Permission.VIEW))]
Triager = Annotated[SessionUser, Depends(authorized(Permission.TRIAGE))]
CueApprover = Annotated[SessionUser, Depends(authorized(Permission.APPROVE_CUE))]
Auditor = Annotated[SessionUser, Depends(authorized(Permission.READ_AUDIT))]
ProfileSetter = Annotated[SessionUser, Depends(authorized(Permission.SET_PROFILES))]
ImageSaver = Annotated[SessionUser, Depends(authorized(Permission.SAVE_IMAGE))]

router = APIRouter()


class LoginForm(BaseModel):
    """Credentials sent to `POST /api/login`."""

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class ImageForm(BaseModel):
    """Save the camera's current view on a video incident: blurred (default), or unblurred by a
    supervisor with a reason."""

    blurred: bool = True
    reason: str = Field(default="", max_length=500)


class DispositionForm(BaseModel):
    """An operator's decision: confirm, escalate, or dismiss with a reason."""

    action: DispositionAction
    reason: DismissReason | None = None
    note: str = Field(default="", max_length=500)


class OutcomeForm(BaseModel):
    """What happened in the field, when the operator knows it (now or later)."""

    dispatched: bool | None = Field(description="A unit was sent; None: not known.")
    evidence: FieldEvidence = Field(description="found, nothing or unknown.")
    note: str = Field(default="", max_length=500)


class LookForm(BaseModel):
    """An operator's "look here": the place clicked on the map."""

    lat: float = Field(ge=-90, le=90, description="Latitude, degrees WGS84.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees WGS84.")


def session_info(request: Request) -> SessionInfo:
    """The visitor's session as the pages see it."""
    user = live_user(request)
    return SessionInfo(
        user=user.name if user else None,
        role=user.role.value if user else None,
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[user.role]) if user else [],
        csrf=csrf_token(request),
    )


@router.get("/session")
def get_session(request: Request) -> SessionInfo:
    """Who is logged in, and the CSRF token to send with every POST (also before login)."""
    return session_info(request)


@router.post("/login")
def login(form: LoginForm, request: Request, services: Services) -> SessionInfo:
    """Check the password (argon2), start a fresh session and audit the attempt.

    The throttle (`LoginThrottle`) admits the attempt first, atomically; a refused attempt is
    answered 429 without checking the password, and only the first refusal of a key within
    its window is audited (`auth.throttled`), so a flood of attempts cannot flood the chain."""
    check_csrf(request)
    client = request.client.host if request.client else "unknown"
    throttle: LoginThrottle = request.app.state.login_throttle
    admission = throttle.admit(client, form.name)
    if admission.wait_s > 0:
        if admission.first_refusal:
            services.store.audit(
                AuditEvent(
                    action="auth.throttled",
                    actor="anonymous",
                    subject=f"user:{form.name}",
                    details={"client": client, "limit": admission.refused_by},
                )
            )
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many login attempts; try again in {admission.wait_s:.0f} s",
            headers={"Retry-After": str(ceil(admission.wait_s))},
        )
    user = services.store.get_user(form.name)
    known = user is not None and user.active
    ok = verify_password(user.password_hash if known and user else None, form.password)
    services.store.audit(
        AuditEvent(
            action="auth.login" if ok else "auth.login_failed",
            actor=form.name if ok else "anonymous",
            subject=f"user:{form.name}",
            details={"client": client},
        )
    )
    if not ok or user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    throttle.succeeded(client, form.name)
    start_session(request, user.name, Role(user.role), sessions_of(request).open(user.name))
    return session_info(request)


@router.post("/logout")
def logout(request: Request, services: Services) -> SessionInfo:
    """End the session, server-side: a copy of the cookie is worth nothing after this
    (CSRF-checked so that another site cannot log a user out)."""
    check_csrf(request)
    user, token = live_user(request), session_token(request)
    if user is not None and token is not None:
        sessions_of(request).end(token)
        services.store.audit(
            AuditEvent(action="auth.logout", actor=user.name, subject=f"user:{user.name}")
        )
    request.session.clear()
    return session_info(request)


@router.get("/overview")
def overview(_user: Viewer, request: Request, services: Services) -> Overview:
    """The cue banner, the map and its tiles."""
    config: ConsoleConfig = request.app.state.config
    return Overview(
        cue=services.cue_policy,
        map=services.map_view,
        tile_url=config.tile_url,
        tile_attribution=config.tile_attribution,
        time_zone=config.time_zone,
        profiles_active=[p.summary for p in profile_views(services) if p.active_now],
    )


def profile_views(services: ConsoleServices) -> list[ProfileView]:
    """Every stored class profile, with whether it is in force now (the store's clock)."""
    now = services.store.clock()
    views = []
    for row in services.store.list_profiles():
        try:
            profile = ClassProfile.model_validate(row.spec)
        except ValidationError:
            views.append(ProfileView.of(row, "not valid: not applied", False))
            continue
        views.append(ProfileView.of(row, profile.summary(), profile.active_at(now)))
    return views


def validation_message(error: ValidationError) -> str:
    """A pydantic error as one line that names each field: 'rules.0.min_score: …; …'."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'profile'}: "
        f"{problem['msg'].removeprefix('Value error, ')}"
        for problem in error.errors()
    )


@router.get("/profiles")
def profiles(_user: Viewer, services: Services) -> list[ProfileView]:
    """The class profiles, in force now or not."""
    return profile_views(services)


@router.post("/profiles")
def set_profile(
    spec: dict[str, object], user: ProfileSetter, services: Services
) -> list[ProfileView]:
    """Create or replace a class profile (supervisors; audited `profile.set` with the whole
    profile). 422 names the field that is wrong, and nothing changes."""
    try:
        profile = ClassProfile.model_validate(spec)
    except ValidationError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, validation_message(error)
        ) from None
    services.store.set_profile(
        profile.name, profile.model_dump(mode="json", by_alias=True), user.name
    )
    return profile_views(services)


@router.delete("/profiles/{name}")
def delete_profile(name: str, user: ProfileSetter, services: Services) -> list[ProfileView]:
    """Remove a class profile (supervisors; audited `profile.delete`)."""
    try:
        services.store.delete_profile(name, user.name)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no profile {name!r}") from None
    return profile_views(services)


@router.get("/sensors")
def sensors(_user: Viewer, services: Services) -> list[SensorView]:
    """Every sensor, online or not."""
    return [SensorView.of(row) for row in services.store.list_sensors()]


@router.get("/cameras")
def cameras(_user: Viewer, services: Services) -> list[CameraView]:
    """Every camera with its current orientation (empty without cameras)."""
    return services.cameras.views() if services.cameras else []


@router.get("/cameras/{camera_id}/snapshot")
def camera_snapshot(camera_id: str, _user: Viewer, services: Services) -> Response:
    """The camera's current image, fetched from the camera (never stored)."""
    if services.cameras is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no cameras are configured")
    try:
        image, media_type = services.cameras.snapshot(camera_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}") from None
    except OSError as error:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, f"camera {camera_id} unreachable: {error}"
        ) from None
    return Response(image, media_type=media_type, headers={"Cache-Control": "no-store"})


@router.get("/video/{camera_id}/snapshot")
def video_snapshot(camera_id: str, _user: Viewer, services: Services) -> Response:
    """A video camera's current view with its people blurred (kept in memory, never stored)."""
    if services.video is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no video is analysed")
    try:
        image, media_type = services.video.snapshot(camera_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no video camera {camera_id!r}") from None
    except LookupError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return Response(image, media_type=media_type, headers={"Cache-Control": "no-store"})


@router.get("/incidents")
def incidents(
    _user: Viewer,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    open_only: bool = False,
) -> list[IncidentSummary]:
    """The newest incidents first."""
    rows = services.store.list_incidents(limit=limit, open_only=open_only)
    return [IncidentSummary.of(row) for row in rows]


def rejected_text(entry: object) -> str:
    """A report left out of a fix, for a person: 'sensor: reason' (fusion's form) or as is."""
    if isinstance(entry, dict):
        return f"{entry.get('sensor_id', '?')}: {entry.get('reason', 'left out')}"
    return str(entry)


def incident_detail(services: ConsoleServices, incident_id: str) -> IncidentDetail:
    """The incident page's content; 404 for an unknown incident."""
    row = services.store.get_incident(incident_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id!r}")
    summary = IncidentSummary.of(row).model_dump(by_alias=False)
    return IncidentDetail(
        **summary,
        sensors_rejected=[rejected_text(entry) for entry in row.sensors_rejected],
        report_ids=list(row.report_ids),
        cameras_heard=list(row.cameras_heard),
        cues=[CueView.of(cue) for cue in services.store.list_cues(incident_id)],
        dispositions=[DispositionView.of(d) for d in services.store.list_dispositions(incident_id)],
        outcome=OutcomeView.of(outcome)
        if (outcome := services.store.get_outcome(incident_id))
        else None,
        ellipse=row.ellipse,
        images=[ImageView.of(image) for image in services.store.list_incident_images(incident_id)],
    )


@router.get("/incidents/{incident_id}")
def incident(incident_id: str, user: Viewer, services: Services) -> IncidentDetail:
    """One incident; the view itself is audited (`incident.view`)."""
    detail = incident_detail(services, incident_id)
    services.store.audit(
        AuditEvent(action="incident.view", actor=user.name, subject=f"incident:{incident_id}")
    )
    return detail


@router.post("/incidents/{incident_id}/images")
def save_image(
    incident_id: str, form: ImageForm, user: ImageSaver, services: Services
) -> IncidentDetail:
    """Store the current view of the camera that saw a video incident with the incident, people
    blurred (a supervisor may save it unblurred, giving a reason); the store audits who, when
    and which camera (`incident.image_saved`, `incident.image_saved_unblurred`). 404 unknown
    incident, 409 not a video incident or no current view, 403 unblurred without the right."""
    if not form.blurred and not user.may(Permission.SAVE_UNBLURRED_IMAGE):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {user.role} may not save an unblurred image"
        )
    if not form.blurred and not form.reason.strip():
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "an unblurred image needs a reason"
        )
    row = services.store.get_incident(incident_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id!r}")
    if row.video is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "only a video event has a camera view")
    if services.video is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "no video is analysed")
    camera_id = str(row.video["camera_id"])
    try:
        image, media_type = services.video.snapshot(camera_id, blurred=form.blurred)
    except KeyError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"camera {camera_id} is not analysed"
        ) from None
    except LookupError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    services.store.add_incident_image(
        incident_id,
        camera_id,
        image,
        media_type,
        blurred=form.blurred,
        actor=user.name,
        reason=form.reason.strip(),
    )
    return incident_detail(services, incident_id)


@router.get("/incidents/{incident_id}/images/{image_id}")
def saved_image(incident_id: str, image_id: int, user: Viewer, services: Services) -> Response:
    """A saved image. An unblurred one only for a role that may save one, and each such view
    is audited (`incident.image_viewed_unblurred`)."""
    row = services.store.get_incident_image(incident_id, image_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no image {image_id} on {incident_id}")
    if not row.blurred:
        if not user.may(Permission.SAVE_UNBLURRED_IMAGE):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {user.role} may not see an unblurred image"
            )
        services.store.audit(
            AuditEvent(
                action="incident.image_viewed_unblurred",
                actor=user.name,
                subject=f"incident:{incident_id}",
                details={"image_id": image_id, "camera_id": row.camera_id},
            )
        )
    return Response(row.image, media_type=row.media_type, headers={"Cache-Control": "no-store"})


RELEASING_ACTIONS = frozenset({DispositionAction.CONFIRM, DispositionAction.DISMISS})
"""Decisions after which no camera needs to stay on the incident."""


@router.post("/incidents/{incident_id}/disposition")
def dispose(
    incident_id: str, form: DispositionForm, user: Triager, services: Services
) -> IncidentDetail:
    """Confirm, escalate, or dismiss with a reason (recorded and audited by the store). A
    confirmed or dismissed incident releases the cameras held for it (they go home at once); an
    escalated one keeps them on it for whoever takes it up."""
    try:
        services.store.add_disposition(
            incident_id, form.action, user.name, reason=form.reason, note=form.note
        )
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id!r}") from None
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    if services.cameras is not None and form.action in RELEASING_ACTIONS:
        services.cameras.release(incident_id, user.name)
    for listener in services.decision_listeners:
        try:
            listener(incident_id, form.action, form.reason)
        except Exception:
            log.exception("decision listener failed on %s", incident_id)
    detail = incident_detail(services, incident_id)
    services.feed.publish("incident", IncidentSummary(**detail.model_dump()).model_dump())
    return detail


@router.post("/incidents/{incident_id}/outcome")
def record_outcome(
    incident_id: str, form: OutcomeForm, user: Triager, services: Services
) -> IncidentDetail:
    """Record or correct what happened in the field (dispatched or not; evidence found,
    nothing found, unknown), whenever the operator learns it; audited `incident.outcome` by
    the store, with the previous values when it corrects them."""
    try:
        services.store.set_outcome(
            incident_id, form.dispatched, form.evidence, user.name, note=form.note
        )
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id!r}") from None
    return incident_detail(services, incident_id)


@router.post("/look")
def look_here(form: LookForm, user: CueApprover, services: Services) -> LookView:
    """ "Look here": the operator clicked the map; the best camera with a line of sight to the
    place is cued through the cue controller (the operator's request is its approval). The
    request is audited (`camera.look_requested`: who, where) before any camera moves; 409
    with the reason in cue mode `off`, 503 without cameras."""
    if services.cameras is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no cameras are connected")
    if services.cue_policy.mode == "off":
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "cue mode is off: no camera is moved, not even on request",
        )
    services.store.audit(
        AuditEvent(
            action="camera.look_requested",
            actor=user.name,
            subject=f"place:{form.lat:.6f},{form.lon:.6f}",
            details={"lat": form.lat, "lon": form.lon, "mode": services.cue_policy.mode},
        )
    )
    try:
        return services.cameras.look_here(form.lat, form.lon, user.name)
    except LookupError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None


def suggested_cue(services: ConsoleServices, incident_id: str, cue_id: int) -> CueRow:
    """The incident's cue `cue_id`, still waiting for a person; 404, 409 or 503 otherwise."""
    cue = next((c for c in services.store.list_cues(incident_id) if c.id == cue_id), None)
    if cue is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cue {cue_id} on {incident_id}")
    if cue.state != CueState.SUGGESTED:
        raise HTTPException(status.HTTP_409_CONFLICT, f"cue {cue_id} is already {cue.state}")
    if services.cameras is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no cameras are connected")
    return cue


@router.post("/incidents/{incident_id}/cues/{cue_id}/approve")
def approve_cue(
    incident_id: str, cue_id: int, user: CueApprover, services: Services
) -> IncidentDetail:
    """Approve a suggested cue: the camera desk moves the camera and audits the approval
    with the operator's name."""
    cue = suggested_cue(services, incident_id, cue_id)
    assert services.cameras is not None
    services.store.update_cue(cue_id, CueState.APPROVED)
    moved = services.cameras.execute(cue, user.name)
    services.store.update_cue(
        cue_id,
        CueState.EXECUTED if moved else CueState.FAILED,
        executed_at_ns=services.store.clock() if moved else None,
    )
    return incident_detail(services, incident_id)


@router.post("/incidents/{incident_id}/cues/{cue_id}/decline")
def decline_cue(
    incident_id: str, cue_id: int, user: CueApprover, services: Services
) -> IncidentDetail:
    """Decline a suggested cue: no camera moves; the camera desk audits who declined."""
    cue = suggested_cue(services, incident_id, cue_id)
    assert services.cameras is not None
    declined = services.cameras.decline(cue, user.name)
    services.store.update_cue(cue_id, CueState.REFUSED if declined else CueState.FAILED)
    return incident_detail(services, incident_id)


@router.get("/audit")
def audit(
    _user: Auditor,
    request: Request,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    action: Annotated[str, Query(max_length=64)] = "",
) -> AuditPage:
    """The newest `limit` entries (whose action starts with `action`), and the chain check."""
    query = select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(limit)
    if action:
        query = query.where(AuditEntryRow.action.startswith(action, autoescape=True))
    with services.store.session() as session:
        rows = list(session.scalars(query))
        total = int(session.scalar(select(func.count()).select_from(AuditEntryRow)) or 0)
    checked_at_ns, problems = request.app.state.chain_check.result()
    return AuditPage(
        total=total,
        chain_ok=not problems,
        problems=problems[:20],
        chain_checked_at_ns=checked_at_ns,
        entries=[AuditEntryView.of(row) for row in rows],
    )


async def event_stream(
    feed: LiveFeed, request: Request, still_live: Callable[[], bool]
) -> AsyncIterator[str]:
    """The SSE frames of `feed` for one browser. `still_live()` (a store read, run off the
    event loop) is asked before an event or heartbeat is sent, at most once per
    `SESSION_RECHECK_S`: when the session has ended (logout, password change, disable), the
    stream ends, so an open stream on a stolen cookie goes dark with the session."""
    checked_s = time.monotonic()
    async with feed.subscribe() as queue:
        yield ": connected\n\n"
        while not await request.is_disconnected():
            try:
                kind, data = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                kind, data = "", None
            if kind == CLOSED:
                return
            if time.monotonic() - checked_s >= SESSION_RECHECK_S:
                if not await asyncio.to_thread(still_live):
                    return
                checked_s = time.monotonic()
            yield sse_frame(kind, data) if kind else ": heartbeat\n\n"


@router.get("/events")
def events(_user: Viewer, request: Request, services: Services) -> StreamingResponse:
    """The live feed (Server-Sent Events): `incident`, `sensor`, `camera` and `resync` events,
    while the session lives."""
    token, sessions = session_token(request), sessions_of(request)
    return StreamingResponse(
        event_stream(
            services.feed,
            request,
            lambda: token is not None and sessions.user_of(token) is not None,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
