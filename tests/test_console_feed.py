"""The live feed: thread-safe fan-out to SSE subscribers, bounded queues, the frame format."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ouie.console.feed import CLOSED, RESYNC, LiveFeed, sse_frame

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(kind=st.from_regex(r"[a-z]{1,10}", fullmatch=True), data=json_values)
def test_an_sse_frame_carries_its_kind_and_json_on_single_lines(kind: str, data: object) -> None:
    frame = sse_frame(kind, data)
    assert frame.endswith("\n\n")
    event_line, data_line = frame.rstrip("\n").split("\n")
    assert event_line == f"event: {kind}"
    assert json.loads(data_line.removeprefix("data: ")) == data


def test_events_published_from_other_threads_reach_every_subscriber_in_order() -> None:
    feed = LiveFeed()

    async def scenario() -> tuple[list[int], list[int]]:
        async with feed.subscribe() as first, feed.subscribe() as second:
            assert feed.subscriber_count == 2
            publisher = threading.Thread(
                target=lambda: [feed.publish("incident", {"n": n}) for n in range(50)]
            )
            publisher.start()
            publisher.join()
            got = []
            for queue in (first, second):
                items = [await asyncio.wait_for(queue.get(), 2.0) for _ in range(50)]
                got.append([data["n"] for kind, data in items if kind == "incident"])
        return got[0], got[1]

    first, second = asyncio.run(scenario())
    assert first == second == list(range(50))
    assert feed.subscriber_count == 0


def test_a_subscriber_that_falls_behind_gets_one_resync_instead_of_a_backlog() -> None:
    feed = LiveFeed(max_queued=5)

    async def scenario() -> list[str]:
        async with feed.subscribe() as queue:
            for n in range(20):
                feed.publish("incident", {"n": n})
            await asyncio.sleep(0.05)  # let the loop run the thread-safe callbacks
            kinds = []
            while not queue.empty():
                kinds.append(queue.get_nowait()[0])
            feed.publish("sensor", {"id": "s1"})
            kinds.append((await asyncio.wait_for(queue.get(), 2.0))[0])
            return kinds

    kinds = asyncio.run(scenario())
    assert kinds[0] == RESYNC
    assert kinds.count(RESYNC) == 1
    assert len(kinds) <= 6  # the backlog was dropped, not kept
    assert kinds[-1] == "sensor"


def test_closing_the_feed_reaches_subscribers_even_when_they_are_behind() -> None:
    feed = LiveFeed(max_queued=2)

    async def scenario() -> list[str]:
        async with feed.subscribe() as queue:
            for n in range(5):
                feed.publish("incident", {"n": n})
            feed.close()
            await asyncio.sleep(0.05)
            kinds = []
            while not queue.empty():
                kinds.append(queue.get_nowait()[0])
            return kinds

    kinds = asyncio.run(scenario())
    assert kinds[-1] == CLOSED
    assert RESYNC in kinds


class OpenRequest:
    """A browser that stays connected."""

    async def is_disconnected(self) -> bool:
        return False


def test_an_open_event_stream_ends_with_its_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events flow while the session lives; once it has ended (logout, password change,
    disable) the next event ends the stream instead of reaching the browser."""
    import ouie.console.api as api

    monkeypatch.setattr(api, "SESSION_RECHECK_S", 0.0)
    feed, live = LiveFeed(), [True]

    async def scenario() -> list[str]:
        stream = api.event_stream(feed, OpenRequest(), lambda: live[0])  # type: ignore[arg-type]
        frames = [await anext(stream)]  # connected
        feed.publish("incident", {"n": 1})
        frames.append(await asyncio.wait_for(anext(stream), 2.0))
        live[0] = False
        feed.publish("incident", {"n": 2})
        with pytest.raises(StopAsyncIteration):
            frames.append(await asyncio.wait_for(anext(stream), 2.0))
        return frames

    frames = asyncio.run(scenario())
    assert frames[0] == ": connected\n\n"
    assert frames[1] == 'event: incident\ndata: {"n":1}\n\n'
    assert len(frames) == 2
    assert feed.subscriber_count == 0
