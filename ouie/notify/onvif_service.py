"""ouie as an ONVIF device with an Event service: a VMS (or Home Assistant) adds the central as
an ONVIF camera and receives `tns1:RuleEngine/AudioDetector/Class` events by PullPoint.

`OnvifEventBroker` keeps the PullPoint subscriptions: each holds the alerts published since it
was created (at most `queue_per_subscription`, oldest dropped) until it is pulled, and lives
until its termination time unless renewed. `onvif_router(broker)` is a FastAPI router to
include at the root of any app (ONVIF clients look for `/onvif/device_service`):

- device: GetSystemDateAndTime (open, as ONVIF allows), GetCapabilities, GetServices,
  GetDeviceInformation;
- events: GetServiceCapabilities, GetEventProperties, CreatePullPointSubscription;
- subscription: PullMessages (waits up to its Timeout, at most `MAX_PULL_WAIT_S`), Renew,
  Unsubscribe, SetSynchronizationPoint.

Every operation but GetSystemDateAndTime needs a WS-Security UsernameToken (digest or text),
checked by the same `UsernameTokenChecker` as the virtual camera's.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response
from lxml import etree
from lxml.builder import ElementMaker
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from ouie.notify.alert import Alert
from ouie.notify.config import OnvifEventsOutput
from ouie.notify.metrics import NotifyMetrics
from ouie.notify.onvif_events import (
    AUDIO_CLASS_TOPIC,
    CONCRETE_SET,
    OUIE_NS,
    TNS1,
    WSNT,
    message_description,
    notification_message,
)
from ouie.transport.soap import (
    E_TDS,
    E_TT,
    TDS,
    SoapFault,
    UsernameTokenChecker,
    envelope,
    fault_envelope,
    local_name,
    parse_request,
)

log = logging.getLogger(__name__)

TEV = "http://www.onvif.org/ver10/events/wsdl"
WSA = "http://www.w3.org/2005/08/addressing"
WSTOP = "http://docs.oasis-open.org/wsn/t-1"
NSMAP = {"tev": TEV, "wsnt": WSNT, "wsa": WSA, "wstop": WSTOP, "tns1": TNS1, "ouie": OUIE_NS}
E_TEV = ElementMaker(namespace=TEV, nsmap=NSMAP)
E_WSNT = ElementMaker(namespace=WSNT, nsmap=NSMAP)
E_WSA = ElementMaker(namespace=WSA, nsmap=NSMAP)
E_TNS1 = ElementMaker(namespace=TNS1, nsmap=NSMAP)
E_WSTOP = ElementMaker(namespace=WSTOP, nsmap=NSMAP)

DEVICE_PATH = "/onvif/device_service"
EVENTS_PATH = "/onvif/event_service"
SUBSCRIPTION_PATH = "/onvif/subscription"
DEFAULT_TERMINATION_S = 60.0
MAX_TERMINATION_S = 3600.0
MAX_PULL_WAIT_S = 30.0
"""A PullMessages waits at most this long for a message, s (clients ask for up to 60–90 s)."""
SOAP_MEDIA_TYPE = "application/soap+xml; charset=utf-8"
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


@dataclass
class PullPoint:
    """One subscription: its undelivered alerts and its termination time (UTC)."""

    id: str
    terminates: datetime
    alerts: deque[Alert]
    dropped: int = 0


@dataclass
class OnvifEventBroker:
    """The PullPoint subscriptions and the device's credentials (see module docstring)."""

    settings: OnvifEventsOutput
    username: str
    password: SecretStr
    metrics: NotifyMetrics = field(default_factory=NotifyMetrics)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    name: str = "ouie"
    _points: dict[str, PullPoint] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _closed: bool = False

    def __post_init__(self) -> None:
        self.checker = UsernameTokenChecker(self.username, self.password.get_secret_value())

    def publish(self, alert: Alert) -> None:
        """Hand `alert` to every live subscription (never blocks on a client)."""
        with self._changed:
            self._expire()
            for point in self._points.values():
                if len(point.alerts) == point.alerts.maxlen:
                    point.dropped += 1
                point.alerts.append(alert)
            self._changed.notify_all()
        self.metrics.published.labels(output="onvif_events").inc()

    def subscribe(self, seconds: float) -> PullPoint:
        """A new PullPoint terminating in `seconds`; SoapFault when too many are live."""
        with self._changed:
            self._expire()
            if len(self._points) >= self.settings.max_subscriptions:
                raise SoapFault(
                    "Receiver", "ResourceUnknownFault", "too many PullPoint subscriptions", 503
                )
            point = PullPoint(
                id=secrets.token_urlsafe(12),
                terminates=self.now() + timedelta(seconds=seconds),
                alerts=deque(maxlen=self.settings.queue_per_subscription),
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

    def pull(self, point_id: str, wait_s: float, limit: int) -> list[Alert]:
        """Up to `limit` alerts, waiting up to `wait_s` (≤ MAX_PULL_WAIT_S) for the first."""
        point = self.point(point_id)
        deadline = time.monotonic() + min(max(wait_s, 0.0), MAX_PULL_WAIT_S)
        with self._changed:
            while not point.alerts and not self._closed and point.id in self._points:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return [point.alerts.popleft() for _ in range(min(limit, len(point.alerts)))]

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
        """End every subscription and release waiting pulls (before the web server stops)."""
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


# --- SOAP operations ------------------------------------------------------------------------

Operation = Callable[[etree._Element, str], etree._Element]
"""(request operation element, base URL) → response element."""


def _device_operations(broker: OnvifEventBroker) -> dict[str, Operation]:
    def system_date_and_time(_: etree._Element, __: str) -> etree._Element:
        now = broker.now()
        return E_TDS.GetSystemDateAndTimeResponse(
            E_TDS.SystemDateAndTime(
                E_TT.DateTimeType("NTP"),
                E_TT.DaylightSavings("false"),
                E_TT.TimeZone(E_TT.TZ("UTC0")),
                E_TT.UTCDateTime(
                    E_TT.Time(
                        E_TT.Hour(str(now.hour)),
                        E_TT.Minute(str(now.minute)),
                        E_TT.Second(str(now.second)),
                    ),
                    E_TT.Date(
                        E_TT.Year(str(now.year)), E_TT.Month(str(now.month)), E_TT.Day(str(now.day))
                    ),
                ),
            )
        )

    def capabilities(_: etree._Element, base: str) -> etree._Element:
        return E_TDS.GetCapabilitiesResponse(
            E_TDS.Capabilities(
                E_TT.Device(E_TT.XAddr(base + DEVICE_PATH)),
                E_TT.Events(
                    E_TT.XAddr(base + EVENTS_PATH),
                    E_TT.WSSubscriptionPolicySupport("false"),
                    E_TT.WSPullPointSupport("true"),
                    E_TT.WSPausableSubscriptionManagerInterfaceSupport("false"),
                ),
            )
        )

    def services(_: etree._Element, base: str) -> etree._Element:
        return E_TDS.GetServicesResponse(
            *[
                E_TDS.Service(
                    E_TDS.Namespace(namespace),
                    E_TDS.XAddr(base + path),
                    E_TDS.Version(E_TT.Major("2"), E_TT.Minor("60")),
                )
                for namespace, path in ((TDS, DEVICE_PATH), (TEV, EVENTS_PATH))
            ]
        )

    def information(_: etree._Element, __: str) -> etree._Element:
        return E_TDS.GetDeviceInformationResponse(
            E_TDS.Manufacturer("ouie"),
            E_TDS.Model("ouie central (acoustic incidents)"),
            E_TDS.FirmwareVersion("1"),
            E_TDS.SerialNumber(broker.name),
            E_TDS.HardwareId("ouie"),
        )

    return {
        "GetSystemDateAndTime": system_date_and_time,
        "GetCapabilities": capabilities,
        "GetServices": services,
        "GetDeviceInformation": information,
    }


def _event_operations(broker: OnvifEventBroker) -> dict[str, Operation]:
    def service_capabilities(_: etree._Element, __: str) -> etree._Element:
        return E_TEV.GetServiceCapabilitiesResponse(
            E_TEV.Capabilities(
                WSSubscriptionPolicySupport="false",
                WSPausableSubscriptionManagerInterfaceSupport="false",
                MaxNotificationProducers="0",
                MaxPullPoints=str(broker.settings.max_subscriptions),
                PersistentNotificationStorage="false",
            )
        )

    def event_properties(_: etree._Element, __: str) -> etree._Element:
        *branches, leaf = AUDIO_CLASS_TOPIC.split("/")
        topic: etree._Element = etree.Element(f"{{{TNS1}}}{leaf}", {f"{{{WSTOP}}}topic": "true"})
        topic.append(message_description())
        for branch in reversed(branches):
            topic = E_TNS1(branch, topic)
        return E_TEV.GetEventPropertiesResponse(
            E_TEV.TopicNamespaceLocation("http://www.onvif.org/onvif/ver10/topics/topicns.xml"),
            E_WSNT.FixedTopicSet("true"),
            E_WSTOP.TopicSet(topic),
            E_WSNT.TopicExpressionDialect(CONCRETE_SET),
            E_WSNT.TopicExpressionDialect(
                "http://docs.oasis-open.org/wsnt/t-1/TopicExpression/ConcreteSet"
            ),
            E_TEV.MessageContentFilterDialect(
                "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"
            ),
            E_TEV.MessageContentSchemaLocation("http://www.onvif.org/onvif/ver10/schema/onvif.xsd"),
        )

    def create_pull_point(request: etree._Element, base: str) -> etree._Element:
        now = broker.now()
        seconds = termination_s(request.findtext(f"{{{TEV}}}InitialTerminationTime"), now)
        point = broker.subscribe(seconds)
        return E_TEV.CreatePullPointSubscriptionResponse(
            E_TEV.SubscriptionReference(E_WSA.Address(f"{base}{SUBSCRIPTION_PATH}/{point.id}")),
            E_WSNT.CurrentTime(xsd_time(now)),
            E_WSNT.TerminationTime(xsd_time(point.terminates)),
        )

    return {
        "GetServiceCapabilities": service_capabilities,
        "GetEventProperties": event_properties,
        "CreatePullPointSubscription": create_pull_point,
    }


def _subscription_response(
    broker: OnvifEventBroker, point_id: str, request: etree._Element
) -> etree._Element:
    """Renew, Unsubscribe, SetSynchronizationPoint (PullMessages waits: see the route)."""
    name = local_name(request)
    if name == "Renew":
        seconds = termination_s(request.findtext(f"{{{WSNT}}}TerminationTime"), broker.now())
        point = broker.renew(point_id, seconds)
        return E_WSNT.RenewResponse(
            E_WSNT.TerminationTime(xsd_time(point.terminates)),
            E_WSNT.CurrentTime(xsd_time(broker.now())),
        )
    if name == "Unsubscribe":
        broker.unsubscribe(point_id)
        return E_WSNT.UnsubscribeResponse()
    if name == "SetSynchronizationPoint":
        broker.point(point_id)
        return E_TEV.SetSynchronizationPointResponse()
    raise SoapFault("Receiver", "ActionNotSupported", f"subscription: {name} not supported")


def _pull_response(broker: OnvifEventBroker, point_id: str, alerts: list[Alert]) -> etree._Element:
    point = broker.point(point_id)
    return E_TEV.PullMessagesResponse(
        E_TEV.CurrentTime(xsd_time(broker.now())),
        E_TEV.TerminationTime(xsd_time(point.terminates)),
        *[notification_message(alert) for alert in alerts],
    )


def _soap(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type=SOAP_MEDIA_TYPE)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def onvif_router(broker: OnvifEventBroker) -> APIRouter:
    """The device, event and subscription endpoints over `broker` (see module docstring)."""
    router = APIRouter()
    device, events = _device_operations(broker), _event_operations(broker)

    def answer(payload: bytes, operations: dict[str, Operation], base: str) -> Response:
        try:
            operation, header = parse_request(payload)
            name = local_name(operation)
            if name != "GetSystemDateAndTime":
                broker.checker.check(header)
            handler = operations.get(name)
            if handler is None:
                raise SoapFault("Receiver", "ActionNotSupported", f"{name} not supported")
            return _soap(200, envelope(handler(operation, base)))
        except SoapFault as fault:
            return _soap(fault.http_status, fault_envelope(fault))

    @router.post(DEVICE_PATH)
    async def device_service(request: Request) -> Response:
        return answer(await request.body(), device, _base_url(request))

    @router.post(EVENTS_PATH)
    async def event_service(request: Request) -> Response:
        return answer(await request.body(), events, _base_url(request))

    @router.post(SUBSCRIPTION_PATH + "/{point_id}")
    async def subscription(point_id: str, request: Request) -> Response:
        try:
            operation, header = parse_request(await request.body())
            broker.checker.check(header)
            if local_name(operation) != "PullMessages":
                return _soap(200, envelope(_subscription_response(broker, point_id, operation)))
            wait_s = duration_s(operation.findtext(f"{{{TEV}}}Timeout") or "PT0S")
            limit = int(operation.findtext(f"{{{TEV}}}MessageLimit") or "100")
            alerts = await run_in_threadpool(broker.pull, point_id, wait_s, max(1, limit))
            return _soap(200, envelope(_pull_response(broker, point_id, alerts)))
        except SoapFault as fault:
            return _soap(fault.http_status, fault_envelope(fault))
        except ValueError:
            bad = SoapFault("Sender", "InvalidArgVal", "MessageLimit must be an integer")
            return _soap(bad.http_status, fault_envelope(bad))

    return router
