"""ONVIF events for one `Alert`: the `tns1:RuleEngine/AudioDetector/Class` notification (XML,
for PullPoint subscribers) and the same event as ONVIF's JSON event payload (for MQTT).

Data items: `Class` with ONVIF's audio class names (GunShot, Scream, GlassBreaking); explosion
and fireworks, which ONVIF does not name, under ouie's vendor prefix (`ouie:Explosion`,
`ouie:Fireworks`); `Score` (0–1) and `Loudness` (the loudest report's peak, dBFS, when known).
Key: `IncidentId` (the same incident revised or decided sends the same key). Position and
uncertainty are a vendor `ouie:Location` element item (lat, lon in degrees WGS84, uncertainty
in m, the fusion status), absent when the incident has no position.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

from ouie.notify.alert import Alert
from ouie.transport.pullpoint import (
    AUDIO_CLASS_TOPIC,
    OUIE_NS,
    TNS1,
    WSNT,
    notification,
    onvif_class,
    simple_items,
)
from ouie.transport.soap import TT
from ouie.transport.topics import PREFIX

SOURCE_ITEMS = {"AudioSourceConfigurationToken": "ouie", "Rule": "ouie-incidents"}
"""Source of every ouie event: the sensor network as one audio source, its incident rule."""

NSMAP = {"wsnt": WSNT, "tt": TT, "tns1": TNS1, "ouie": OUIE_NS}
E_TT = ElementMaker(namespace=TT, nsmap=NSMAP)
E_OUIE = ElementMaker(namespace=OUIE_NS, nsmap=NSMAP)


def onvif_time(alert: Alert) -> str:
    """The event's UtcTime: the sound's onset at the source (ISO 8601 UTC, µs, 'Z')."""
    return alert.onset_utc


def data_items(alert: Alert) -> dict[str, str]:
    """The Data simple items, as strings (ONVIF SimpleItem values)."""
    items = {"Class": onvif_class(alert.event_class)}
    if alert.incident.score is not None:
        items["Score"] = f"{alert.incident.score:.3f}"
    if alert.loudness_dbfs is not None:
        items["Loudness"] = f"{alert.loudness_dbfs:.1f}"
    return items


def location(alert: Alert) -> dict[str, Any] | None:
    """The vendor location item: lat, lon (degrees), uncertainty_m (95 % radius), status."""
    record = alert.incident
    if record.lat is None or record.lon is None:
        return None
    return {
        "lat": round(record.lat, 6),
        "lon": round(record.lon, 6),
        "uncertainty_m": None if record.uncertainty_m is None else round(record.uncertainty_m, 1),
        "status": record.status,
    }


def notification_message(alert: Alert) -> etree._Element:
    """One wsnt:NotificationMessage (what PullMessages returns) for `alert`."""
    data = simple_items(data_items(alert))
    where = location(alert)
    if where is not None:
        attributes = {k: str(v) for k, v in where.items() if v is not None}
        data.append(E_TT.ElementItem(E_OUIE.Location(**attributes), Name="ouie:Location"))
    return notification(
        AUDIO_CLASS_TOPIC,
        onvif_time(alert),
        SOURCE_ITEMS,
        data,
        {"IncidentId": alert.incident.id},
        namespaces={"ouie": OUIE_NS},
    )


def onvif_json_topic(topic: str = AUDIO_CLASS_TOPIC) -> str:
    """Where the JSON form goes on the bus: '<prefix>/onvif-ej/<ONVIF topic without tns1:>'."""
    return f"{PREFIX}/onvif-ej/{topic}"


def onvif_json(alert: Alert) -> dict[str, Any]:
    """ONVIF's JSON event payload: {UtcTime, Source, Key, Data}; the location, when known, is
    the vendor item `ouie:Location` of Data (numbers stay numbers)."""
    data: dict[str, Any] = {"Class": onvif_class(alert.event_class)}
    if alert.incident.score is not None:
        data["Score"] = round(alert.incident.score, 3)
    if alert.loudness_dbfs is not None:
        data["Loudness"] = round(alert.loudness_dbfs, 1)
    where = location(alert)
    if where is not None:
        data["ouie:Location"] = where
    return {
        "UtcTime": onvif_time(alert),
        "Source": dict(SOURCE_ITEMS),
        "Key": {"IncidentId": alert.incident.id},
        "Data": data,
    }


def message_description() -> etree._Element:
    """The tt:MessageDescription of the topic (what GetEventProperties announces)."""

    def described(*pairs: tuple[str, str]) -> list[etree._Element]:
        return [E_TT.SimpleItemDescription(Name=n, Type=t) for n, t in pairs]

    return E_TT.MessageDescription(
        E_TT.Source(
            *described(
                ("AudioSourceConfigurationToken", "tt:ReferenceToken"), ("Rule", "xs:string")
            )
        ),
        E_TT.Key(*described(("IncidentId", "xs:string"))),
        E_TT.Data(
            *described(
                ("Class", "tt:AudioClassification"), ("Score", "xs:float"), ("Loudness", "xs:float")
            ),
            E_TT.ElementItemDescription(Name="ouie:Location", Type="ouie:Location"),
        ),
        IsProperty="false",
    )
