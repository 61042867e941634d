"""Milestone XProtect Analytics Event XML for one `Alert` (POSTed to the event server's
analytics events port, 9090 by default; no SDK).

XProtect matches `<Message>` against the Analytics Events defined in its Management Client and
the `<Source><Name>` against a device (its IP address or name): each camera in range is a
source, by its `milestone` reference in the cameras file (`vms_refs.milestone`), nearest
first; without one, the event has no source and XProtect files it under the server.
"""

from __future__ import annotations

import uuid

from lxml import etree
from lxml.builder import ElementMaker

from ouie.notify.alert import Alert
from ouie.notify.config import MilestoneOutput

MILESTONE_NS = "urn:milestone-systems"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CONTENT_TYPE = "application/xml"
VMS = "milestone"
E = ElementMaker(namespace=MILESTONE_NS, nsmap={None: MILESTONE_NS, "i": XSI})


def event_guid(alert: Alert) -> str:
    """The event's ID: a UUID derived from the message id (the same on every retry)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ouie:{alert.message_id}"))


def milestone_event(alert: Alert, settings: MilestoneOutput) -> bytes:
    """The AnalyticsEvent document (UTF-8 XML)."""
    sources = [c.vms_refs[VMS] for c in alert.cameras if VMS in c.vms_refs]
    header = [
        E.ID(event_guid(alert)),
        E.Timestamp(alert.onset_utc),
        E.Type(alert.incident.class_),
        E.Message(settings.message),
        E.CustomTag(f"ouie-{alert.incident.id}"),
    ]
    if sources:
        header.append(E.Source(E.Name(sources[0])))
    body = [E.EventHeader(*header), E.Description(alert.description())]
    record = alert.incident
    if record.lat is not None and record.lon is not None:
        body.append(E.Location(f"{record.lat:.5f}, {record.lon:.5f}"))
    body.append(E.Vendor(E.Name("ouie")))
    return etree.tostring(
        E.AnalyticsEvent(*body), xml_declaration=True, encoding="utf-8", pretty_print=True
    )
