"""From the bus to the console's live feed.

The central service announces every new or revised incident on `ouie/v1/incidents` and the
sensors publish their status on `ouie/v1/sensors/{id}/status` (DESIGN.md, "MQTT topics"). The
console listens to both and pushes the same views its API serves to every open browser, so it
needs no hook inside the central service and works the same over MQTT or the in-process bus.
"""

from __future__ import annotations

import json
import logging

from ouie.console.feed import LiveFeed
from ouie.console.views import IncidentSummary, SensorView
from ouie.store.repository import Store
from ouie.transport.bus import Bus
from ouie.transport.topics import ALL_STATUS_FILTER, INCIDENTS_TOPIC, OFFLINE, sensor_of

log = logging.getLogger(__name__)


def incident_id_of(payload: bytes) -> str | None:
    """The incident id in an announcement: JSON with `incident_id` (fusion's form) or `id`."""
    try:
        message = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    found = message.get("incident_id", message.get("id"))
    return found if isinstance(found, str) and found else None


class FeedBridge:
    """Subscribes to incident announcements and sensor status, publishes console views."""

    def __init__(self, bus: Bus, store: Store, feed: LiveFeed) -> None:
        self.store = store
        self.feed = feed
        self.ignored = 0
        """Messages that could not be turned into a view (logged with the reason)."""
        bus.subscribe(INCIDENTS_TOPIC, self.on_incident)
        bus.subscribe(ALL_STATUS_FILTER, self.on_status)

    def on_incident(self, topic: str, payload: bytes) -> None:
        """Push the stored incident (with its disposition) that the message announces."""
        incident_id = incident_id_of(payload)
        row = self.store.get_incident(incident_id) if incident_id else None
        if row is None:
            self.ignored += 1
            log.warning("%s: no stored incident for announcement %.120r", topic, payload)
            return
        self.feed.publish("incident", IncidentSummary.of(row).model_dump())

    def on_status(self, topic: str, payload: bytes) -> None:
        """Push the sensor with the status it just announced ('offline' or a heartbeat)."""
        sensor_id = sensor_of(topic)
        row = next((s for s in self.store.list_sensors() if s.id == sensor_id), None)
        if row is None:
            self.ignored += 1
            log.warning("%s: status from an unknown sensor", topic)
            return
        status = payload.decode("utf-8", errors="replace")[:32]
        view = SensorView.of(row).model_copy(update={"online": status != OFFLINE, "status": status})
        self.feed.publish("sensor", view.model_dump())
