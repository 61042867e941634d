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
from collections.abc import Callable
from typing import Protocol

from paho.mqtt.client import topic_matches_sub

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
"""Called with (topic, payload) for each message received on a subscription."""

AckCallback = Callable[[], None]
"""Called once when the bus has taken charge of a published message."""


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
        """Deliver messages matching `topic_filter` to `handler` (kept across reconnections)."""
        ...

    def close(self) -> None:
        """Stop delivering and release resources."""
        ...


class InProcessBus:
    """A `Bus` inside one process: one dispatcher thread delivers messages in publish order.

    `on_acked` runs as soon as a message is queued (the bus cannot lose it afterwards unless the
    process dies, which also ends every participant). Retained messages are replayed to new
    subscriptions, as a broker does.
    """

    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, MessageHandler]] = []
        self._retained: dict[str, bytes] = {}
        self._lock = threading.Lock()
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
        with self._lock:
            self._subscriptions.append((topic_filter, handler))
            retained = [
                (t, p) for t, p in self._retained.items() if topic_matches_sub(topic_filter, t)
            ]
        for topic, payload in retained:
            handler(topic, payload)

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every message published so far has been delivered; False on timeout."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(
                lambda: self._queue.unfinished_tasks == 0, timeout_s
            )

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
                    try:
                        handler(topic, payload)
                    except Exception:
                        log.exception("in-process bus: handler failed on %s", topic)
            finally:
                self._queue.task_done()
