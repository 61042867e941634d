"""ouie as an ONVIF device with an Event service: a VMS (or Home Assistant) adds the central as
an ONVIF camera and receives `tns1:RuleEngine/AudioDetector/Class` events by PullPoint.

`OnvifEventBroker` turns each alert into its notification message and hands it to the
PullPoint subscriptions (`ouie.transport.pullpoint.PullPointBroker`, as the virtual camera's
own events). `onvif_router(broker)` is a FastAPI router to include at the root of any app (ONVIF
clients look for `/onvif/device_service`):

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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from lxml import etree
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from ouie.notify.alert import Alert
from ouie.notify.config import OnvifEventsOutput
from ouie.notify.metrics import NotifyMetrics
from ouie.notify.onvif_events import event_topics, notification_message
from ouie.transport.pullpoint import TEV, PullPointBroker
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
    system_date_and_time,
)

log = logging.getLogger(__name__)

DEVICE_PATH = "/onvif/device_service"
EVENTS_PATH = "/onvif/event_service"
SUBSCRIPTION_PATH = "/onvif/subscription"
SOAP_MEDIA_TYPE = "application/soap+xml; charset=utf-8"


@dataclass
class OnvifEventBroker:
    """The central's PullPoint subscriptions and the device's credentials (module docstring)."""

    settings: OnvifEventsOutput
    username: str
    password: SecretStr
    metrics: NotifyMetrics = field(default_factory=NotifyMetrics)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    name: str = "ouie"

    def __post_init__(self) -> None:
        self.checker = UsernameTokenChecker(self.username, self.password.get_secret_value())
        self.points = PullPointBroker(
            event_topics(self.settings.video_events),
            max_subscriptions=self.settings.max_subscriptions,
            queue_per_subscription=self.settings.queue_per_subscription,
            now=self.now,
        )

    def publish(self, alert: Alert) -> None:
        """Hand `alert` to every live subscription (never blocks on a client)."""
        self.points.publish(notification_message(alert))
        self.metrics.published.labels(output="onvif_events").inc()

    def close(self) -> None:
        """End every subscription and release waiting pulls (before the web server stops)."""
        self.points.close()

    @property
    def subscriptions(self) -> int:
        """Live subscriptions."""
        return self.points.subscriptions


# --- SOAP operations ------------------------------------------------------------------------

Operation = Callable[[etree._Element, str], etree._Element]
"""(request operation element, base URL) → response element."""


def _device_operations(broker: OnvifEventBroker) -> dict[str, Operation]:
    def get_system_date_and_time(_: etree._Element, __: str) -> etree._Element:
        now = broker.now()
        return system_date_and_time(now)

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
        "GetSystemDateAndTime": get_system_date_and_time,
        "GetCapabilities": capabilities,
        "GetServices": services,
        "GetDeviceInformation": information,
    }


def _soap(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type=SOAP_MEDIA_TYPE)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def onvif_router(broker: OnvifEventBroker) -> APIRouter:
    """The device, event and subscription endpoints over `broker` (see module docstring)."""
    router = APIRouter()
    device = _device_operations(broker)

    def device_operation(operation: etree._Element, base: str) -> etree._Element:
        handler = device.get(local_name(operation))
        if handler is None:
            raise SoapFault(
                "Receiver", "ActionNotSupported", f"{local_name(operation)} not supported"
            )
        return handler(operation, base)

    def events_operation(operation: etree._Element, base: str) -> etree._Element:
        return broker.points.event_operation(operation, base + SUBSCRIPTION_PATH)

    def answer(payload: bytes, handle: Operation, base: str) -> Response:
        try:
            operation, header = parse_request(payload)
            if local_name(operation) != "GetSystemDateAndTime":
                broker.checker.check(header)
            return _soap(200, envelope(handle(operation, base)))
        except SoapFault as fault:
            return _soap(fault.http_status, fault_envelope(fault))

    @router.post(DEVICE_PATH)
    async def device_service(request: Request) -> Response:
        return answer(await request.body(), device_operation, _base_url(request))

    @router.post(EVENTS_PATH)
    async def event_service(request: Request) -> Response:
        return answer(await request.body(), events_operation, _base_url(request))

    @router.post(SUBSCRIPTION_PATH + "/{point_id}")
    async def subscription(point_id: str, request: Request) -> Response:
        try:
            operation, header = parse_request(await request.body())
            broker.checker.check(header)
            answered = await run_in_threadpool(
                broker.points.subscription_operation, point_id, operation
            )
            return _soap(200, envelope(answered))
        except SoapFault as fault:
            return _soap(fault.http_status, fault_envelope(fault))

    return router
