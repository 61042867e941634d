"""The ONVIF Event service's PullPoint side, for the ONVIF devices ouie serves: the central
(its incidents, `ouie.notify.onvif_service`) and the virtual camera (its own audio detections,
`ouie.sim.cameras.virtual`).

`PullPointBroker` keeps the subscriptions: each holds the `wsnt:NotificationMessage`s published
since it was created (at most `queue_per_subscription`, oldest dropped) until it is pulled, and
lives until its termination time unless renewed. Its SOAP side answers the event service
(GetServiceCapabilities, GetEventProperties, CreatePullPointSubscription) and the subscription
manager (PullMessages, which waits up to its Timeout, at most `MAX_PULL_WAIT_S`; Renew;
Unsubscribe; SetSynchronizationPoint). Authentication (WS-Security) is the caller's, before.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lxml import etree
from lxml.builder import ElementMaker

from ouie.core.classes import EventClass
from ouie.transport.soap import TT, SoapFault, local_name

TEV = "http://www.onvif.org/ver10/events/wsdl"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
WSA = "http://www.w3.org/2005/08/addressing"
WSTOP = "http://docs.oasis-open.org/wsn/t-1"
TNS1 = "http://www.onvif.org/ver10/topics"
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
AUDIO_CLASS_TOPIC = "RuleEngine/AudioDetector/Class"
"""ONVIF's audio classification topic under tns1: (data item `Class`, tt:AudioClassification)."""
DETECTED_SOUND_TOPIC = "AudioAnalytics/Audio/DetectedSound"
"""The audio analytics topic some cameras publish instead (same `Class` item)."""

OUIE_NS = "urn:ouie:onvif:1"
"""ouie's vendor namespace for the classes and items ONVIF does not define."""
ONVIF_CLASS_NAMES = {
    EventClass.GUNSHOT: "GunShot",
    EventClass.SCREAM: "Scream",
    EventClass.GLASS_BREAK: "GlassBreaking",
    EventClass.ALARM: "Alarm",
    EventClass.EXPLOSION: "ouie:Explosion",
    EventClass.FIREWORKS: "ouie:Fireworks",
    EventClass.SIREN: "ouie:Siren",
}
"""ouie class ↔ ONVIF `Class` value (tt:AudioClassification: GunShot, Scream, GlassBreaking,
TireScreech, Alarm; the classes ONVIF does not name under ouie's prefix)."""


def onvif_class(event_class: EventClass) -> str:
    """The ONVIF `Class` value of an ouie class."""
    return ONVIF_CLASS_NAMES[event_class]


def ouie_class(onvif_name: str) -> EventClass | None:
    """The ouie class of an ONVIF `Class` value, whatever its prefix ('GunShot',
    'tt:GunShot', 'ouie:Explosion'); None for a sound ouie has no class for (TireScreech)."""
    bare = onvif_name.rsplit(":", 1)[-1].casefold()
    return next(
        (c for c, name in ONVIF_CLASS_NAMES.items() if name.rsplit(":", 1)[-1].casefold() == bare),
        None,
    )


NSMAP = {"tev": TEV, "wsnt": WSNT, "wsa": WSA, "wstop": WSTOP, "tns1": TNS1, "tt": TT}
E_TEV = ElementMaker(namespace=TEV, nsmap=NSMAP)
E_WSNT = ElementMaker(namespace=WSNT, nsmap=NSMAP)
E_WSA = ElementMaker(namespace=WSA, nsmap=NSMAP)
E_TNS1 = ElementMaker(namespace=TNS1, nsmap=NSMAP)
E_WSTOP = ElementMaker(namespace=WSTOP, nsmap=NSMAP)
E_TT = ElementMaker(namespace=TT, nsmap=NSMAP)

DEFAULT_TERMINATION_S = 60.0
MAX_TERMINATION_S = 3600.0
MAX_PULL_WAIT_S = 30.0
"""A PullMessages waits at most this long for a message, s (clients ask for up to 60–90 s)."""
_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def duration_s(text: str) -> float:
    """An xsd:duration without years or months ('PT60S', 'PT1M', 'P0DT0H1M0S') in s:
    86400·D + 3600·H + 60·M + S. Raises SoapFault for anything else."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT"):
        raise SoapFault("Sender", "InvalidArgVal", f"not a duration: {text!r}")
    d, h, m, s = (float(match.group(k) or 0) for k in "dhms")
    return 86400 * d + 3600 * h + 60 * m + s


def termination_s(text: str | None, now: datetime) -> float:
    """Seconds from `now` until a requested termination: a duration, or an absolute
    xsd:dateTime; default 60 s, at most an hour."""
    if text is None or not text.strip():
        return DEFAULT_TERMINATION_S
    text = text.strip()
    if text.startswith("P"):
        seconds = duration_s(text)
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise SoapFault("Sender", "InvalidArgVal", f"not a time: {text!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    return max(1.0, min(seconds, MAX_TERMINATION_S))


def xsd_time(moment: datetime) -> str:
    """An aware datetime as xsd:dateTime UTC with 'Z'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def simple_items(values: dict[str, str]) -> list[etree._Element]:
    """tt:SimpleItem Name/Value elements, in order."""
    return [E_TT.SimpleItem(Name=name, Value=value) for name, value in values.items()]


def notification(
    topic: str,
    utc_time: str,
    source: dict[str, str],
    data: list[etree._Element],
    key: dict[str, str] | None = None,
    namespaces: dict[str, str] | None = None,
) -> etree._Element:
    """One wsnt:NotificationMessage on `tns1:{topic}` with a tt:Message (Source, Key, Data);
    `namespaces` adds prefixes its values use (a vendor's 'ouie:Explosion')."""
    nsmap = {**NSMAP, **(namespaces or {})}
    wsnt, tt = ElementMaker(namespace=WSNT, nsmap=nsmap), ElementMaker(namespace=TT, nsmap=nsmap)
    parts = [tt.Source(*simple_items(source))]
    if key:
        parts.append(tt.Key(*simple_items(key)))
    parts.append(tt.Data(*data))
    return wsnt.NotificationMessage(
        wsnt.Topic(f"tns1:{topic}", Dialect=CONCRETE_SET),
        wsnt.Message(tt.Message(*parts, UtcTime=utc_time)),
    )


def topic_set(topics: dict[str, etree._Element]) -> etree._Element:
    """A wstop:TopicSet with each topic ('RuleEngine/AudioDetector/Class') described by its
    tt:MessageDescription; topics sharing a branch share its element."""
    root = E_WSTOP.TopicSet()
    for topic, description in topics.items():
        parent = root
        *branches, leaf = topic.split("/")
        for branch in branches:
            found = parent.find(f"{{{TNS1}}}{branch}")
            parent = found if found is not None else etree.SubElement(parent, f"{{{TNS1}}}{branch}")
        node = etree.SubElement(parent, f"{{{TNS1}}}{leaf}", {f"{{{WSTOP}}}topic": "true"})
        node.append(description)
    return root


@dataclass
class PullPoint:
    """One subscription: its undelivered messages and its termination time (UTC)."""

    id: str
    terminates: datetime
    messages: deque[etree._Element]
    dropped: int = 0


@dataclass
class PullPointBroker:
    """PullPoint subscriptions of one device and their SOAP operations (module docstring)."""

    topics: dict[str, etree._Element]
    """The topics the device publishes and their message descriptions (GetEventProperties)."""
    max_subscriptions: int = 16
    queue_per_subscription: int = 1000
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _points: dict[str, PullPoint] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _closed: bool = False

    def publish(self, message: etree._Element) -> None:
        """Hand a wsnt:NotificationMessage to every live subscription (never blocks)."""
        with self._changed:
            self._expire()
            for point in self._points.values():
                if len(point.messages) == point.messages.maxlen:
                    point.dropped += 1
                point.messages.append(message)
            self._changed.notify_all()

    def subscribe(self, seconds: float) -> PullPoint:
        """A new PullPoint terminating in `seconds`; SoapFault when too many are live."""
        with self._changed:
            self._expire()
            if len(self._points) >= self.max_subscriptions:
                raise SoapFault(
                    "Receiver", "ResourceUnknownFault", "too many PullPoint subscriptions", 503
                )
            point = PullPoint(
                id=secrets.token_urlsafe(12),
                terminates=self.now() + timedelta(seconds=seconds),
                messages=deque(maxlen=self.queue_per_subscription),
            )
            self._points[point.id] = point
            return point

    def point(self, point_id: str) -> PullPoint:
        """A live subscription; the WS-BaseNotification fault for an unknown or ended one."""
        with self._changed:
            self._expire()
            found = self._points.get(point_id)
        if found is None:
            raise SoapFault("Sender", "ResourceUnknownFault", "no such subscription")
        return found

    def pull(self, point_id: str, wait_s: float, limit: int) -> list[etree._Element]:
        """Up to `limit` messages, waiting up to `wait_s` (≤ MAX_PULL_WAIT_S) for the first."""
        point = self.point(point_id)
        deadline = time.monotonic() + min(max(wait_s, 0.0), MAX_PULL_WAIT_S)
        with self._changed:
            while not point.messages and not self._closed and point.id in self._points:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return [point.messages.popleft() for _ in range(min(limit, len(point.messages)))]

    def renew(self, point_id: str, seconds: float) -> PullPoint:
        """Push the termination of a live subscription to now + `seconds`."""
        point = self.point(point_id)
        with self._changed:
            point.terminates = self.now() + timedelta(seconds=seconds)
        return point

    def unsubscribe(self, point_id: str) -> None:
        """End a subscription (its waiting pull returns)."""
        self.point(point_id)
        with self._changed:
            self._points.pop(point_id, None)
            self._changed.notify_all()

    def close(self) -> None:
        """End every subscription and release waiting pulls (before the server stops)."""
        with self._changed:
            self._closed = True
            self._points.clear()
            self._changed.notify_all()

    @property
    def subscriptions(self) -> int:
        """Live subscriptions."""
        with self._changed:
            self._expire()
            return len(self._points)

    def _expire(self) -> None:
        now = self.now()
        for point_id in [p.id for p in self._points.values() if p.terminates <= now]:
            del self._points[point_id]

    # --- SOAP --------------------------------------------------------------------------------

    def event_operation(self, request: etree._Element, subscription_base: str) -> etree._Element:
        """Answer an event-service operation; new subscriptions live at
        `{subscription_base}/{id}`. SoapFault for an operation it does not offer."""
        name = local_name(request)
        if name == "GetServiceCapabilities":
            return E_TEV.GetServiceCapabilitiesResponse(
                E_TEV.Capabilities(
                    WSSubscriptionPolicySupport="false",
                    WSPausableSubscriptionManagerInterfaceSupport="false",
                    MaxNotificationProducers="0",
                    MaxPullPoints=str(self.max_subscriptions),
                    PersistentNotificationStorage="false",
                )
            )
        if name == "GetEventProperties":
            return E_TEV.GetEventPropertiesResponse(
                E_TEV.TopicNamespaceLocation("http://www.onvif.org/onvif/ver10/topics/topicns.xml"),
                E_WSNT.FixedTopicSet("true"),
                topic_set(self.topics),
                E_WSNT.TopicExpressionDialect(CONCRETE_SET),
                E_WSNT.TopicExpressionDialect(
                    "http://docs.oasis-open.org/wsnt/t-1/TopicExpression/ConcreteSet"
                ),
                E_TEV.MessageContentFilterDialect(
                    "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"
                ),
                E_TEV.MessageContentSchemaLocation(
                    "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"
                ),
            )
        if name == "CreatePullPointSubscription":
            now = self.now()
            seconds = termination_s(request.findtext(f"{{{TEV}}}InitialTerminationTime"), now)
            point = self.subscribe(seconds)
            return E_TEV.CreatePullPointSubscriptionResponse(
                E_TEV.SubscriptionReference(E_WSA.Address(f"{subscription_base}/{point.id}")),
                E_WSNT.CurrentTime(xsd_time(now)),
                E_WSNT.TerminationTime(xsd_time(point.terminates)),
            )
        raise SoapFault("Receiver", "ActionNotSupported", f"events: {name} not supported")

    def subscription_operation(self, point_id: str, request: etree._Element) -> etree._Element:
        """Answer a subscription-manager operation; PullMessages blocks until a message or
        its Timeout (call it off any event loop)."""
        name = local_name(request)
        if name == "PullMessages":
            wait_s = duration_s(request.findtext(f"{{{TEV}}}Timeout") or "PT0S")
            try:
                limit = int(request.findtext(f"{{{TEV}}}MessageLimit") or "100")
            except ValueError:
                raise SoapFault(
                    "Sender", "InvalidArgVal", "MessageLimit must be an integer"
                ) from None
            messages = self.pull(point_id, wait_s, max(1, limit))
            point = self.point(point_id)
            return E_TEV.PullMessagesResponse(
                E_TEV.CurrentTime(xsd_time(self.now())),
                E_TEV.TerminationTime(xsd_time(point.terminates)),
                *[copy.deepcopy(m) for m in messages],  # one message, many subscribers
            )
        if name == "Renew":
            seconds = termination_s(request.findtext(f"{{{WSNT}}}TerminationTime"), self.now())
            point = self.renew(point_id, seconds)
            return E_WSNT.RenewResponse(
                E_WSNT.TerminationTime(xsd_time(point.terminates)),
                E_WSNT.CurrentTime(xsd_time(self.now())),
            )
        if name == "Unsubscribe":
            self.unsubscribe(point_id)
            return E_WSNT.UnsubscribeResponse()
        if name == "SetSynchronizationPoint":
            self.point(point_id)
            return E_TEV.SetSynchronizationPointResponse()
        raise SoapFault("Receiver", "ActionNotSupported", f"subscription: {name} not supported")
