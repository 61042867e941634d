"""The way reports enter the cluster: JetStream publishes that hold until the stream's PubAck.

`ReportGateway.submit` sends one report on `ouie.v1.reports.<cell>.<sensor>` with
Nats-Msg-Id = its report id and a reply subject of the gateway's own inbox, and returns a
future that the PubAck resolves; JetStream gives it once a quorum of the stream's replicas
(2 of 3) stored the report. Publishes are pipelined: up to `max_in_flight` wait for their
PubAck at once, sent back to back (the client writes them to the socket together), and the
PubAcks come back on one subscription, so a report costs one publish and one callback instead
of a request each (round 2: ~1,000–1,400 reports/s from one process with a request per report).
Without a PubAck after `ack_timeout_s` (a node died, the stream is electing a leader: a few
seconds), or with a refusal (no responders, an error), the report is sent again (after a
refusal, `retry_s` later, doubling with each refusal up to `ack_timeout_s`, so that thousands
of reports in flight do not hammer an electing stream), on whichever node the connection fails
over to, until `give_up_s`: delivery is at least once, and the stream drops a repeat of a report
id within its duplicate window, so it is stored once. A gateway stands for many sensors behind
one connection (a site's concentrator; the bench and tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ouie.cluster.streams import MSG_ID, report_subject
from ouie.core.report import EventReport


@dataclass
class GatewayStats:
    """What a gateway did: reports acknowledged, repeats the stream dropped, tries that
    failed and were retried, and the longest time one report waited for its PubAck (s)."""

    acknowledged: int = 0
    duplicates: int = 0
    retries: int = 0
    longest_wait_s: float = 0.0


@dataclass
class _Pending:
    """A report waiting for its PubAck: what to send again, since when it waits, when to send
    it again, and the future its PubAck resolves."""

    subject: str
    payload: bytes
    report_id: str
    began_s: float
    resend_at_s: float
    done: asyncio.Future[None] = field(repr=False)
    last_error: str = ""
    refusals: int = 0


class ReportGateway:
    """At-least-once, pipelined publishing of reports into OUIE_REPORTS (module docstring).
    `async with gateway:` subscribes to its PubAck inbox and starts the resender."""

    def __init__(
        self,
        nc: Client,
        cell_of_sensor: dict[str, str],
        ack_timeout_s: float = 2.0,
        retry_s: float = 0.2,
        give_up_s: float = 60.0,
        max_in_flight: int = 4096,
    ) -> None:
        self.nc, self.cell_of_sensor = nc, cell_of_sensor
        self.ack_timeout_s, self.retry_s, self.give_up_s = ack_timeout_s, retry_s, give_up_s
        self.stats = GatewayStats()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._inbox = nc.new_inbox()
        self._tokens = itertools.count()
        self._pending: dict[str, _Pending] = {}
        """By reply token (a report sent again gets a new one: a late PubAck of the old one is
        ignored, the stream has dropped or will drop the repeat)."""
        self._subscription: Subscription | None = None
        self._resender: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ReportGateway:
        self._subscription = await self.nc.subscribe(f"{self._inbox}.*", cb=self._on_reply)
        self._resender = asyncio.create_task(self._resend_loop())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._resender is not None:
            self._resender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resender
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.set_exception(RuntimeError("gateway closed"))
        self._pending.clear()

    async def publish(self, report: EventReport) -> None:
        """Until the stream acknowledges `report` (stored, or a repeat it dropped);
        TimeoutError after give_up_s."""
        await (await self.submit(report))

    async def submit(self, report: EventReport) -> asyncio.Future[None]:
        """Send `report` once a slot is free (at most max_in_flight wait); the future is
        resolved by its PubAck, or fails with TimeoutError after give_up_s."""
        await self._slots.acquire()
        now_s = time.monotonic()
        pending = _Pending(
            subject=report_subject(self.cell_of_sensor[report.sensor_id], report.sensor_id),
            payload=report.to_json().encode(),
            report_id=report.report_id,
            began_s=now_s,
            resend_at_s=now_s + self.ack_timeout_s,
            done=asyncio.get_running_loop().create_future(),
        )
        pending.done.add_done_callback(lambda _: self._slots.release())
        await self._send(pending)
        return pending.done

    async def _send(self, pending: _Pending) -> None:
        token = f"{next(self._tokens)}"
        self._pending[token] = pending
        try:
            await self.nc.publish(
                pending.subject,
                pending.payload,
                reply=f"{self._inbox}.{token}",
                headers={MSG_ID: pending.report_id},
            )
        except Exception as error:  # reconnecting, or closed: the resender tries again
            pending.last_error = repr(error)

    async def _on_reply(self, msg: Msg) -> None:
        """A PubAck (or a refusal) for the report sent with this reply token."""
        pending = self._pending.pop(msg.subject.rsplit(".", 1)[1], None)
        if pending is None or pending.done.done():
            return
        reply = json.loads(msg.data) if msg.data else {}
        if not isinstance(reply, dict) or "error" in reply or "stream" not in reply:
            pending.last_error = f"{msg.headers or ''} {reply!r}"  # e.g. 503 no responders
            pending.refusals += 1  # retry_s, doubling up to ack_timeout_s: an election
            backoff_s = min(self.retry_s * 2 ** min(pending.refusals - 1, 16), self.ack_timeout_s)
            pending.resend_at_s = time.monotonic() + backoff_s
            self._pending[f"refused-{next(self._tokens)}"] = pending  # no reply matches it
            return
        if reply.get("duplicate"):
            self.stats.duplicates += 1
        else:
            self.stats.acknowledged += 1
        waited_s = time.monotonic() - pending.began_s
        self.stats.longest_wait_s = max(self.stats.longest_wait_s, waited_s)
        pending.done.set_result(None)

    async def _resend_loop(self) -> None:
        """Every retry_s: send again the reports whose PubAck is overdue (or that were
        refused), and fail those past give_up_s."""
        while True:
            await asyncio.sleep(self.retry_s)
            now_s = time.monotonic()
            overdue = [
                (token, pending)
                for token, pending in self._pending.items()
                if pending.resend_at_s <= now_s
            ]
            for token, pending in overdue:
                del self._pending[token]
                if pending.done.done():
                    continue
                if now_s - pending.began_s > self.give_up_s:
                    pending.done.set_exception(
                        TimeoutError(
                            f"report {pending.report_id}: no PubAck in {self.give_up_s} s "
                            f"(last error: {pending.last_error or 'no reply'})"
                        )
                    )
                    continue
                self.stats.retries += 1
                pending.resend_at_s = now_s + self.ack_timeout_s
                await self._send(pending)
