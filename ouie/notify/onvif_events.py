"""ONVIF events for one `Alert`: the `tns1:RuleEngine/AudioDetector/Class` notification (XML,
for PullPoint subscribers) and the same event as ONVIF's JSON event payload (for MQTT).

Data items: `Class` with ONVIF's audio class names (GunShot, Scream, GlassBreaking); explosion
and fireworks, which ONVIF does not name, under ouie's vendor prefix (`ouie:Explosion`,
`ouie:Fireworks`); `Score` (0–1) and `Loudness` (the loudest report's peak, dBFS, when known).
Key: `IncidentId` (the same incident revised or decided sends the same key). Position and
uncertainty are a vendor `ouie:Location` element item (lat, lon in degrees WGS84, uncertainty
in m, the fusion status), absent when the incident has no position.

A camera's video event (sent only where the output's `video_events` is on) goes on ONVIF's
analytics rule topics (`VIDEO_TOPICS`): intrusion on `tns1:RuleEngine/FieldDetector/ObjectsInside`
(Data `IsInside`: true while it goes on, `Count`), wrong way on
`tns1:RuleEngine/LineDetector/Crossed` (Data `Count`: crossings against the allowed way) and
density on `tns1:RuleEngine/CountAggregation/OccupancyCounter` (Profile M's occupancy of a
region; Data `Count`, and `ouie:PeoplePerM2`, the peak). Source:
`VideoSourceConfigurationToken` the camera id, `Rule` the zone or line id; Key: `IncidentId`.
ONVIF's `ObjectId` is never sent: ouie follows no person.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from lxml.builder import ElementMaker

from ouie.core.classes import EventClass, VideoEventKind
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

VIDEO_TOPICS: dict[VideoEventKind, str] = {
    VideoEventKind.INTRUSION: "RuleEngine/FieldDetector/ObjectsInside",
    VideoEventKind.WRONG_WAY: "RuleEngine/LineDetector/Crossed",
    VideoEventKind.DENSITY: "RuleEngine/CountAggregation/OccupancyCounter",
}
"""The ONVIF analytics topic (under tns1:) of each video event kind."""

NSMAP = {"wsnt": WSNT, "tt": TT, "tns1": TNS1, "ouie": OUIE_NS}
E_TT = ElementMaker(namespace=TT, nsmap=NSMAP)
E_OUIE = ElementMaker(namespace=OUIE_NS, nsmap=NSMAP)


def onvif_time(alert: Alert) -> str:
    """The event's UtcTime: the sound's onset at the source (ISO 8601 UTC, µs, 'Z')."""
    return alert.onset_utc


def onvif_topic(alert: Alert) -> str:
    """The ONVIF topic (without tns1:) of `alert`: the audio class topic for a sound,
    `VIDEO_TOPICS` for a video event."""
    kind = alert.event_class
    return VIDEO_TOPICS[kind] if isinstance(kind, VideoEventKind) else AUDIO_CLASS_TOPIC


def source_items(alert: Alert) -> dict[str, str]:
    """The Source simple items: ouie's audio source and rule for a sound; the camera (its
    video source) and the zone or line (the rule) for a video event."""
    video = alert.video
    if video is None:
        return dict(SOURCE_ITEMS)
    return {"VideoSourceConfigurationToken": str(video["camera_id"]), "Rule": str(video["zone"])}


def video_data(alert: Alert) -> dict[str, Any]:
    """A video event's Data items, typed (numbers and booleans stay so in JSON)."""
    video = alert.video
    assert video is not None
    data: dict[str, Any] = {}
    if alert.event_class is VideoEventKind.INTRUSION:
        data["IsInside"] = bool(video.get("ongoing"))
    data["Count"] = int(video["people"])
    if video.get("peak_people_per_m2") is not None:
        data["ouie:PeoplePerM2"] = round(float(video["peak_people_per_m2"]), 3)
    return data


def _xsd(value: Any) -> str:
    """A SimpleItem value: xs:boolean as 'true'/'false', numbers as written."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def data_items(alert: Alert) -> dict[str, str]:
    """The Data simple items, as strings (ONVIF SimpleItem values)."""
    if alert.video is not None:
        return {name: _xsd(value) for name, value in video_data(alert).items()}
    assert isinstance(alert.event_class, EventClass)
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
        onvif_topic(alert),
        onvif_time(alert),
        source_items(alert),
        data,
        {"IncidentId": alert.incident.id},
        namespaces={"ouie": OUIE_NS},
    )


def onvif_json_topic(topic: str = AUDIO_CLASS_TOPIC) -> str:
    """Where the JSON form goes on the bus: '<prefix>/onvif-ej/<ONVIF topic without tns1:>'."""
    return f"{PREFIX}/onvif-ej/{topic}"


def onvif_json(alert: Alert) -> dict[str, Any]:
    """ONVIF's JSON event payload: {UtcTime, Source, Key, Data}; the location, when known, is
    the vendor item `ouie:Location` of Data (numbers stay numbers). A video event's Data is
    `video_data`; it goes on its own topic (`onvif_json_topic(onvif_topic(alert))`)."""
    if alert.video is not None:
        return {
            "UtcTime": onvif_time(alert),
            "Source": source_items(alert),
            "Key": {"IncidentId": alert.incident.id},
            "Data": video_data(alert),
        }
    assert isinstance(alert.event_class, EventClass)
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


def _described(*pairs: tuple[str, str]) -> list[etree._Element]:
    return [E_TT.SimpleItemDescription(Name=n, Type=t) for n, t in pairs]


def video_message_description(kind: VideoEventKind) -> etree._Element:
    """The tt:MessageDescription of a video event's topic (GetEventProperties)."""
    data = [("IsInside", "xs:boolean")] if kind is VideoEventKind.INTRUSION else []
    data.append(("Count", "xs:int"))
    if kind is VideoEventKind.DENSITY:
        data.append(("ouie:PeoplePerM2", "xs:float"))
    return E_TT.MessageDescription(
        E_TT.Source(
            *_described(
                ("VideoSourceConfigurationToken", "tt:ReferenceToken"), ("Rule", "xs:string")
            )
        ),
        E_TT.Key(*_described(("IncidentId", "xs:string"))),
        E_TT.Data(*_described(*data)),
        IsProperty="false",
    )


def event_topics(video_events: bool) -> dict[str, etree._Element]:
    """The topics ouie announces, each with its description: the audio class topic, and the
    video events' when they are sent."""
    topics = {AUDIO_CLASS_TOPIC: message_description()}
    if video_events:
        topics |= {VIDEO_TOPICS[kind]: video_message_description(kind) for kind in VideoEventKind}
    return topics


def message_description() -> etree._Element:
    """The tt:MessageDescription of the audio class topic (what GetEventProperties announces)."""
    described = _described

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
