"""A fusion worker: streaming association and localization for the cells it owns.

Ownership. Each worker renews a lease (its id, a key of the KV bucket `ouie_fusion_workers`
whose entries expire after `lease_ttl_s`) every lease_ttl_s / 3. The live workers are the
bucket's keys; cells are owned by blocks of ownership_block_cells × ownership_block_cells, and
a block belongs to the live worker that rendezvous hashing picks (`ouie.cluster.cells`), so
when a worker dies only its blocks move, and every worker computes the same owners from the
same lease list.

What it reads. A consumer of the reports stream filtered on its cells and their halo (every
cell within the widest halo, 2·R of the largest hearing range, see `ouie.cluster.cells`). A
report from the halo is kept only when its cell is within `halo_m(class)` of an owned cell.
Its `Associator` knows only the sensors of those cells (its per-report work follows the
sensors around each sound, `ouie.fusion.neighbours`: a worker's memory is ~170 MB at 10,000
sensors).
Every report of a sound is within 2·R of the sound's earliest-arriving report, so the worker
that owns that report's cell sees the whole sound.

Who emits. An incident is published only by the owner of the cell of its anchor: the member
report that came first in the stream (lowest stream sequence). Other workers that saw part or
all of the sound drop it. Published on `ouie.v1.incidents.<cell>` with Nats-Msg-Id
`<incident id>.<revision>`: JetStream drops a repeat within its duplicate window, and the store
keeps only newer revisions (`Store.save_incident`) as a backstop.

Determinism: the stream is the clock. Fusion's "now" is the stream time of the message in
hand: before each report, windows close at that report's stream time (`Associator.poll`), and
the report is added at it. Every worker also publishes a tick (an empty message on
`ouie.v1.clock.<worker>`) into the reports stream every tick_s, and every worker reads every
tick: windows close at the ticks' stream times while no report comes. A report's stream time
is fixed once stored, and every consumer reads the stream in one order, so two workers, or one
replaying, that read the same reports produce the same incidents, with the same ids (fusion
derives them from the report that opened the incident) and revisions, however late they read
them: a slow worker is late, never different. (A worker's view stops at its halo, so the
city-wide `Associator` can reach one of its incidents by another number of revisions:
docs/cluster.md.) (A report added at stream time t closes, first,
every window whose deadline ≤ t, so which ticks a worker saw between two reports changes when
it emits, never what.)

Failover. When the owned cells change (a lease expired or appeared), the worker starts afresh:
a new associator and a new consumer from `replay_s` ago. Incidents whose anchor is older than
the replay start + the longest window are not emitted (their replay is incomplete; their owner
at the time emitted them).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NoKeysError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from ouie.cluster.cells import (
    halo_m,
    max_halo_m,
    owned_cells,
    parse_cell,
    read_cells,
    sensor_cells,
    within,
)
from ouie.cluster.config import ClusterConfig
from ouie.cluster.streams import (
    CLOCK_SUBJECTS,
    MSG_ID,
    REPORTS_STREAM,
    cell_subjects,
    clock_subject,
    connect,
    ensure_streams,
    incident_subject,
    is_clock_subject,
    parse_report_subject,
    stream_time_ns,
)
from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident
from ouie.core.recording import SensorSite
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.fusion.association import Associator
from ouie.fusion.config import FusionConfig

log = logging.getLogger(__name__)

MAX_REMEMBERED_REPORTS = 200_000
"""Anchors are looked up among this many latest reports (a few minutes at 1,000 reports/s)."""


def fuse_at(
    associator: Associator, stream_ns: int, report: EventReport | None = None
) -> list[Incident] | None:
    """Close windows at `stream_ns`, then add `report` (if any) at it; the incidents emitted.
    None when fusion raised (a bug, logged): a worker that died on such a report would replay
    it, and so would the next owner, and its cells would go deaf, so it goes on without it."""
    try:
        emitted = associator.poll(stream_ns)
        if report is not None:
            emitted += associator.add(report, stream_ns)
    except Exception:
        log.exception("fusion failed at stream time %d", stream_ns)
        return None
    return emitted


@dataclass(frozen=True)
class _Seen:
    sequence: int
    stream_ns: int
    cell: str


@dataclass
class WorkerStats:
    """What a worker did (logged on exit)."""

    reports: int = 0
    ticks: int = 0
    kept: int = 0
    emitted: int = 0
    duplicate_publishes: int = 0
    not_owner: int = 0
    before_horizon: int = 0
    fusion_errors: int = 0
    max_lag_s: float = 0.0
    rebuilds: int = 0
    owned: list[str] = field(default_factory=list)


class FusionWorker:
    """One fusion worker (see module docstring); `await run(stop)`."""

    def __init__(
        self,
        worker_id: str,
        cluster: ClusterConfig,
        sensors: list[SensorSite],
        frame: LocalFrame,
        fusion: FusionConfig,
    ) -> None:
        if "." in worker_id or not worker_id:
            raise ValueError(f"worker id {worker_id!r}: non-empty, without '.'")
        self.worker_id, self.cluster, self.fusion = worker_id, cluster, fusion
        self.sensors, self.frame = sensors, frame
        self.cell_of_sensor = sensor_cells(sensors, frame, cluster.cell_size_m)
        self.cells = set(self.cell_of_sensor.values())
        self.stats = WorkerStats()
        self._owned: set[str] | None = None
        self._associator = Associator([], frame, fusion)  # replaced when it owns cells
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._horizon_ns = 0
        self._filter: set[str] = set()
        self._next_lag_warning = 0.0
        self._replayed_until_ns = 0
        self._max_window_ns = round(
            (
                max(fusion.range_m(c) for c in EventClass) / fusion.speed_of_sound_mps
                + fusion.window_margin_s
            )
            * NS_PER_S
        )  # the longest window (`Associator.window_ns`) whatever the sensors' spacing

    # -- life ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Lease, consume, fuse and publish until `stop` is set."""
        nc = await connect(self.cluster, f"fusion-{self.worker_id}")
        js = nc.jetstream(timeout=5)
        kv = await ensure_streams(js, self.cluster)
        lease = asyncio.create_task(self._keep_lease(kv, stop))
        clock = asyncio.create_task(self._tick(js, stop))
        try:
            await self._consume(js, kv, stop)
        finally:
            lease.cancel()
            clock.cancel()
            with contextlib.suppress(Exception):
                await kv.delete(self.worker_id)  # a clean exit hands its cells over at once
            with contextlib.suppress(Exception):  # its node may be gone: nothing to flush to
                await nc.close()

    async def _keep_lease(self, kv: KeyValue, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await kv.put(self.worker_id, str(now_ns()).encode())
            except Exception as error:  # a node down: the client fails over; retry soon
                log.warning("worker %s: lease renewal failed: %s", self.worker_id, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cluster.lease_ttl_s / 3)

    async def _tick(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Publish a tick into the reports stream every tick_s (a lost one is only a later
        window close)."""
        subject = clock_subject(self.worker_id)
        while not stop.is_set():
            try:
                await js.publish(subject, b"", timeout=self.cluster.tick_s)
            except Exception as error:
                log.debug("worker %s: tick not stored: %s", self.worker_id, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cluster.tick_s)

    async def live_workers(self, kv: KeyValue) -> list[str]:
        """Worker ids holding a lease (always including this one)."""
        try:
            keys = await kv.keys()
        except NoKeysError:
            keys = []
        return sorted(set(keys) | {self.worker_id})

    # -- consuming -------------------------------------------------------------------------
    async def _consume(self, js: JetStreamContext, kv: KeyValue, stop: asyncio.Event) -> None:
        subscription: JetStreamContext.PullSubscription | None = None
        last_sequence = 0
        next_membership_check = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_membership_check:
                next_membership_check = time.monotonic() + self.cluster.lease_ttl_s / 3
                try:
                    owned = owned_cells(
                        self.cells,
                        await self.live_workers(kv),
                        self.worker_id,
                        self.cluster.ownership_block_cells,
                    )
                except Exception as error:
                    log.warning("worker %s: lease list unavailable: %s", self.worker_id, error)
                    owned = self._owned if self._owned is not None else set()
                if owned != self._owned:
                    subscription = await self._rebuild(js, owned, subscription)
                    last_sequence = 0
            if subscription is None:
                await asyncio.sleep(0.1)
                continue
            try:
                messages = await subscription.fetch(500, timeout=0.5)
            except TimeoutError:  # nothing new (nats' own TimeoutError is one too)
                continue
            except Exception as error:  # its consumer lost with a node: resume after the last
                log.warning("worker %s: fetch failed (%r); resuming", self.worker_id, error)
                subscription = await self._resume(js, subscription, last_sequence)
                continue
            for msg in messages:
                sequence = msg.metadata.sequence.stream
                if sequence <= last_sequence:
                    continue  # redelivered after a resume
                last_sequence = sequence
                await self._handle(js, msg)

    async def _rebuild(
        self,
        js: JetStreamContext,
        owned: set[str],
        old: JetStreamContext.PullSubscription | None,
    ) -> JetStreamContext.PullSubscription | None:
        """Own `owned` from now on: fresh associator, consumer from replay_s ago."""
        self.stats.rebuilds += 1
        self.stats.owned = sorted(owned)
        self._owned = owned
        await self._unsubscribe(old)
        self._filter = read_cells(
            owned, self.cells, max_halo_m(self.fusion), self.cluster.cell_size_m
        )
        nearby = [s for s in self.sensors if self.cell_of_sensor[s.id] in self._filter]
        self._associator = Associator(nearby, self.frame, self.fusion)
        self._seen.clear()
        self._replayed_until_ns = now_ns()
        start_ns = self._replayed_until_ns - round(self.cluster.replay_s * NS_PER_S)
        self._horizon_ns = start_ns + self._max_window_ns
        log.info(
            "worker %s owns %d cell(s), reads %d; replaying from %.0f s ago",
            self.worker_id,
            len(owned),
            len(self._filter),
            self.cluster.replay_s,
        )
        if not self._filter:
            return None
        start = datetime.datetime.fromtimestamp(start_ns / NS_PER_S, tz=datetime.UTC)
        return await self._subscribe(
            js, DeliverPolicy.BY_START_TIME, opt_start_time=start, opt_start_seq=None
        )

    async def _resume(
        self,
        js: JetStreamContext,
        old: JetStreamContext.PullSubscription,
        last_sequence: int,
    ) -> JetStreamContext.PullSubscription | None:
        """A new consumer on the same filter, from the stream sequence after `last_sequence`
        (its consumer, R1 in memory, may have died with its node)."""
        await self._unsubscribe(old)
        await asyncio.sleep(0.5)
        if last_sequence == 0:
            self._owned = None  # nothing read yet: rebuild from the replay start
            return None
        return await self._subscribe(
            js,
            DeliverPolicy.BY_START_SEQUENCE,
            opt_start_time=None,
            opt_start_seq=last_sequence + 1,
        )

    async def _subscribe(
        self,
        js: JetStreamContext,
        policy: DeliverPolicy,
        opt_start_time: datetime.datetime | None,
        opt_start_seq: int | None,
    ) -> JetStreamContext.PullSubscription | None:
        name = f"fusion-{self.worker_id}-{self.stats.rebuilds}-{now_ns()}"
        config = ConsumerConfig(
            name=name,
            deliver_policy=policy,
            opt_start_time=opt_start_time,
            opt_start_seq=opt_start_seq,
            ack_policy=AckPolicy.NONE,
            filter_subjects=[*cell_subjects(self._filter), CLOCK_SUBJECTS],
            inactive_threshold=30.0,
            num_replicas=1,
            mem_storage=True,
        )
        try:
            await js.add_consumer(REPORTS_STREAM, config)
            return await js.pull_subscribe_bind(consumer=name, stream=REPORTS_STREAM)
        except Exception as error:
            log.warning("worker %s: cannot create its consumer: %s", self.worker_id, error)
            self._owned = None  # retried at the next membership check
            return None

    async def _unsubscribe(self, subscription: JetStreamContext.PullSubscription | None) -> None:
        if subscription is None:
            return
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()

    # -- one report ------------------------------------------------------------------------
    async def _handle(self, js: JetStreamContext, msg: Msg) -> None:
        """Fuse one stream message: a tick closes windows at its stream time; a report of a
        cell within its class's halo of an owned cell closes them at its own, then joins."""
        stream_ns = stream_time_ns(msg)
        self._watch_lag(stream_ns)
        if is_clock_subject(msg.subject):
            self.stats.ticks += 1
            await self._publish(js, await self._fuse(stream_ns))
            return
        self.stats.reports += 1
        where = parse_report_subject(msg.subject)
        if where is None or self._owned is None:
            return
        cell, sensor_id = where
        try:
            report = EventReport.from_json(msg.data)
        except ValidationError:
            return  # the storage writer records the rejection
        if report.sensor_id != sensor_id or self.cell_of_sensor.get(sensor_id) != cell:
            return
        owned_xy = [parse_cell(c) for c in self._owned]
        if not within(
            parse_cell(cell), owned_xy, halo_m(report.class_, self.fusion), self.cluster.cell_size_m
        ):
            return
        self.stats.kept += 1
        if report.report_id not in self._seen:
            self._seen[report.report_id] = _Seen(msg.metadata.sequence.stream, stream_ns, cell)
            while len(self._seen) > MAX_REMEMBERED_REPORTS:
                self._seen.popitem(last=False)
        await self._publish(js, await self._fuse(stream_ns, report))

    def _watch_lag(self, stream_ns: int) -> None:
        """Track how far behind the stream this worker fuses; warn (once a minute at most)
        past half of replay_s: a successor replays replay_s of it, so a lag beyond that would
        leave incidents that nobody emits."""
        if stream_ns < self._replayed_until_ns:
            return  # replaying what came before the last rebuild: behind on purpose
        lag_s = (now_ns() - stream_ns) / NS_PER_S
        self.stats.max_lag_s = max(self.stats.max_lag_s, lag_s)
        if lag_s > self.cluster.replay_s / 2 and time.monotonic() > self._next_lag_warning:
            self._next_lag_warning = time.monotonic() + 60.0
            log.warning(
                "worker %s fuses %.0f s behind the stream (replay_s %.0f s)",
                self.worker_id,
                lag_s,
                self.cluster.replay_s,
            )

    async def _fuse(self, stream_ns: int, report: EventReport | None = None) -> list[Incident]:
        """`fuse_at` on this worker's associator, counting failures. It runs in a thread: a
        fusion step takes tens of milliseconds (seconds on a bad report), and on the event loop
        a backlog of them starved the lease renewals, so a busy worker's lease lapsed, its
        cells moved and every worker replayed, again and again. (One step at a time: the
        associator is only ever used by the awaited call.)"""
        emitted = await asyncio.to_thread(fuse_at, self._associator, stream_ns, report)
        if emitted is None:
            self.stats.fusion_errors += 1
            return []
        return emitted

    async def _publish(self, js: JetStreamContext, incidents: list[Incident]) -> None:
        for incident in incidents:
            anchor = self._anchor(incident)
            if anchor is None or anchor.cell not in (self._owned or set()):
                self.stats.not_owner += 1
                continue
            if anchor.stream_ns < self._horizon_ns:
                self.stats.before_horizon += 1
                continue
            msg_id = f"{incident.incident_id}.{incident.revision}"
            while True:
                try:
                    ack = await js.publish(
                        incident_subject(anchor.cell),
                        incident.model_dump_json(by_alias=True).encode(),
                        headers={MSG_ID: msg_id},
                    )
                    break
                except Exception as error:  # no PubAck: retried with the same Nats-Msg-Id
                    log.warning("worker %s: publishing %s: %s", self.worker_id, msg_id, error)
                    await asyncio.sleep(0.5)
            if ack.duplicate:
                self.stats.duplicate_publishes += 1
            else:
                self.stats.emitted += 1

    def _anchor(self, incident: Incident) -> _Seen | None:
        """The member report first in the stream, as this worker saw it."""
        seen = [self._seen[r] for r in incident.report_ids if r in self._seen]
        return min(seen, key=lambda s: s.sequence) if seen else None
