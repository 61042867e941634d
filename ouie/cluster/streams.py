"""Subjects, streams and the lease bucket of the cluster (NATS JetStream).

    gateways ── ouie.v1.reports.<cell>.<sensor> (JetStream publish, Nats-Msg-Id = report id)
        → stream OUIE_REPORTS (R3, file, limits: reports_max_age_s, de-duplicated)
            → durable consumer `writer` (work queue of the storage writers)
            → per fusion worker: a consumer filtered on its cells + halo + the clock
    fusion workers ── ouie.v1.clock.<worker> every tick_s (into OUIE_REPORTS: the stream's clock)
    fusion workers ── ouie.v1.incidents.<cell> (Nats-Msg-Id = <incident id>.<revision>)
        → stream OUIE_INCIDENTS (R3, de-duplicated) → durable consumer `writer-incidents`
    fusion workers' leases: KV bucket ouie_fusion_workers (R3, TTL lease_ttl_s)
    sensors ── MQTT ouie/v1/sensors/<id>/reports → stream OUIE_INGEST (R3, work queue)
        → durable `ingest` → into OUIE_REPORTS as a gateway does, then a receipt to the sensor
        on ouie.v1.sensors.<id>.receipts (cluster/ingest.py)
    any process ── ouie.v1.audit (Nats-Msg-Id = event id) → stream OUIE_AUDIT (R3, kept whole)
        → the audit appender holding the lease in KV bucket ouie_audit_appender (cluster/audit.py)

A report is in the cluster once its publisher holds the stream's PubAck (stored on a quorum of
the replicas); until then the publisher retries, on any node, with the same Nats-Msg-Id, and
the stream drops the repeat. NATS maps the MQTT topic separator `/` to `.`, so an MQTT
subscriber to `ouie/v1/incidents/#` (the console) receives the incidents too. A sensor's MQTT
publish comes in through OUIE_INGEST and a receipt (see cluster/ingest.py).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import AuthorizationError
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError
from nats.js.kv import KeyValue

from ouie.cluster.config import ClusterConfig
from ouie.core.config import ConfigError
from ouie.transport.broker import CENTRAL_USER

log = logging.getLogger(__name__)

T = TypeVar("T")

REPORTS_STREAM = "OUIE_REPORTS"
INCIDENTS_STREAM = "OUIE_INCIDENTS"
REPORTS_SUBJECTS = "ouie.v1.reports.>"
CLOCK_SUBJECTS = "ouie.v1.clock.>"
INCIDENTS_SUBJECTS = "ouie.v1.incidents.>"
AUDIT_STREAM = "OUIE_AUDIT"
INGEST_STREAM = "OUIE_INGEST"
INGEST_SUBJECTS = "ouie.v1.sensors.*.reports"
INGESTER = "ingest"
AUDIT_SUBJECT = "ouie.v1.audit"
WORKERS_BUCKET = "ouie_fusion_workers"
REPORTS_WRITER = "writer"
INCIDENTS_WRITER = "writer-incidents"
MSG_ID = "Nats-Msg-Id"


def report_subject(cell: str, sensor_id: str) -> str:
    """The subject a report of `sensor_id` (in `cell`) is published on."""
    return f"ouie.v1.reports.{cell}.{sensor_id}"


def cell_subjects(cells: set[str]) -> list[str]:
    """Consumer filters for the reports of `cells`."""
    return sorted(f"ouie.v1.reports.{cell}.*" for cell in cells)


def clock_subject(worker_id: str) -> str:
    """Where a fusion worker publishes its ticks (empty messages: only their stream time
    counts)."""
    return f"ouie.v1.clock.{worker_id}"


def is_clock_subject(subject: str) -> bool:
    """Whether `subject` is a tick of the stream's clock."""
    return subject.startswith("ouie.v1.clock.")


def parse_report_subject(subject: str) -> tuple[str, str] | None:
    """(cell, sensor id) of `ouie.v1.reports.<cell>.<sensor>`, None for another subject."""
    parts = subject.split(".")
    if len(parts) == 5 and parts[:3] == ["ouie", "v1", "reports"]:
        return parts[3], parts[4]
    return None


def incident_subject(cell: str) -> str:
    """Where the owner of `cell` publishes the incidents it emits."""
    return f"ouie.v1.incidents.{cell}"


def stream_time_ns(msg: Msg) -> int:
    """When the stream stored `msg`, UTC ns (µs precision): the same for every consumer."""
    stamp = msg.metadata.timestamp
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return round(stamp.timestamp() * 1_000_000) * 1000


async def ensure_streams(
    js: JetStreamContext, config: ClusterConfig, timeout_s: float = 60.0
) -> KeyValue:
    """Create (or keep) the streams and the lease bucket; returns the bucket (see
    `when_placed` for the waiting)."""
    return await when_placed(lambda: _ensure_streams(js, config), timeout_s)


async def when_placed(create: Callable[[], Awaitable[T]], timeout_s: float = 60.0) -> T:
    """`create()` (a stream or bucket), tried again every 0.5 s until `timeout_s` while the
    cluster is still forming: no meta leader yet, or fewer peers than replicas ("no suitable
    peers for placement", a node just died). A refusal no wait will change (one of
    `PERMANENT_REFUSALS`) is raised at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await create()
        except (TimeoutError, NatsError) as error:
            if _is_permanent(error) or time.monotonic() > deadline:
                raise
            log.info("JetStream not ready (%s); trying again", error)
            await asyncio.sleep(0.5)


STREAM_EXISTS_OTHERWISE = 10058
PERMANENT_REFUSALS = {
    STREAM_EXISTS_OTHERWISE: "stream name already in use with a different configuration",
    10074: "replicas > 1 not supported in non-clustered mode",
}
"""JetStream's error codes that no wait will change, unlike the placement and leader errors
of a forming cluster (10005 "no suitable peers for placement", 10008 unavailable)."""


def _is_permanent(error: Exception) -> bool:
    """Whether JetStream's refusal of a create will stand however long one waits."""
    return isinstance(error, APIError) and error.err_code in PERMANENT_REFUSALS


async def _ensure_streams(js: JetStreamContext, config: ClusterConfig) -> KeyValue:
    streams = [
        StreamConfig(
            name=REPORTS_STREAM,
            subjects=[REPORTS_SUBJECTS, CLOCK_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=config.replicas,
            max_age=config.reports_max_age_s,
            duplicate_window=config.duplicate_window_s,
            discard=DiscardPolicy.OLD,
        ),
        StreamConfig(
            name=INCIDENTS_STREAM,
            subjects=[INCIDENTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=config.replicas,
            max_age=24 * 3600.0,
            duplicate_window=config.duplicate_window_s,
        ),
        StreamConfig(  # the MQTT front door (cluster/ingest.py): a work queue
            name=INGEST_STREAM,
            subjects=[INGEST_SUBJECTS],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=config.replicas,
            max_age=config.reports_max_age_s,
        ),
        StreamConfig(  # kept whole: the chain's appender reads it from where the chain ends
            name=AUDIT_STREAM,
            subjects=[AUDIT_SUBJECT],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            num_replicas=config.replicas,
            duplicate_window=config.duplicate_window_s,
        ),
    ]
    for stream in streams:
        try:
            await js.add_stream(stream)
        except APIError as error:
            if error.err_code != STREAM_EXISTS_OTHERWISE:
                raise
            log.warning("stream %s kept as it is: %s", stream.name, error)
    return await js.create_key_value(
        KeyValueConfig(bucket=WORKERS_BUCKET, ttl=config.lease_ttl_s, replicas=config.replicas)
    )


async def connect(config: ClusterConfig, name: str, timeout_s: float = 60.0) -> Client:
    """A connection to the cluster that fails over between its servers and reconnects for
    ever (the client library's errors go to the debug log: a dead node is expected), logged
    in as `central` over TLS when the cluster has `security`. The first connection is tried
    again until `timeout_s`: a process may start before the servers. A node that refuses the
    password or whose certificate is not signed by `tls.ca_file` is a configuration error,
    raised (ConfigError) at once rather than tried for ever."""
    import nats

    refused: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def on_error(error: Exception) -> None:
        if _is_refusal(error) and not refused.done():
            refused.set_result(error)
        log.debug("nats (%s): %s", name, error)

    deadline = time.monotonic() + timeout_s
    login = config.client_options()
    while True:
        connecting = asyncio.ensure_future(
            nats.connect(
                config.servers,
                name=name,
                **login,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=2,
                error_cb=on_error,
            )
        )
        either: set[asyncio.Future[Any]] = {connecting, refused}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if refused.done():
            connecting.cancel()
            raise ConfigError(
                f"cluster.security: the nodes refuse {CENTRAL_USER!r} ({refused.result()}): "
                "check secrets_dir and tls.ca_file"
            )
        try:
            return connecting.result()
        except (OSError, TimeoutError, NatsError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def _is_refusal(error: Exception) -> bool:
    """Whether a connection error says the login or the node's certificate is wrong (as
    opposed to a node that is down or starting)."""
    return isinstance(error, AuthorizationError | ssl.SSLCertVerificationError) or (
        isinstance(error, NatsError) and "Authorization Violation" in str(error)
    )


async def pulled_batches(
    bind: Callable[[], Awaitable[JetStreamContext.PullSubscription | None]],
    batch: int,
    done: Callable[[], bool],
    name: str,
) -> AsyncIterator[list[Msg]]:
    """Batches of at most `batch` messages from the pull consumer `bind()` makes, until
    `done()`. A bind that fails (None) or a fetch that fails (the consumer's leader went with a
    dead node) is tried again 0.5 s later with a fresh bind; an empty fetch waits 0.5 s."""
    subscription = None
    while not done():
        if subscription is None:
            subscription = await bind()
            if subscription is None:
                await asyncio.sleep(0.5)
                continue
        try:
            messages = await subscription.fetch(batch, timeout=0.5)
        except TimeoutError:
            continue
        except Exception as error:
            log.warning("%s: fetch failed (%r)", name, error)
            subscription = None
            await asyncio.sleep(0.5)
            continue
        yield messages


async def bind_work_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    ack_wait_s: float,
    max_ack_pending: int,
    replicas: int,
) -> JetStreamContext.PullSubscription | None:
    """A pull subscription on `stream`'s durable consumer `durable` (made if missing): every
    message from the start, each acknowledged explicitly within `ack_wait_s` or redelivered;
    None (logged) while it cannot be made, e.g. the stream's leader is being elected."""
    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_ack_pending=max_ack_pending,
        num_replicas=replicas,
    )
    try:
        await js.add_consumer(stream, config)
        return await js.pull_subscribe_bind(durable=durable, stream=stream)
    except Exception as error:
        log.warning("cannot bind consumer %s on %s: %s", durable, stream, error)
        return None
