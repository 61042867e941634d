"""Home Assistant MQTT discovery: one `event` entity for the city, and its events.

HA reads the retained discovery config on `<discovery_prefix>/event/<node_id>/incident/config`
and then shows every message on the state topic as an event whose `event_type` is one of
`event_types` (ouie's alerting classes, and the video event kinds when `video_events` is on);
the other keys become the event's attributes (a video event adds `video`: camera, zone, people).
"""

from __future__ import annotations

from typing import Any

from ouie.core.classes import ALERTING_CLASSES, VIDEO_EVENT_KINDS
from ouie.notify.alert import Alert
from ouie.notify.config import HomeAssistantOutput
from ouie.transport.topics import PREFIX

STATE_TOPIC = f"{PREFIX}/ha/incident"


def discovery_topic(settings: HomeAssistantOutput) -> str:
    """Where the retained config goes."""
    return f"{settings.discovery_prefix}/event/{settings.node_id}/incident/config"


def discovery_config(settings: HomeAssistantOutput, city: str) -> dict[str, Any]:
    """The event entity's discovery payload."""
    return {
        "name": "Acoustic incident",
        "unique_id": f"{settings.node_id}_{city}_incident",
        "state_topic": STATE_TOPIC,
        "event_types": sorted(
            [c.value for c in ALERTING_CLASSES]
            + ([k.value for k in VIDEO_EVENT_KINDS] if settings.video_events else [])
        ),
        "device": {
            "identifiers": [f"{settings.node_id}_{city}"],
            "name": f"ouie {city}",
            "manufacturer": "ouie",
        },
        "icon": "mdi:ear-hearing",
    }


def ha_event(alert: Alert) -> dict[str, Any]:
    """One event on the state topic: event_type and the console's fields as attributes."""
    record = alert.incident
    return {
        "event_type": record.class_,
        "incident_id": record.id,
        "phase": alert.phase.value,
        "onset_utc": alert.onset_utc,
        "latitude": record.lat,
        "longitude": record.lon,
        "uncertainty_m": record.uncertainty_m,
        "status": record.status,
        "sensors": len(record.sensors_used),
        "score": record.score,
    } | ({"video": alert.video} if alert.video is not None else {})
