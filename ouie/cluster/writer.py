"""The storage writer of a clustered deployment: a stateless stage, any number of copies.

Every copy pulls from the same durable consumers (R3, explicit acks), which makes them one
work queue: JetStream hands each message to one copy, and redelivers it (after ack_wait_s) if
that copy dies before acknowledging.

    reports:   fetch ≤ batch → validate (`ouie.central.validation`, received = stream time)
               → `Store.add_reports` (one transaction; report_id unique: a redelivery or a
               sensor's repeat is a duplicate, stored once) → ack each message
    incidents: fetch → `Store.save_incident` (insert, or update to a newer revision; an older
               or equal revision is `stale`: a repeat stores nothing) → ack

A message is acknowledged only after the commit that stored it (or found it stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ouie.central.validation import Rejected, ValidationSettings, validate_report
from ouie.cluster.config import ClusterConfig
from ouie.cluster.streams import (
    INCIDENTS_STREAM,
    INCIDENTS_WRITER,
    REPORTS_STREAM,
    REPORTS_SUBJECTS,
    REPORTS_WRITER,
    connect,
    ensure_streams,
    parse_report_subject,
    stream_time_ns,
)
from ouie.core.incident import Incident
from ouie.core.recording import SensorSite
from ouie.core.report import EventReport
from ouie.store.records import IncidentRecord
from ouie.store.repository import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class WriterStats:
    """What a writer did."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    incidents_saved: int = 0
    incidents_stale: int = 0


class StorageWriter:
    """Stores reports and incidents from the streams (see module docstring)."""

    def __init__(
        self,
        store: Store,
        cluster: ClusterConfig,
        sensors: list[SensorSite],
        validation: ValidationSettings | None = None,
        batch: int = 500,
        ack_wait_s: float = 10.0,
    ) -> None:
        self.store, self.cluster = store, cluster
        self.sensors = {s.id: s for s in sensors}
        self.validation = validation or ValidationSettings()
        self.batch, self.ack_wait_s = batch, ack_wait_s
        self.stats = WriterStats()

    async def run(self, stop: asyncio.Event) -> None:
        """Store until `stop` is set."""
        nc = await connect(self.cluster, "writer")
        js = nc.jetstream(timeout=5)
        await ensure_streams(js, self.cluster)
        try:
            await asyncio.gather(
                self._loop(js, REPORTS_STREAM, REPORTS_WRITER, self._store_reports, stop),
                self._loop(js, INCIDENTS_STREAM, INCIDENTS_WRITER, self._store_incidents, stop),
            )
        finally:
            with contextlib.suppress(Exception):  # its node may be gone: nothing to flush to
                await nc.close()

    async def _loop(
        self,
        js: JetStreamContext,
        stream: str,
        durable: str,
        store: Callable[[list[Msg]], Awaitable[None]],
        stop: asyncio.Event,
    ) -> None:
        """Fetch batches from the durable `durable` and hand them to `store` until stopped."""
        subscription = None
        while not stop.is_set():
            if subscription is None:
                subscription = await self._bind(js, stream, durable)
                if subscription is None:
                    await asyncio.sleep(0.5)
                    continue
            try:
                messages = await subscription.fetch(self.batch, timeout=0.5)
            except TimeoutError:  # nothing new (nats' own TimeoutError is one too)
                continue
            except Exception as error:  # the consumer's leader moved with a dead node
                log.warning("writer: fetch on %s failed: %r", durable, error)
                await asyncio.sleep(0.5)
                continue
            await store(messages)

    async def _bind(
        self, js: JetStreamContext, stream: str, durable: str
    ) -> JetStreamContext.PullSubscription | None:
        """Bind to the durable work-queue consumer (created by the first writer)."""
        config = ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s,
            max_ack_pending=20_000,
            num_replicas=self.cluster.replicas,
            filter_subject=REPORTS_SUBJECTS if stream == REPORTS_STREAM else None,
        )
        try:
            await js.add_consumer(stream, config)
            return await js.pull_subscribe_bind(durable=durable, stream=stream)
        except Exception as error:
            log.warning("writer: cannot bind %s: %s", durable, error)
            return None

    async def _store_reports(self, messages: list[Msg]) -> None:
        """Validate, commit in one transaction, then acknowledge every message."""
        batch: list[tuple[EventReport, int]] = []
        for msg in messages:
            where = parse_report_subject(msg.subject)
            received_ns = stream_time_ns(msg)
            try:
                report = validate_report(
                    where[1] if where else "", msg.data, self.sensors, received_ns, self.validation
                )
            except Rejected as rejected:
                self.stats.rejected += 1
                log.warning("rejected message on %s: %s", msg.subject, rejected)
                continue
            batch.append((report, received_ns))
        if batch:
            written = await self._retrying(lambda: self.store.add_reports(batch))
            self.stats.stored += len(written)
            self.stats.duplicates += len(batch) - len(written)
        await self._ack(messages)

    async def _store_incidents(self, messages: list[Msg]) -> None:
        """Save each incident revision (a repeat is stale), then acknowledge."""
        for msg in messages:
            try:
                record = IncidentRecord.from_incident(Incident.from_json(msg.data))
            except (ValidationError, ValueError):
                log.exception("writer: an incident message it cannot read: dropped")
                continue

            def save(record: IncidentRecord = record) -> str:
                try:
                    return self.store.save_incident(record)
                except IntegrityError:  # another writer inserted it first: now an update
                    return self.store.save_incident(record)

            outcome = await self._retrying(save)
            if outcome == "stale":
                self.stats.incidents_stale += 1
            else:
                self.stats.incidents_saved += 1
        await self._ack(messages)

    async def _retrying(self, work: Callable[[], T]) -> T:
        """Run `work` off the event loop, retrying while the database is unavailable."""
        delay_s = 0.2
        while True:
            try:
                return await asyncio.to_thread(work)
            except SQLAlchemyError as error:
                log.warning("writer: database unavailable (%s); retrying", error)
                await asyncio.sleep(delay_s)
                delay_s = min(2 * delay_s, 5.0)

    async def _ack(self, messages: list[Msg]) -> None:
        for msg in messages:
            with contextlib.suppress(Exception):  # not acked: redelivered, stored once
                await msg.ack()
