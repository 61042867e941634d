"""ouie as an ONVIF event source: onvif-zeep-async (the client Home Assistant uses) adds the
central as an ONVIF device, subscribes with its PullPoint manager and receives
tns1:RuleEngine/AudioDetector/Class with Class=GunShot for an injected gunshot."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from ouie.console.server import BackgroundServer
from ouie.notify.alert import synthetic_gunshot
from ouie.notify.config import OnvifEventsOutput
from ouie.notify.onvif_service import OnvifEventBroker, onvif_router
from ouie.transport.pullpoint import WSNT, duration_s
from ouie.transport.soap import TT

onvif = pytest.importorskip("onvif", reason="onvif-zeep-async not installed")
USER, PASSWORD = "vms", "s3cret-pullpoint"
WSDL_DIR = str(Path(onvif.__file__).parent / "wsdl")


@pytest.fixture
def central() -> Iterator[tuple[BackgroundServer, OnvifEventBroker]]:
    """The ONVIF router on a FastAPI app served on loopback."""
    broker = OnvifEventBroker(OnvifEventsOutput(enabled=True), USER, SecretStr(PASSWORD))
    app = FastAPI()
    app.include_router(onvif_router(broker))
    with BackgroundServer(app) as server:
        yield server, broker
        broker.close()


def simple_items(items: Any) -> dict[str, str]:
    return {item.Name: item.Value for item in (items.SimpleItem if items is not None else [])}


def test_home_assistants_onvif_library_receives_a_gunshot_by_pullpoint(
    central: tuple[BackgroundServer, OnvifEventBroker],
) -> None:
    server, broker = central
    alert = synthetic_gunshot()

    async def scenario() -> tuple[list[Any], Any]:
        camera = onvif.ONVIFCamera("127.0.0.1", server.port, USER, PASSWORD, WSDL_DIR)
        await camera.update_xaddrs()
        events = await camera.create_events_service()
        properties = await events.GetEventProperties()
        manager = await camera.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
        assert broker.subscriptions == 1
        threading.Timer(0.3, broker.publish, args=(alert,)).start()  # fusion, elsewhere
        pullpoint = manager.get_service()
        messages: list[Any] = []
        for _ in range(10):  # generous: each pull waits up to 5 s for a message
            response = await pullpoint.PullMessages(
                {"MessageLimit": 10, "Timeout": dt.timedelta(seconds=5)}
            )
            messages += response.NotificationMessage
            if messages:
                break
        await manager.shutdown()
        await camera.close()
        return messages, properties

    messages, properties = asyncio.run(scenario())
    assert broker.subscriptions == 0  # the manager unsubscribed on shutdown
    assert len(messages) == 1
    message = messages[0]
    assert message.Topic._value_1 == "tns1:RuleEngine/AudioDetector/Class"
    payload = message.Message._value_1
    data = simple_items(payload.Data)
    assert data["Class"] == "GunShot"
    assert float(data["Score"]) == pytest.approx(0.93)
    assert simple_items(payload.Key) == {"IncidentId": alert.incident.id}
    assert properties.TopicSet is not None


def test_a_wrong_password_is_refused_as_onvif_says(
    central: tuple[BackgroundServer, OnvifEventBroker],
) -> None:
    server, broker = central

    async def scenario() -> None:
        camera = onvif.ONVIFCamera("127.0.0.1", server.port, USER, "wrong", WSDL_DIR)
        try:
            await camera.update_xaddrs()
        finally:
            await camera.close()

    with pytest.raises(Exception, match=r"(?i)not authorized"):
        asyncio.run(scenario())
    assert broker.subscriptions == 0


def test_a_pullpoint_not_renewed_ends_at_its_termination_time() -> None:
    now = [dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)]
    broker = OnvifEventBroker(
        OnvifEventsOutput(enabled=True), USER, SecretStr(PASSWORD), now=lambda: now[0]
    )
    point = broker.points.subscribe(60)
    now[0] += dt.timedelta(seconds=59)
    broker.points.renew(point.id, 60)
    now[0] += dt.timedelta(seconds=59)
    assert broker.subscriptions == 1
    now[0] += dt.timedelta(seconds=2)
    assert broker.subscriptions == 0


def test_a_slow_subscriber_keeps_the_newest_alerts() -> None:
    broker = OnvifEventBroker(
        OnvifEventsOutput(enabled=True, queue_per_subscription=2), USER, SecretStr(PASSWORD)
    )
    point = broker.points.subscribe(60)
    alerts = [synthetic_gunshot(sent_ns=10**18 + n * 1000) for n in range(3)]
    for alert in alerts:
        broker.publish(alert)
    pulled = broker.points.pull(point.id, 0, 10)
    times = [m.find(f"{{{WSNT}}}Message/{{{TT}}}Message").get("UtcTime") for m in pulled]
    assert times == [a.onset_utc for a in alerts[1:]]
    assert point.dropped == 1


@pytest.mark.parametrize(
    ("text", "seconds"), [("PT60S", 60), ("PT1M", 60), ("P0DT1H0M0.5S", 3600.5), ("PT0S", 0)]
)
def test_xsd_durations(text: str, seconds: float) -> None:
    assert duration_s(text) == seconds
