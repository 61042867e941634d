"""The bridge from the bus to the live feed: announcements become the views the API serves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouie.console.bridge import FeedBridge, incident_id_of
from ouie.console.feed import LiveFeed
from ouie.core.recording import SensorSite
from ouie.store.records import IncidentRecord
from ouie.store.repository import Store
from ouie.transport.bus import InProcessBus
from ouie.transport.topics import INCIDENTS_TOPIC, status_topic


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'ouie.db'}")
    store.sync_sensors([SensorSite(id="s1", lat=45.44, lon=4.39)])
    yield store
    store.close()


def collect(feed: LiveFeed, bus: InProcessBus, messages: list[tuple[str, bytes]]) -> list[Any]:
    """Publish `messages` on the bus and return what a console subscriber received."""

    async def scenario() -> list[Any]:
        async with feed.subscribe() as queue:
            for topic, payload in messages:
                bus.publish(topic, payload)
            assert bus.drain(5.0)
            await asyncio.sleep(0.05)
            received = []
            while not queue.empty():
                received.append(queue.get_nowait())
            return received

    return asyncio.run(scenario())


def test_incident_announcements_and_status_reach_the_feed_as_views(store: Store) -> None:
    store.save_incident(
        IncidentRecord(
            id="inc-7",
            class_="scream",
            onset_ns=1_782_075_600_000_000_000,
            lat=45.4401,
            lon=4.3902,
            uncertainty_m=9.0,
            revision=2,
        )
    )
    bus, feed = InProcessBus(), LiveFeed()
    bridge = FeedBridge(bus, store, feed)
    received = collect(
        feed,
        bus,
        [
            (INCIDENTS_TOPIC, b'{"incident_id": "inc-7", "revision": 2}'),
            (INCIDENTS_TOPIC, b"not json"),
            (INCIDENTS_TOPIC, b'{"incident_id": "inc-unknown"}'),
            (status_topic("s1"), b"online"),
            (status_topic("s1"), b"offline"),
            (status_topic("ghost"), b"online"),
        ],
    )
    bus.close()
    assert [kind for kind, _ in received] == ["incident", "sensor", "sensor"]
    incident = received[0][1]
    assert (incident["id"], incident["class"], incident["revision"]) == ("inc-7", "scream", 2)
    assert incident["uncertainty_m"] == pytest.approx(9.0)
    assert [data["online"] for _, data in received[1:]] == [True, False]
    assert bridge.ignored == 3


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"incident_id": "a"}', "a"),
        (b'{"id": "b"}', "b"),
        (b'{"id": 3}', None),
        (b"[1, 2]", None),
        (b"\xff", None),
    ],
)
def test_incident_id_of_reads_both_forms_and_refuses_the_rest(
    payload: bytes, expected: str | None
) -> None:
    assert incident_id_of(payload) == expected
