"""CAP 1.2 (OASIS Common Alerting Protocol, ITU-T X.1303) for one `Alert`.

The message type follows the operator: `Alert` with certainty `Possible` when fusion raises
an incident; `Update` (certainty still `Possible`) when late reports revise it; `Update` with
`Observed` once an operator confirms or escalates it; `Cancel` (`AllClear`, `Unlikely`) when
an operator dismisses it. Every message after the first lists the earlier ones in
`<references>` ("sender,identifier,sent" each) and names the incident in `<incidents>`. The
area is a `<circle>` "lat,lon radius_km" of the 95 % radius when the incident is located; a
2-sensor incident (hyperbola) gets a description only. Scope is `Restricted`: a control-room
alert, not a public warning.

A camera's video event (sent only where the output's `video_events` is on) has its own <event>,
<category> and <severity> (`EVENT_NAMES`), the same `ouie:class` <eventCode> (intrusion,
wrong_way, density), the parameters `ouie:camera`, `ouie:zone`, `ouie:people` (crossings for
wrong_way), `ouie:ongoing` and, for density, `ouie:peak_people_per_m2`; its area is described
as the camera's zone (it has no position of its own), never an image or anything about who.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree
from lxml.builder import ElementMaker

from ouie.core.classes import EventClass, VideoEventKind
from ouie.core.timebase import NS_PER_S
from ouie.notify.alert import Alert, AlertPhase
from ouie.notify.config import CapOutput

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CONTENT_TYPE = "application/cap+xml"
E = ElementMaker(namespace=CAP_NS, nsmap={None: CAP_NS})

EVENT_NAMES = {
    EventClass.GUNSHOT: ("Gunshot", "Security", "Severe"),
    EventClass.EXPLOSION: ("Explosion", "Safety", "Severe"),
    EventClass.SCREAM: ("Scream", "Security", "Moderate"),
    EventClass.GLASS_BREAK: ("Glass breaking", "Security", "Moderate"),
    VideoEventKind.INTRUSION: ("Intrusion into a forbidden zone", "Security", "Moderate"),
    VideoEventKind.WRONG_WAY: ("Movement against the direction of traffic", "Safety", "Minor"),
    VideoEventKind.DENSITY: ("Excessive density of people", "Safety", "Moderate"),
}
"""CAP <event>, <category> and <severity> per alerting class and video event kind."""


def cap_time(t_ns: int) -> str:
    """UTC ns as CAP's dateTime: whole seconds with an explicit '+00:00' (no 'Z', no fraction,
    as the CAP 1.2 schema's pattern requires)."""
    moment = datetime.fromtimestamp(t_ns // NS_PER_S, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def msg_type(phase: AlertPhase) -> str:
    """CAP <msgType> for a phase."""
    if phase is AlertPhase.RAISED:
        return "Alert"
    return "Cancel" if phase is AlertPhase.DISMISSED else "Update"


def certainty(phase: AlertPhase) -> str:
    """Possible until a person confirms (Observed) or dismisses (Unlikely) the incident."""
    if phase.decided:
        return "Observed"
    return "Unlikely" if phase is AlertPhase.DISMISSED else "Possible"


def circle(alert: Alert) -> str | None:
    """CAP <circle>: 'lat,lon radius_km' (WGS84 degrees, km) from the 95 % radius; None when
    the incident has no position."""
    record = alert.incident
    if record.lat is None or record.lon is None:
        return None
    radius_km = (record.uncertainty_m or 0.0) / 1000.0
    return f"{record.lat:.5f},{record.lon:.5f} {radius_km:.3f}"


def cap_alert(alert: Alert, settings: CapOutput) -> bytes:
    """The CAP 1.2 XML document for `alert` (UTF-8, with an XML declaration)."""
    record = alert.incident
    event, category, severity = EVENT_NAMES.get(
        alert.event_class, (alert.event_class.value, "Other", "Unknown")
    )
    phase = alert.phase
    head: list[etree._Element] = [
        E.identifier(alert.message_id),
        E.sender(settings.sender),
        E.sent(cap_time(alert.sent_ns)),
        E.status(settings.status.value),
        E.msgType(msg_type(phase)),
        E.scope("Restricted"),
        E.restriction(settings.restriction),
    ]
    if phase is AlertPhase.DISMISSED:
        head.append(E.note(f"Dismissed by an operator: {alert.dismiss_reason or 'other'}."))
    if alert.previous:
        head.append(
            E.references(
                " ".join(
                    f"{settings.sender},{sent.message_id},{cap_time(sent.sent_ns)}"
                    for sent in alert.previous
                )
            )
        )
    head.append(E.incidents(f"ouie-{record.id}"))
    info: list[etree._Element] = [
        E.language(settings.language),
        E.category(category),
        E.event(event),
        E.responseType("AllClear" if phase is AlertPhase.DISMISSED else "Monitor"),
        E.urgency("Past" if phase is AlertPhase.DISMISSED else "Immediate"),
        E.severity(severity),
        E.certainty(certainty(phase)),
        E.eventCode(E.valueName("ouie:class"), E.value(record.class_)),
        E.onset(cap_time(record.onset_ns)),
        E.senderName(settings.sender_name),
        E.headline(alert.caption()[:160]),
        E.description(alert.description()),
    ]
    if settings.console_url:
        info.append(E.web(f"{settings.console_url.rstrip('/')}/#/incidents/{record.id}"))
    parameters = {
        "ouie:incident_id": record.id,
        "ouie:revision": str(record.revision),
        "ouie:status": record.status,
        "ouie:sensors": str(len(record.sensors_used)),
    }
    if record.score is not None:
        parameters["ouie:score"] = f"{record.score:.3f}"
    if record.uncertainty_m is not None:
        parameters["ouie:uncertainty_m"] = f"{record.uncertainty_m:.1f}"
    parameters.update(video_parameters(alert))
    info += [E.parameter(E.valueName(k), E.value(v)) for k, v in parameters.items()]
    area = [E.areaDesc(_area_description(alert))]
    shape = circle(alert)
    if shape is not None:
        area.append(E.circle(shape))
    info.append(E.area(*area))
    document = E.alert(*head, E.info(*info))
    return etree.tostring(document, xml_declaration=True, encoding="utf-8", pretty_print=True)


def video_parameters(alert: Alert) -> dict[str, str]:
    """The CAP parameters of a video event (none for a sound): camera, zone, people (or
    crossings), whether it goes on, and the peak density when there is one."""
    video = alert.video
    if video is None:
        return {}
    parameters = {
        "ouie:camera": str(video["camera_id"]),
        "ouie:zone": str(video["zone"]),
        "ouie:people": str(video["people"]),
        "ouie:ongoing": "true" if video.get("ongoing") else "false",
    }
    if video.get("peak_people_per_m2") is not None:
        parameters["ouie:peak_people_per_m2"] = f"{float(video['peak_people_per_m2']):.3f}"
    return parameters


def _area_description(alert: Alert) -> str:
    record = alert.incident
    if alert.video is not None:
        return f"View of camera {alert.video['camera_id']}, zone {alert.video['zone']}"
    if record.lat is None or record.lon is None:
        return f"Not located ({record.status}): heard by {', '.join(record.sensors_used)}"
    radius = f"{record.uncertainty_m:.0f} m" if record.uncertainty_m is not None else "unknown"
    return f"Around {record.lat:.5f}, {record.lon:.5f} (95 % radius {radius})"
