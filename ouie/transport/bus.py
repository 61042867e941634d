"""The transport interface (`Bus`) and its in-process implementation.

A `Bus` carries (topic, payload) messages with MQTT semantics: topic filters with `+`/`#`,
QoS, retained messages, and an acknowledgement callback when the carrier has taken charge of a
message (PUBACK for MQTT QoS 1). `ouie.transport.mqtt.MqttBus` talks to Mosquitto;
`InProcessBus` connects the sensors, the central service and the console inside one process
for the all-in-one demo. Nothing else in ouie knows which one it has.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

from paho.mqtt.client import topic_matches_sub

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
"""Called with (topic, payload) for each message received on a subscription."""

AckCallback = Callable[[], None]
"""Called once when the bus has taken charge of a published message."""

Acknowledge = Callable[[], None]
"""Given to an `AckedMessageHandler` with each message: call it exactly once, when the message
is safe (stored). Until then the carrier keeps the message (MQTT: no PUBACK is sent, so the
broker redelivers it on the next connection of the persistent session)."""

AckedMessageHandler = Callable[[str, bytes, Acknowledge], None]
"""Called with (topic, payload, acknowledge); may acknowledge later, from any thread."""


def acknowledging(handler: MessageHandler) -> AckedMessageHandler:
    """A plain handler as an acknowledging one: the message is acknowledged when the handler
    returns (or raises: a message that makes it fail would fail again if redelivered)."""

    def handle(topic: str, payload: bytes, acknowledge: Acknowledge) -> None:
        try:
            handler(topic, payload)
        finally:
            acknowledge()

    return handle


class Bus(Protocol):
    """Publish/subscribe with MQTT semantics (see module docstring)."""

    @property
    def connected(self) -> bool:
        """Whether messages currently flow (MQTT: connected to the broker)."""
        ...

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        on_acked: AckCallback | None = None,
    ) -> None:
        """Send `payload` on `topic`; `on_acked` runs once the bus has taken charge of it.

        While disconnected, QoS ≥ 1 messages wait in memory and go out on reconnection.
        """
        ...

    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> None:
        """Deliver messages matching `topic_filter` to `handler` (kept across reconnections);
        a message counts as delivered when the handler returns."""
        ...

    def subscribe_acked(
        self, topic_filter: str, handler: AckedMessageHandler, qos: int = 1
    ) -> None:
        """Like `subscribe`, but a message counts as delivered only when the handler calls the
        `Acknowledge` it was given (see `AckedMessageHandler`)."""
        ...

    def close(self) -> None:
        """Stop delivering and release resources."""
        ...


class InProcessBus:
    """A `Bus` inside one process: one dispatcher thread delivers messages in publish order.

    `on_acked` runs as soon as a message is queued (the bus cannot lose it afterwards unless the
    process dies, which also ends every participant). Retained messages are replayed to new
    subscriptions, as a broker does. `drain` also waits for the acknowledgements of
    `subscribe_acked` handlers, so "drained" means "stored" for the central service.
    """

    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, AckedMessageHandler]] = []
        self._retained: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._unacknowledged = 0
        self._acknowledged = threading.Condition()
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._dispatch, name="inprocess-bus", daemon=True)
        self._thread.start()

    @property
    def connected(self) -> bool:
        """True while open."""
        return self._thread.is_alive()

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        on_acked: AckCallback | None = None,
    ) -> None:
        """Queue the message for delivery; acknowledge at once."""
        if retain:
            with self._lock:
                self._retained[topic] = payload
        self._queue.put((topic, payload))
        if on_acked is not None:
            on_acked()

    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> None:
        """Register `handler` and replay matching retained messages to it."""
        self.subscribe_acked(topic_filter, acknowledging(handler), qos)

    def subscribe_acked(
        self, topic_filter: str, handler: AckedMessageHandler, qos: int = 1
    ) -> None:
        """Register `handler` (it acknowledges each message) and replay retained messages."""
        with self._lock:
            self._subscriptions.append((topic_filter, handler))
            retained = [
                (t, p) for t, p in self._retained.items() if topic_matches_sub(topic_filter, t)
            ]
        for topic, payload in retained:
            self._deliver(handler, topic, payload)

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every message published so far has been delivered and acknowledged;
        False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._queue.all_tasks_done:
            if not self._queue.all_tasks_done.wait_for(
                lambda: self._queue.unfinished_tasks == 0, timeout_s
            ):
                return False
        with self._acknowledged:
            return self._acknowledged.wait_for(
                lambda: self._unacknowledged == 0, max(0.0, deadline - time.monotonic())
            )

    def _deliver(self, handler: AckedMessageHandler, topic: str, payload: bytes) -> None:
        """Call `handler`, counting the message as unacknowledged until it acknowledges."""
        with self._acknowledged:
            self._unacknowledged += 1
        try:
            handler(topic, payload, self._acknowledge)
        except Exception:
            log.exception("in-process bus: handler failed on %s", topic)

    def _acknowledge(self) -> None:
        with self._acknowledged:
            self._unacknowledged -= 1
            self._acknowledged.notify_all()

    def close(self) -> None:
        """Stop the dispatcher after delivering what is queued."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _dispatch(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                topic, payload = item
                with self._lock:
                    handlers = [h for f, h in self._subscriptions if topic_matches_sub(f, topic)]
                for handler in handlers:
                    self._deliver(handler, topic, payload)
            finally:
                self._queue.task_done()
