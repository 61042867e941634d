"""The relay from the central service's listeners to the live feed: announcements become the
views the API serves (with the operator's disposition, which announcements lack)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ouie.console.feed import LiveFeed
from ouie.console.relay import FeedRelay
from ouie.core.recording import SensorSite
from ouie.store.records import DispositionAction, IncidentRecord
from ouie.store.repository import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'ouie.db'}")
    store.sync_sensors([SensorSite(id="s1", lat=45.44, lon=4.39)])
    yield store
    store.close()


def received_by_a_browser(feed: LiveFeed, announce: Callable[[], None]) -> list[Any]:
    """What one subscriber receives while `announce()` runs (from another thread's view)."""

    async def scenario() -> list[Any]:
        async with feed.subscribe() as queue:
            await asyncio.to_thread(announce)
            await asyncio.sleep(0.05)
            received = []
            while not queue.empty():
                received.append(queue.get_nowait())
            return received

    return asyncio.run(scenario())


def test_announcements_become_views_and_bad_ones_are_counted(store: Store) -> None:
    record = IncidentRecord(
        id="inc-7",
        class_="scream",
        onset_ns=1_782_075_600_000_000_000,
        lat=45.4401,
        lon=4.3902,
        uncertainty_m=9.0,
        revision=2,
    )
    store.save_incident(record)
    store.add_disposition("inc-7", DispositionAction.ESCALATE, "olga")
    feed = LiveFeed()
    relay = FeedRelay(store, feed)

    def announce() -> None:
        relay("incident", record.model_dump(mode="json", by_alias=True))
        relay("incident", {"id": "inc-unknown"})
        relay("incident", {"no": "id"})
        relay("sensor", {"id": "s1", "online": True, "status": "online"})
        relay("sensor", {"id": "s1", "online": False, "status": "silent"})
        relay("sensor", {"id": "ghost", "online": True})
        relay("weather", {})

    received = received_by_a_browser(feed, announce)
    assert [kind for kind, _ in received] == ["incident", "sensor", "sensor"]
    incident = received[0][1]
    assert (incident["id"], incident["class"], incident["revision"]) == ("inc-7", "scream", 2)
    assert incident["disposition"] == "escalate"
    assert incident["uncertainty_m"] == pytest.approx(9.0)
    assert [(d["online"], d["status"]) for _, d in received[1:]] == [
        (True, "online"),
        (False, "silent"),
    ]
    assert received[1][1]["lat"] == pytest.approx(45.44)
    assert relay.ignored == 4
