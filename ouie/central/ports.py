"""The central service's ports: what it needs from fusion and cueing, what it tells its
listeners, and what it records of a cue. `ouie.app` plugs real parts in (the fusion
`Associator`, the camera desk); tests plug fakes; the console depends on these, not on the
service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, Field

from ouie.core.camera_sound import CameraSound
from ouie.core.incident import Incident
from ouie.core.report import EventReport
from ouie.store.records import CueState, DismissReason, DispositionAction, IncidentRecord
from ouie.store.repository import Store
from ouie.store.retention import RetentionPolicy


class IncidentSource(Protocol):
    """Streaming association + localization (`ouie.fusion.association.Associator` fits)."""

    def add(self, report: EventReport, now_ns: int) -> list[Incident]:
        """Take a report; incidents emitted or updated."""
        ...

    def poll(self, now_ns: int) -> list[Incident]:
        """Incidents whose waiting window closed by `now_ns`."""
        ...

    def corroborate(self, sound: CameraSound, now_ns: int) -> list[Incident]:
        """Take a camera's own audio detection: incidents it confirmed (never a new one)."""
        ...


class CueRecord(BaseModel):
    """What the cameras concern did for one camera about one incident."""

    camera_id: str = Field(description="The camera.")
    state: CueState = Field(description="suggested, executed, refused or failed.")
    pan_deg: float | None = Field(default=None, description="Commanded pan, degrees.")
    tilt_deg: float | None = Field(default=None, description="Commanded tilt, degrees.")
    zoom: float | None = Field(default=None, description="Commanded ONVIF zoom, 0–1.")
    commanded_at_ns: int | None = Field(
        default=None, description="When the move command was acknowledged, UTC ns (executed)."
    )
    details: dict[str, Any] = Field(default_factory=dict, description="Reasons, mask decision.")


class Cuer(Protocol):
    """Camera cueing for a located incident (the cameras concern audits its own moves)."""

    def cue(self, incident: IncidentRecord) -> list[CueRecord]:
        """Plan and, per the cue mode, propose or execute camera moves."""
        ...


ServiceListener = Callable[[str, dict[str, Any]], None]
"""Called with ('incident', record JSON) or ('sensor', {id, online, status}) on every change."""

DecisionListener = Callable[[str, DispositionAction, DismissReason | None], None]
"""Called with (incident id, action, dismiss reason) once an operator's decision is stored."""


class ObservedService(Protocol):
    """What a front end (the console) needs of a running central service: its store, the
    retention in force, and to be told of every incident and sensor change."""

    @property
    def store(self) -> Store:
        """The service's store."""
        ...

    @property
    def retention(self) -> RetentionPolicy | None:
        """The retention policy in force (None: nothing is purged)."""
        ...

    def add_listener(self, listener: ServiceListener) -> None:
        """Be told of every incident and sensor change."""
        ...
