"""From the central service to open browsers.

The central service tells its listeners of every incident created or revised and every sensor
that goes on- or offline (`CentralService.add_listener`, called with `(kind, payload)`).
`FeedRelay` is such a listener: it reads the current row from the store (so that the browser
also gets the operator's disposition, which the announcement does not carry) and publishes the
same view the API serves on the console's live feed.
"""

from __future__ import annotations

import logging
from typing import Any

from ouie.console.feed import LiveFeed
from ouie.console.views import IncidentSummary, SensorView
from ouie.store.repository import Store

log = logging.getLogger(__name__)


class FeedRelay:
    """A central-service listener that republishes changes as console views."""

    def __init__(self, store: Store, feed: LiveFeed) -> None:
        self.store = store
        self.feed = feed
        self.ignored = 0
        """Announcements that could not be turned into a view (each logged with the reason)."""

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "incident":
            self.relay_incident(payload)
        elif kind == "sensor":
            self.relay_sensor(payload)
        else:
            self._ignore(f"unknown kind {kind!r}")

    def relay_incident(self, payload: dict[str, Any]) -> None:
        """Publish the stored incident that `payload` (a record with `id`) announces."""
        incident_id = payload.get("id")
        row = self.store.get_incident(incident_id) if isinstance(incident_id, str) else None
        if row is None:
            self._ignore(f"no stored incident {incident_id!r}")
            return
        self.feed.publish("incident", IncidentSummary.of(row).model_dump())

    def relay_sensor(self, payload: dict[str, Any]) -> None:
        """Publish the sensor `payload` names, with the status it announces."""
        sensor_id = payload.get("id")
        row = next((s for s in self.store.list_sensors() if s.id == sensor_id), None)
        if row is None:
            self._ignore(f"no sensor {sensor_id!r}")
            return
        view = SensorView.of(row)
        if "online" in payload:
            status = str(payload.get("status", view.status))
            view = view.model_copy(update={"online": bool(payload["online"]), "status": status})
        self.feed.publish("sensor", view.model_dump())

    def _ignore(self, reason: str) -> None:
        self.ignored += 1
        log.warning("console relay: %s", reason)
