"""The live feed: console events fanned out to every open browser over Server-Sent Events.

The central service (from any thread) calls `LiveFeed.publish(kind, data)` when an incident is
created or revised, a disposition is made, a sensor goes on- or offline, or a camera moves; each
connected console holds one `subscribe()` queue and receives `event: kind` / `data: json` frames.
A console that falls more than `max_queued` events behind gets a single `resync` event (it then
reloads its lists) instead of an unbounded queue.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

RESYNC = "resync"
CLOSED = "closed"
"""Sent once by `LiveFeed.close()`: streams end, so a server can stop without waiting on them."""


def sse_frame(kind: str, data: Any) -> str:
    """One Server-Sent Events frame: 'event: kind\\ndata: <json>\\n\\n'."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop, max_queued: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.max_queued = max_queued
        self.behind = False

    def offer(self, kind: str, data: Any) -> None:
        """Runs on the subscriber's loop: enqueue, or replace the backlog with one resync."""
        if kind == CLOSED:
            self.queue.put_nowait((kind, data))
            return
        if self.queue.qsize() >= self.max_queued:
            if not self.behind:
                while not self.queue.empty():
                    self.queue.get_nowait()
                self.queue.put_nowait((RESYNC, {}))
                self.behind = True
            return
        self.behind = False
        self.queue.put_nowait((kind, data))


class LiveFeed:
    """Thread-safe publish, asyncio subscribe."""

    def __init__(self, max_queued: int = 1000) -> None:
        self.max_queued = max_queued
        self._subscribers: set[_Subscriber] = set()
        self._lock = threading.Lock()

    def close(self) -> None:
        """End every subscriber's stream (before the web server stops)."""
        self.publish(CLOSED, {})

    def publish(self, kind: str, data: Any) -> None:
        """Send `data` (JSON-able) as a `kind` event to every subscriber; callable from any
        thread, never blocks."""
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber.loop.call_soon_threadsafe(subscriber.offer, kind, data)
            except RuntimeError:  # its loop has closed; it unsubscribes on its way out
                continue

    @property
    def subscriber_count(self) -> int:
        """How many consoles are listening."""
        with self._lock:
            return len(self._subscribers)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[tuple[str, Any]]]:
        """A queue of (kind, data) for as long as the context is open."""
        subscriber = _Subscriber(asyncio.get_running_loop(), self.max_queued)
        with self._lock:
            self._subscribers.add(subscriber)
        try:
            yield subscriber.queue
        finally:
            with self._lock:
                self._subscribers.discard(subscriber)
