"""Store-and-forward on the sensor: reports wait in an on-disk SQLite queue until the broker
acknowledges them (PUBACK), so nothing is lost while the broker or the network is down, nor
when the sensor process restarts.

Delivery is at-least-once: a report acknowledged by the broker but not yet deleted when the
sensor dies is sent again after restart; the central service de-duplicates on `report_id`.

With `receipt_timeout_s` (a sensor of a clustered deployment, docs/cluster.md) the PUBACK is not
enough: NATS's MQTT listener can PUBACK a report that the reports stream then loses across a
leader election. The uplink then keeps each report until a **receipt** naming its report id
comes on `ouie/v1/sensors/<id>/receipts` (sent once the report is in the replicated reports
stream), and publishes it again when none came `receipt_timeout_s` after its PUBACK; the
cluster drops the repeat by report id.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

from ouie.core.report import EventReport
from ouie.core.timebase import now_ns
from ouie.transport.bus import AckCallback, Bus
from ouie.transport.topics import (
    OFFLINE,
    ONLINE,
    REPORTS_QOS,
    STATUS_QOS,
    receipts_topic,
    reports_topic,
    status_topic,
)

log = logging.getLogger(__name__)


class Outbox:
    """A durable FIFO of (topic, payload) rows in SQLite (WAL, synchronous=FULL)."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "topic TEXT NOT NULL, payload BLOB NOT NULL, enqueued_ns INTEGER NOT NULL)"
        )
        self._lock = threading.Lock()

    def put(self, topic: str, payload: bytes) -> int:
        """Append durably (committed before returning); returns the row id."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO outbox (topic, payload, enqueued_ns) VALUES (?, ?, ?)",
                (topic, payload, now_ns()),
            )
            return int(cursor.lastrowid or 0)

    def after(self, row_id: int, limit: int) -> list[tuple[int, str, bytes]]:
        """Up to `limit` rows with id > `row_id`, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (row_id, limit),
            ).fetchall()

    def delete(self, row_id: int) -> None:
        """Forget a delivered row."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        """Close the database (rows stay on disk)."""
        with self._lock:
            self._db.close()


class SensorUplink:
    """A sensor's side of the transport: `send(report)` queues durably; a forwarder thread
    publishes queued reports in order with QoS 1, at most `window` unacknowledged at a time,
    and deletes each one on its PUBACK. Publishes the retained status 'online' on start and
    every `heartbeat_s` (the central marks a silent sensor offline), and 'offline' on a clean
    stop (an MQTT last will covers unclean ones). With `receipt_timeout_s`, a report is deleted
    on its receipt, not its PUBACK, and sent again when no receipt came that long after its
    PUBACK (module docstring); the window counts reports waiting for their receipt."""

    def __init__(
        self,
        sensor_id: str,
        bus: Bus,
        outbox: Outbox,
        window: int = 200,
        heartbeat_s: float = 30.0,
        receipt_timeout_s: float | None = None,
    ) -> None:
        self.sensor_id = sensor_id
        self._bus, self._outbox, self._window = bus, outbox, window
        self._heartbeat_s = heartbeat_s
        self._last_heartbeat = time.monotonic()
        self._in_flight: set[int] = set()
        self._receipt_timeout_s = receipt_timeout_s
        self._unreceipted: dict[str, tuple[int, str, bytes]] = {}  # report id → row, message
        self._acked_at: dict[str, float] = {}  # report id → monotonic s of its last PUBACK
        self._last_sent_id = 0
        self.republished = 0
        """Reports published again for want of a receipt."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(
            target=self._forward, name=f"uplink-{sensor_id}", daemon=True
        )
        if receipt_timeout_s is not None:
            bus.subscribe(receipts_topic(sensor_id), self._on_receipt, qos=0)
        self._thread.start()
        self.publish_status(ONLINE)

    def send(self, report: EventReport) -> None:
        """Queue a report durably (returns once it is on disk) and wake the forwarder."""
        if report.sensor_id != self.sensor_id:
            raise ValueError(f"report of sensor {report.sensor_id!r} sent by {self.sensor_id!r}")
        self._outbox.put(reports_topic(self.sensor_id), report.to_json().encode())
        self._idle.clear()
        self._wake.set()

    def publish_status(self, status: str) -> None:
        """Publish the retained status (best effort: a status is state, not an event)."""
        self._bus.publish(
            status_topic(self.sensor_id), status.encode(), qos=STATUS_QOS, retain=True
        )

    def pending(self) -> int:
        """Reports not yet acknowledged by the broker (on disk)."""
        return len(self._outbox)

    def flush(self, timeout_s: float) -> bool:
        """Wait until the queue is empty; False on timeout."""
        self._wake.set()
        return self._idle.wait(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Try to deliver what is queued for `timeout_s`, say 'offline', stop (rows stay)."""
        self.flush(timeout_s)
        self.publish_status(OFFLINE)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _forward(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(min(0.5, self._heartbeat_s))
            self._wake.clear()
            if time.monotonic() - self._last_heartbeat >= self._heartbeat_s:
                self._last_heartbeat = time.monotonic()
                self.publish_status(ONLINE)
            if not self._bus.connected:
                continue  # the bus resends its in-flight messages on reconnection
            with self._lock:
                room = self._window - len(self._in_flight)
                after = self._last_sent_id
            rows = self._outbox.after(after, room) if room > 0 else []
            for row_id, topic, payload in rows:
                report_id = self._track(row_id, topic, payload)
                with self._lock:
                    self._in_flight.add(row_id)
                    self._last_sent_id = row_id
                self._bus.publish(
                    topic, payload, qos=REPORTS_QOS, on_acked=self._acker(row_id, report_id)
                )
            self._publish_again_without_receipt()
            with self._lock:
                if not rows and not self._in_flight and len(self._outbox) == 0:
                    self._idle.set()

    def _track(self, row_id: int, topic: str, payload: bytes) -> str | None:
        """With receipts: remember the row and message under its report id until its receipt
        (a payload without one, which no receipt can name, is treated as without receipts)."""
        if self._receipt_timeout_s is None:
            return None
        try:
            report_id = str(json.loads(payload)["report_id"])
        except (ValueError, KeyError, TypeError):
            return None
        with self._lock:
            self._unreceipted[report_id] = (row_id, topic, payload)
        return report_id

    def _acker(self, row_id: int, report_id: str | None) -> AckCallback:
        def acked() -> None:
            if report_id is not None:
                with self._lock:
                    if report_id in self._unreceipted:
                        self._acked_at[report_id] = time.monotonic()
                        return
            self._delivered(row_id)

        return acked

    def _delivered(self, row_id: int) -> None:
        self._outbox.delete(row_id)
        with self._lock:
            self._in_flight.discard(row_id)
        self._wake.set()

    def _on_receipt(self, topic: str, payload: bytes) -> None:
        """A receipt (a JSON list of report ids now in the cluster's reports stream): those
        reports are delivered."""
        try:
            report_ids = [str(i) for i in json.loads(payload)]
        except (ValueError, TypeError):
            log.warning("uplink %s: unreadable receipt on %s", self.sensor_id, topic)
            return
        for report_id in report_ids:
            with self._lock:
                entry = self._unreceipted.pop(report_id, None)
                self._acked_at.pop(report_id, None)
            if entry is not None:
                self._delivered(entry[0])

    def _publish_again_without_receipt(self) -> None:
        """Publish again each report PUBACKed more than receipt_timeout_s ago without a
        receipt (the broker acknowledged what its stream then lost)."""
        if self._receipt_timeout_s is None:
            return
        due_before = time.monotonic() - self._receipt_timeout_s
        with self._lock:
            due = [r for r, at in self._acked_at.items() if at < due_before]
            for report_id in due:
                del self._acked_at[report_id]
            again = [(r, self._unreceipted[r]) for r in due if r in self._unreceipted]
        for report_id, (row_id, topic, payload) in again:
            self.republished += 1
            self._bus.publish(
                topic, payload, qos=REPORTS_QOS, on_acked=self._acker(row_id, report_id)
            )
