"""Publishing reports through the cluster's MQTT front door with failover between its nodes.

`FrontDoorPublisher` holds one MQTT 3.1.1 connection (paho, QoS 1, clean session) per node and
keeps every message until its PUBACK. A message still unacknowledged `resend_after_s` after it
went out (its node died, or the connection dropped) is published again on another connected
node: delivery is at least once, and the cluster de-duplicates on `report_id` (storage and
fusion). It stands for many sensors behind few connections (a gateway; the bench and tests);
a sensor of its own does the same with its list of brokers and its outbox.
"""

from __future__ import annotations

import itertools
import threading
import time

import paho.mqtt.client as mqtt

from ouie.cluster.streams import report_topic
from ouie.core.report import EventReport


class FrontDoorPublisher:
    """QoS 1 publishing with failover (see module docstring)."""

    def __init__(
        self, ports: list[int], host: str = "127.0.0.1", resend_after_s: float = 3.0
    ) -> None:
        self.resend_after_s = resend_after_s
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, int], tuple[str, bytes, float]] = {}
        self._acked_early: set[tuple[int, int]] = set()
        self._abandoned: set[tuple[int, int]] = set()  # resent elsewhere: a late PUBACK is void
        self._clients: list[mqtt.Client] = []
        self.resent = 0
        self.last_error: str | None = None
        for index, port in enumerate(ports):
            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=f"ouie-frontdoor-{index}-{time.time_ns()}",
                clean_session=True,
                protocol=mqtt.MQTTv311,
            )
            client.max_inflight_messages_set(2000)
            client.max_queued_messages_set(0)
            client.reconnect_delay_set(0.5, 2)
            client.on_publish = self._acked_by(index)
            client.connect_async(host, port, keepalive=10)
            client.loop_start()
            self._clients.append(client)
        self._next = itertools.cycle(range(len(ports)))

    def wait_connected(self, timeout_s: float = 30.0) -> bool:
        """Until every connection is up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(c.is_connected() for c in self._clients):
                return True
            time.sleep(0.05)
        return False

    def publish(self, cell: str, report: EventReport) -> None:
        """Publish one report on its cell's topic (QoS 1) through the next connected node."""
        self._send(report_topic(cell, report.sensor_id), report.to_json().encode())

    def _send(self, topic: str, payload: bytes, timeout_s: float = 30.0) -> None:
        """Publish on the next connected node; waits up to `timeout_s` for one."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for _ in range(len(self._clients)):
                index = next(self._next)
                client = self._clients[index]
                if not client.is_connected():
                    continue
                with self._lock:
                    info = client.publish(topic, payload, qos=1)
                    if info.rc != mqtt.MQTT_ERR_SUCCESS:
                        self.last_error = mqtt.error_string(info.rc)
                        continue
                    key = (index, info.mid)
                    if key in self._acked_early:
                        self._acked_early.discard(key)
                    else:
                        self._pending[key] = (topic, payload, time.monotonic())
                    return
            time.sleep(0.05)
        connected = [c.is_connected() for c in self._clients]
        raise ConnectionError(
            f"no node of the cluster took an MQTT publish for {timeout_s} s "
            f"(connected: {connected}, last error: {self.last_error})"
        )

    def _acked_by(self, index: int):  # type: ignore[no-untyped-def]
        def on_publish(client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
            key = (index, mid)
            with self._lock:
                if key in self._abandoned:
                    self._abandoned.discard(key)
                elif self._pending.pop(key, None) is None:
                    self._acked_early.add(key)

        return on_publish

    def resend_overdue(self) -> int:
        """Publish again, on another node, what waits for its PUBACK too long; how many."""
        now = time.monotonic()
        with self._lock:
            overdue = [
                (key, topic, payload)
                for key, (topic, payload, sent) in self._pending.items()
                if now - sent > self.resend_after_s
            ]
            for key, _topic, _payload in overdue:
                del self._pending[key]
                self._abandoned.add(key)
        for _key, topic, payload in overdue:
            self._send(topic, payload)
        self.resent += len(overdue)
        return len(overdue)

    @property
    def unacknowledged(self) -> int:
        """Messages sent and not yet acknowledged."""
        with self._lock:
            return len(self._pending)

    def flush(self, timeout_s: float = 60.0) -> bool:
        """Until every message is acknowledged (resending overdue ones); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.unacknowledged == 0:
                return True
            self.resend_overdue()
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Disconnect every connection."""
        for client in self._clients:
            client.disconnect()
            client.loop_stop()
