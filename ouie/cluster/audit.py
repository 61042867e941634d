"""The audit chain of a clustered deployment: one ordered chain, one appender at a time.

Every process of the cluster that has something to audit publishes the `AuditEvent` on
`ouie.v1.audit` (`publish_audit`; Nats-Msg-Id = an event id the publisher keeps across its
retries, so a repeat is dropped by the stream) into the stream OUIE_AUDIT (R3, kept until the
chain has it). Any number of `AuditAppender`s run; the one holding the lease
(`ouie.cluster.lease`, bucket `ouie_audit_appender`, TTL `lease_ttl_s`) appends; the others
wait for the lease to lapse and take over.

Exactly once into the chain. Each entry appended from the stream carries, in its details,
`stream_seq`: the event's sequence in OUIE_AUDIT (hashed with the rest). An appender that takes
the lease reads the chain's last `stream_seq` n and reads the stream from n + 1; each append
is one transaction that reads the chain's head and last `stream_seq` and inserts the next
entry, so

    stream_seq ≤ last stream_seq in the chain   →  already appended: skipped
    otherwise                                   →  appended as entry seq_head + 1

An appender that lost its lease without knowing (paused, then back) and the new holder can
both try to append the same event: both insert the same next `seq` (the chain's primary key),
one fails, re-reads and skips it. The lease keeps the work on one process; the database keeps
the chain one ordered, unrepeated run of the stream whatever the lease does.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ouie.cluster.config import ClusterConfig
from ouie.cluster.lease import hold_and_run
from ouie.cluster.streams import AUDIT_STREAM, AUDIT_SUBJECT, MSG_ID, pulled_batches
from ouie.core.audit import AuditEvent
from ouie.store.models import AuditEntryRow
from ouie.store.repository import Store

log = logging.getLogger(__name__)

APPENDER_BUCKET = "ouie_audit_appender"
STREAM_SEQ = "stream_seq"
"""The details key of an appended entry that holds its sequence in OUIE_AUDIT."""


async def publish_audit(
    js: JetStreamContext, event: AuditEvent, event_id: str | None = None, give_up_s: float = 60.0
) -> str:
    """Publish `event` into OUIE_AUDIT until the stream acknowledges it (retrying through a
    node's failover with the same Nats-Msg-Id); returns the event id."""
    event_id = event_id or uuid.uuid4().hex
    deadline = time.monotonic() + give_up_s
    while True:
        try:
            await js.publish(
                AUDIT_SUBJECT, event.model_dump_json().encode(), headers={MSG_ID: event_id}
            )
            return event_id
        except Exception:  # no PubAck: a node or the stream's leader is failing over
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


class StreamAuditSink:
    """An `AuditSink` for a cluster process's threads: publishes each event into OUIE_AUDIT on
    the process's event loop `loop` and waits (≤ `timeout_s`) for the stream's PubAck."""

    def __init__(
        self, js: JetStreamContext, loop: asyncio.AbstractEventLoop, timeout_s: float = 60.0
    ) -> None:
        self.js, self.loop, self.timeout_s = js, loop, timeout_s

    def __call__(self, event: AuditEvent) -> None:
        future = asyncio.run_coroutine_threadsafe(publish_audit(self.js, event), self.loop)
        future.result(self.timeout_s)


def last_stream_seq(session: Session, scan: int = 1000) -> int:
    """The `stream_seq` of the latest entry that has one (among the last `scan`), 0 if none."""
    rows = session.scalars(
        select(AuditEntryRow.details).order_by(AuditEntryRow.seq.desc()).limit(scan)
    )
    for details in rows:
        if isinstance(details, dict) and STREAM_SEQ in details:
            return int(details[STREAM_SEQ])
    return 0


def append_once(store: Store, event: AuditEvent, stream_seq: int) -> bool:
    """Append `event` to the store's chain as the entry for `stream_seq` unless the chain
    already has it or a later one (module docstring); True when this call appended it."""
    tagged = event.model_copy(update={"details": {**event.details, STREAM_SEQ: stream_seq}})
    for _attempt in range(50):
        with Session(store.engine, expire_on_commit=False) as session:
            if stream_seq <= last_stream_seq(session):
                return False
            try:
                store.audit.append(tagged, session=session)
                session.commit()
                return True
            except IntegrityError:  # another appender took this seq: look again
                session.rollback()
    raise RuntimeError("audit append kept colliding with another appender")


@dataclass
class AppenderStats:
    """What an appender did: entries appended, events it found already appended, and how
    many times it took the lease."""

    appended: int = 0
    skipped: int = 0
    leases_taken: int = 0


class AuditAppender:
    """Appends OUIE_AUDIT to the chain while it holds the lease (see module docstring)."""

    def __init__(
        self, appender_id: str, store: Store, cluster: ClusterConfig, batch: int = 200
    ) -> None:
        self.appender_id, self.store, self.cluster, self.batch = appender_id, store, cluster, batch
        self.stats = AppenderStats()

    async def run(self, stop: asyncio.Event) -> None:
        """Take the lease whenever it is free and append while holding it, until `stop`."""

        async def append(js: JetStreamContext, lost: asyncio.Event) -> None:
            self.stats.leases_taken += 1
            await self._append_until(js, lost, stop)

        name = f"audit-{self.appender_id}"
        await hold_and_run(self.cluster, name, APPENDER_BUCKET, self.appender_id, append, stop)

    async def _append_until(
        self, js: JetStreamContext, lost: asyncio.Event, stop: asyncio.Event
    ) -> None:
        """Read OUIE_AUDIT from the event after the chain's last and append, until the lease
        is lost or `stop`; a consumer that went with a dead node is made again."""
        async for messages in pulled_batches(
            lambda: self._subscribe(js),
            self.batch,
            lambda: lost.is_set() or stop.is_set(),
            f"audit appender {self.appender_id}",
        ):
            for msg in messages:
                if lost.is_set():
                    return
                event = AuditEvent.model_validate_json(msg.data)
                seq = msg.metadata.sequence.stream
                if await asyncio.to_thread(append_once, self.store, event, seq):
                    self.stats.appended += 1
                else:
                    self.stats.skipped += 1

    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription | None:
        """An ephemeral consumer from the event after the chain's last `stream_seq`."""

        def start() -> int:
            with Session(self.store.engine) as session:
                return last_stream_seq(session) + 1

        first = await asyncio.to_thread(start)
        name = f"audit-{self.appender_id}-{time.time_ns()}"
        try:
            await js.add_consumer(
                AUDIT_STREAM,
                ConsumerConfig(
                    name=name,
                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=first,
                    ack_policy=AckPolicy.NONE,
                    inactive_threshold=30.0,
                    num_replicas=1,
                    mem_storage=True,
                ),
            )
            return await js.pull_subscribe_bind(consumer=name, stream=AUDIT_STREAM)
        except Exception as error:
            log.warning("audit appender %s: cannot read OUIE_AUDIT (%r)", self.appender_id, error)
            return None
