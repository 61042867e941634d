"""What association has shown: per incident id, the last revision emitted under it.

Association emits under one id what several stages decide: a candidate's own incident, the
burst named after it (`ouie.fusion.bursts`), the context episode named after it
(`ouie.fusion.episodes`). When an incident moves between them (an episode's first firework
that later members turn into a gunshot), the id it leaves may already be shown at a higher
revision than the one the next stage would give it, and a store keeps the highest revision:
the move would be lost, and the reports shown twice. So every emission goes through one
`ShownIncidents`: an id is never emitted again at a lower or equal revision, and an id once
shown stays on its own (it never vanishes into a burst named after another).
"""

from __future__ import annotations

from ouie.core.incident import Incident


class ShownIncidents:
    """Per incident id emitted, (last revision, latest onset ns)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._last

    def stamped(self, incident: Incident, incident_id: str | None = None) -> Incident:
        """`incident` under `incident_id` (its own by default), at revision
        max(its revision, last emitted under that id + 1), remembered as shown."""
        incident_id = incident.incident_id if incident_id is None else incident_id
        last, onset_ns = self._last.get(incident_id, (0, incident.onset_ns))
        revision = max(incident.revision, last + 1)
        self._last[incident_id] = (revision, max(onset_ns, incident.onset_ns))
        if incident_id == incident.incident_id and revision == incident.revision:
            return incident
        return incident.model_copy(update={"incident_id": incident_id, "revision": revision})

    def expire(self, before_ns: int) -> None:
        """Forget ids whose latest onset is before `before_ns` (no stage revises them any more)."""
        self._last = {k: v for k, v in self._last.items() if v[1] >= before_ns}
