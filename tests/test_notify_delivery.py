"""Webhook delivery: durable, in order, once per message id, signed, retried with backoff,
never blocking the caller, counted and audited."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from ouie.core.audit import AuditEvent
from ouie.notify.config import Destination, RetryPolicy
from ouie.notify.delivery import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    DestinationQueue,
    backoff_s,
    signature,
)
from ouie.notify.metrics import NotifyMetrics
from tests.notify_receiver import Receiver

FAST_RETRY = RetryPolicy(initial_s=0.1, max_s=0.5)
DOWN_S = 2.0
KEY = "k3y-for-tests"


def queue_for(
    receiver: Receiver, folder: Path, audit: list[AuditEvent], metrics: NotifyMetrics
) -> DestinationQueue:
    destination = Destination(name="hub", url=receiver.url, secret_env="OUIE_TEST_HOOK_KEY")
    return DestinationQueue(
        "cap", destination, "application/cap+xml", folder, FAST_RETRY, metrics, audit.append
    )


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUIE_TEST_HOOK_KEY", KEY)


def test_a_receiver_down_at_first_gets_every_alert_once_in_order(tmp_path: Path) -> None:
    receiver, audit, metrics = Receiver(), [], NotifyMetrics()
    queue = queue_for(receiver, tmp_path, audit, metrics)
    try:
        started = time.monotonic()
        for n in range(1, 6):
            queue.put(f"ouie-inc-{n}", f"<alert>{n}</alert>".encode())
        put_s = time.monotonic() - started
        threading.Timer(DOWN_S, receiver.start).start()
        assert receiver.wait_for(5, timeout_s=DOWN_S + 30)
        assert queue.flush(timeout_s=10)
    finally:
        queue.close()
        receiver.stop()
    assert put_s < 0.5 * 5  # queued on disk, never waiting for the receiver
    ids = [r.headers[IDEMPOTENCY_HEADER] for r in receiver.received]
    assert ids == [f"ouie-inc-{n}" for n in range(1, 6)]
    for request in receiver.received:
        assert request.headers[SIGNATURE_HEADER] == signature(SecretStr(KEY), request.body)
    failures = metrics.registry.get_sample_value(
        "ouie_notify_failures_total", {"output": "cap", "destination": "hub", "reason": "connect"}
    )
    assert failures is not None and failures >= 2
    sent = metrics.registry.get_sample_value(
        "ouie_notify_sent_total", {"output": "cap", "destination": "hub"}
    )
    assert sent == 5
    actions = [event.action for event in audit]
    assert actions.count("notify.sent") == 5
    assert actions.count("notify.failed") == failures


def test_a_restart_loses_nothing_queued(tmp_path: Path) -> None:
    receiver, audit, metrics = Receiver(), [], NotifyMetrics()
    first = queue_for(receiver, tmp_path, audit, metrics)
    for n in range(1, 4):
        first.put(f"ouie-inc-{n}", b"{}")
    first.close()  # ouie stops with the receiver still down
    assert not receiver.received
    receiver.start()
    second = queue_for(receiver, tmp_path, audit, NotifyMetrics())
    try:
        assert receiver.wait_for(3, timeout_s=30)
        assert second.flush(timeout_s=10)
    finally:
        second.close()
        receiver.stop()
    assert [r.headers[IDEMPOTENCY_HEADER] for r in receiver.received] == [
        "ouie-inc-1",
        "ouie-inc-2",
        "ouie-inc-3",
    ]


def test_a_refused_message_is_dropped_and_audited_without_holding_back_the_next(
    tmp_path: Path,
) -> None:
    receiver, audit, metrics = Receiver(), [], NotifyMetrics()
    receiver.status_for = lambda body: 400 if body == b"bad" else 200
    receiver.start()
    queue = queue_for(receiver, tmp_path, audit, metrics)
    try:
        queue.put("ouie-inc-1", b"bad")
        queue.put("ouie-inc-2", b"good")
        assert receiver.wait_for(1, timeout_s=30)
        assert queue.flush(timeout_s=10)
    finally:
        queue.close()
        receiver.stop()
    assert [r.body for r in receiver.received] == [b"good"]
    dropped = [e for e in audit if e.action == "notify.dropped"]
    assert len(dropped) == 1 and dropped[0].details["result"] == "http_400"
    assert dropped[0].details["message_id"] == "ouie-inc-1"


def test_backoff_doubles_from_the_first_wait_up_to_the_cap() -> None:
    retry = RetryPolicy(initial_s=0.5, max_s=30.0)
    assert [backoff_s(n, retry) for n in (1, 2, 3, 4, 7, 8, 20)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        30.0,
        30.0,
        30.0,
    ]


def test_a_missing_signing_key_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUIE_TEST_HOOK_KEY")
    destination = Destination(
        name="hub", url="http://127.0.0.1:9/x", secret_env="OUIE_TEST_HOOK_KEY"
    )
    with pytest.raises(ValueError, match="OUIE_TEST_HOOK_KEY"):
        destination.secret()
