"""MQTT topic names of contract `ouie/v1` (docs/design.md, "MQTT topics")."""

from __future__ import annotations

PREFIX = "ouie/v1"
INCIDENTS_TOPIC = f"{PREFIX}/incidents"
ALL_SENSORS_FILTER = f"{PREFIX}/sensors/#"
ALL_REPORTS_FILTER = f"{PREFIX}/sensors/+/reports"
ALL_STATUS_FILTER = f"{PREFIX}/sensors/+/status"
REPORTS_QOS = 1
STATUS_QOS = 1
INCIDENTS_QOS = 1
ONLINE = "online"
OFFLINE = "offline"


def reports_topic(sensor_id: str) -> str:
    """Where sensor `sensor_id` publishes its reports (QoS 1)."""
    return f"{PREFIX}/sensors/{sensor_id}/reports"


def receipts_topic(sensor_id: str) -> str:
    """Where a clustered deployment confirms to sensor `sensor_id` that its reports are in the
    replicated reports stream: a JSON list of report ids (QoS 0; a lost receipt only makes the
    sensor publish again)."""
    return f"{PREFIX}/sensors/{sensor_id}/receipts"


def status_topic(sensor_id: str) -> str:
    """Sensor `sensor_id`'s retained status ('online' / 'offline', also its last will)."""
    return f"{PREFIX}/sensors/{sensor_id}/status"


def sensor_of(topic: str) -> str | None:
    """The sensor id in a `ouie/v1/sensors/{id}/...` topic, None for any other topic."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] + "/" + parts[1] == PREFIX and parts[2] == "sensors":
        return parts[3]
    return None
