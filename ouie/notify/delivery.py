"""Durable, ordered, signed HTTP delivery that never blocks the caller.

Each destination has its own durable FIFO (`ouie.transport.outbox.Outbox`: one SQLite file,
WAL, synchronous=FULL, under `notify.outbox_dir`) and its own sender thread. `put` writes the
message to disk and returns; the thread POSTs the oldest message until the receiver answers
2xx, then deletes it and takes the next: order per destination is the order of `put`, and a
restart resumes with what was left on disk. Delivery is at-least-once; the `Idempotency-Key`
header (the alert's message id, the same on every attempt) lets the receiver keep one copy.

Why a file per destination rather than a table in the central's database: alerts must still
go out while PostgreSQL is down or busy (that is when a control room needs them), the queue
never contends with report ingest for the database, and the sensors' store-and-forward
already provides the durable FIFO, tested, so there is no second one to keep.

A failed attempt (connection error, timeout, 408, 429, 5xx) is retried after
w_k = min(initial_s · 2^k, max_s) for the k-th consecutive failure; any other 4xx means the
receiver refuses this message for good: it is dropped, so that it does not hold back the
ones behind it. A message undelivered `give_up_after_s` after its first attempt in this
process is dropped too. Every delivery, failed attempt and drop is counted (`NotifyMetrics`)
and audited (`notify.sent`, `notify.failed`, `notify.dropped`).

The body is signed with HMAC-SHA256 over its exact bytes when the destination has a key:
`X-Ouie-Signature-256: sha256=<hex>` (the receiver recomputes it with the shared key).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from ouie.core.audit import AuditEvent, AuditSink
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.notify.config import Destination, RetryPolicy
from ouie.notify.metrics import NotifyMetrics
from ouie.transport.outbox import Outbox

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Ouie-Signature-256"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def signature(key: SecretStr, body: bytes) -> str:
    """The signature header's value: 'sha256=' + hex(HMAC-SHA256(key, body))."""
    digest = hmac.new(key.get_secret_value().encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def backoff_s(failures: int, retry: RetryPolicy) -> float:
    """Wait after the `failures`-th consecutive failure (1, 2, …): min(initial·2^(n−1), max)."""
    return min(retry.initial_s * 2.0 ** max(0, failures - 1), retry.max_s)


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST: delivered, retry later, or refused for good."""

    delivered: bool
    retry: bool
    reason: str
    """'ok', 'http_503', 'connect', 'timeout', ... (the metrics label)."""


def post(
    client: httpx.Client, destination: Destination, body: bytes, headers: dict[str, str]
) -> Attempt:
    """POST once and classify the outcome (never raises for network trouble)."""
    try:
        response = client.post(destination.url, content=body, headers=headers)
    except httpx.TimeoutException:
        return Attempt(False, True, "timeout")
    except httpx.TransportError:
        return Attempt(False, True, "connect")
    code = response.status_code
    if 200 <= code < 300:
        return Attempt(True, False, "ok")
    retry = code >= 500 or code in RETRYABLE_STATUSES
    return Attempt(False, retry, f"http_{code}")


class DestinationQueue:
    """One destination's durable FIFO and sender thread (see module docstring)."""

    def __init__(
        self,
        output: str,
        destination: Destination,
        content_type: str,
        outbox_dir: Path,
        retry: RetryPolicy,
        metrics: NotifyMetrics,
        audit: AuditSink,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.output, self.destination, self.content_type = output, destination, content_type
        self.retry, self.metrics, self.audit, self.clock = retry, metrics, audit, clock
        outbox_dir.mkdir(parents=True, exist_ok=True)
        self._outbox = Outbox(outbox_dir / f"{destination.name}.sqlite")
        self._key = destination.secret()
        self._client = httpx.Client(timeout=destination.timeout_s)
        self._labels = {"output": output, "destination": destination.name}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._first_try: dict[int, float] = {}
        self._queued_ns: dict[int, int] = {}
        self.metrics.pending.labels(**self._labels).set(len(self._outbox))
        self._thread = threading.Thread(
            target=self._run, name=f"notify-{destination.name}", daemon=True
        )
        self._thread.start()

    def put(self, message_id: str, body: bytes) -> None:
        """Queue durably (on disk when this returns) and wake the sender; never waits on the
        network."""
        row_id = self._outbox.put(message_id, body)
        self._queued_ns[row_id] = now_ns()
        self.metrics.pending.labels(**self._labels).inc()
        self._idle.clear()
        self._wake.set()

    def pending(self) -> int:
        """Messages not yet delivered (on disk)."""
        return len(self._outbox)

    def flush(self, timeout_s: float) -> bool:
        """Wait until the queue is empty; False on timeout."""
        self._wake.set()
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        """Stop the sender (undelivered messages stay on disk for the next start)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.destination.timeout_s + 5)
        self._client.close()
        self._outbox.close()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            rows = self._outbox.after(0, 1)
            if not rows:
                self._idle.set()
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            row_id, message_id, body = rows[0]
            attempt = self._attempt(row_id, message_id, bytes(body), failures + 1)
            if attempt.delivered or not attempt.retry or self._expired(row_id):
                self._outbox.delete(row_id)
                self.metrics.pending.labels(**self._labels).dec()
                self._first_try.pop(row_id, None)
                self._queued_ns.pop(row_id, None)
                failures = 0
                continue
            failures += 1
            self._stop.wait(backoff_s(failures, self.retry))

    def _expired(self, row_id: int) -> bool:
        first = self._first_try.get(row_id)
        return first is not None and self.clock() - first > self.retry.give_up_after_s

    def _attempt(self, row_id: int, message_id: str, body: bytes, number: int) -> Attempt:
        self._first_try.setdefault(row_id, self.clock())
        headers = {
            "Content-Type": self.content_type,
            IDEMPOTENCY_HEADER: message_id,
            "User-Agent": "ouie-notify",
        }
        if self._key is not None:
            headers[SIGNATURE_HEADER] = signature(self._key, body)
        attempt = post(self._client, self.destination, body, headers)
        details = {
            "output": self.output,
            "message_id": message_id,
            "host": self.destination.host,
            "attempt": number,
            "result": attempt.reason,
        }
        if attempt.delivered:
            self.metrics.sent.labels(**self._labels).inc()
            queued = self._queued_ns.get(row_id)
            if queued is not None:
                self.metrics.delivery_delay.labels(output=self.output).observe(
                    (now_ns() - queued) / NS_PER_S
                )
            self._audit("notify.sent", details)
            return attempt
        self.metrics.failures.labels(**self._labels, reason=attempt.reason).inc()
        if attempt.retry and not self._expired(row_id):
            log.warning(
                "notify %s: %s not delivered (%s), retrying",
                self.destination.name,
                message_id,
                attempt.reason,
            )
            self._audit("notify.failed", details)
        else:
            log.error(
                "notify %s: %s dropped (%s)", self.destination.name, message_id, attempt.reason
            )
            self.metrics.dropped.labels(**self._labels).inc()
            self._audit("notify.dropped", details)
        return attempt

    def _audit(self, action: str, details: dict[str, object]) -> None:
        try:
            self.audit(
                AuditEvent(
                    action=action,
                    actor="system",
                    subject=f"notify:{self.destination.name}",
                    details=details,
                )
            )
        except Exception:  # the audit store down must not stop deliveries
            log.exception("notify %s: could not audit %s", self.destination.name, action)
