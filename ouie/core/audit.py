"""Structured audit events: what every concern emits for the accountability trail.

Each concern takes an `AuditSink` (any callable accepting an `AuditEvent`); the store appends
them to the hash-chained audit log (docs/design.md principle 5). Actions are dotted names such as
`camera.cue`, `camera.move`, `camera.mask_refused`, `camera.home`, `incident.view`,
`incident.disposition`, `auth.login`, `config.change`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ouie.core.timebase import now_ns


class AuditEvent(BaseModel):
    """One accountable action: who did what to which subject, when, with which details."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$", description="Dotted action name.")
    actor: str = Field(min_length=1, description="User name, or 'system' for automatic acts.")
    subject: str = Field(description="What was acted on, e.g. 'camera:c1', 'incident:42'.")
    details: dict[str, Any] = Field(default_factory=dict, description="JSON-able details.")
    at_ns: int = Field(default_factory=now_ns, description="When, UTC ns.")


AuditSink = Callable[[AuditEvent], None]
"""Where audit events go: the store's hash chain in the service, a list in tests."""
