"""A whole clustered deployment on one machine, for trials, tests and the bench: a
`LocalNatsCluster`, fusion workers and storage writers as separate processes (so that kill -9
is real), all reading one cluster site config whose `cluster.servers` is replaced by the local
nodes' URLs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError
from sqlalchemy import select

from ouie.cluster.audit import APPENDER_BUCKET
from ouie.cluster.config import ClusterConfig, load_cluster_site
from ouie.cluster.gateway import GatewayStats, ReportGateway
from ouie.cluster.lease import HOLDER_KEY
from ouie.cluster.local import LocalNatsCluster
from ouie.cluster.notifier import NOTIFIER_BUCKET
from ouie.cluster.streams import (
    AUDIT_STREAM,
    INCIDENTS_STREAM,
    INGEST_STREAM,
    MSG_ID,
    REPORTS_STREAM,
    WORKERS_BUCKET,
    connect,
    ensure_streams,
)
from ouie.cluster.synthetic import read_stream, reference_incidents, stream_reports
from ouie.core.config import ConfigError
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident
from ouie.core.recording import SensorSite
from ouie.core.timebase import NS_PER_S
from ouie.fusion.config import FusionConfig
from ouie.fusion.synthetic import Delivery
from ouie.store.models import IncidentRow, ReportRow
from ouie.store.repository import Store

STREAMS = (REPORTS_STREAM, INCIDENTS_STREAM, INGEST_STREAM, AUDIT_STREAM)


@dataclass(frozen=True)
class NodeStatus:
    """A NATS node as `LocalDeployment.status` sees it."""

    name: str
    url: str
    mqtt_port: int
    alive: bool
    leads: list[str]


@dataclass(frozen=True)
class ProcessStatus:
    """A worker, writer, appender or notifier process: alive, and whether it holds a lease (a
    fusion worker: its own; an appender or a notifier: its kind's single one)."""

    name: str
    pid: int
    alive: bool
    holds_lease: bool


class LocalDeployment:
    """NATS nodes + fusion workers w1…wN + writers + audit appenders audit1… + notifiers
    notify1… on loopback (see module docstring)."""

    def __init__(
        self,
        folder: Path,
        site_config: Path,
        cluster: ClusterConfig,
        nodes: int = 3,
        workers: int = 2,
        writers: int = 1,
        appenders: int = 0,
        notifiers: int = 0,
    ) -> None:
        if cluster.replicas > nodes:
            raise ConfigError(
                f"cluster.replicas is {cluster.replicas}: the streams need that many nodes, not "
                f"{nodes} (set cluster.replicas: {nodes} for a trial on {nodes})"
            )
        self.folder, self.site_config = folder, site_config
        sensor_ids = None
        if cluster.security is not None:  # the nodes need every sensor's account
            sensor_ids = [sensor.id for sensor in load_cluster_site(site_config).sensors()]
        self.nats = LocalNatsCluster(folder / "nats", nodes, cluster.security, sensor_ids)
        self.cluster = cluster.model_copy(update={"servers": self.nats.urls})
        self.worker_ids = [f"w{i + 1}" for i in range(workers)]
        self.writer_count = writers
        self.appender_ids = [f"audit{i + 1}" for i in range(appenders)]
        self.notifier_ids = [f"notify{i + 1}" for i in range(notifiers)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the nodes, the writers and the workers at once (the processes wait for the
        servers); return once the streams exist and every worker holds its lease. If that
        fails, everything started is stopped before the error goes up (callers start before
        their `try`: a failed start left three nats-servers running)."""
        try:
            for node in self.nats.nodes:
                self.nats.start_node(node)
            for index in range(self.writer_count):
                self._spawn(f"writer{index + 1}", "writer")
            for worker_id in self.worker_ids:
                self._spawn(worker_id, "fusion", "--id", worker_id)
            for appender_id in self.appender_ids:
                self._spawn(appender_id, "audit", "--id", appender_id)
            for notifier_id in self.notifier_ids:
                self._spawn(notifier_id, "notify", "--id", notifier_id)
            self.nats.wait_ready(timeout_s)
            asyncio.run(self._ensure_streams())
            self.wait_workers(set(self.worker_ids), timeout_s)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, role: str, *args: str) -> None:
        """`ouie cluster <role> CONFIG ARGS --servers URLS` as a process of its own."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from ouie.cli import main; main()",
                    "cluster",
                    role,
                    str(self.site_config),
                    *args,
                    "--servers",
                    ",".join(self.cluster.servers),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )

    async def _ensure_streams(self) -> None:
        nc = await connect(self.cluster, "trial")
        try:
            await ensure_streams(nc.jetstream(timeout=10), self.cluster)
        finally:
            await nc.close()

    def leases(self) -> set[str]:
        """The workers holding a lease now."""

        async def read() -> set[str]:
            nc = await connect(self.cluster, "trial-leases")
            try:
                kv = await nc.jetstream(timeout=5).key_value(WORKERS_BUCKET)
                try:
                    return set(await kv.keys())
                except NoKeysError:
                    return set()
            finally:
                await nc.close()

        return asyncio.run(read())

    def audit_holder(self) -> str | None:
        """The audit appender holding the lease now, None if none does."""
        return self.lease_holder(APPENDER_BUCKET)

    def lease_holder(self, bucket: str) -> str | None:
        """The holder of the single-holder lease in `bucket` now, None if none does."""

        async def read() -> str | None:
            nc = await connect(self.cluster, "trial-lease")
            try:
                try:
                    kv = await nc.jetstream(timeout=5).key_value(bucket)
                    entry = await kv.get(HOLDER_KEY)
                except (BucketNotFoundError, KeyNotFoundError):  # none has started yet
                    return None
                return entry.value.decode() if entry.value else None
            finally:
                await nc.close()

        return asyncio.run(read())

    def status(self) -> tuple[list[NodeStatus], list[ProcessStatus]]:
        """The nodes (alive, streams they lead) and the processes (alive, lease held), as
        asked now (a stream or bucket that does not answer shows no leader or no lease)."""

        async def read() -> tuple[dict[str, list[str]], set[str], set[str]]:
            led: dict[str, list[str]] = {}
            nc = await connect(self.cluster, "trial-status", timeout_s=5.0)
            try:
                js = nc.jetstream(timeout=2)
                for stream in STREAMS:
                    with contextlib.suppress(Exception):
                        info = await js.stream_info(stream)
                        if info.cluster is not None and info.cluster.leader:
                            led.setdefault(info.cluster.leader, []).append(stream)
                workers: set[str] = set()
                with contextlib.suppress(Exception):
                    workers = set(await (await js.key_value(WORKERS_BUCKET)).keys())
                holders: set[str] = set()
                for bucket in (APPENDER_BUCKET, NOTIFIER_BUCKET):
                    with contextlib.suppress(Exception):
                        entry = await (await js.key_value(bucket)).get(HOLDER_KEY)
                        if entry.value:
                            holders.add(entry.value.decode())
                return led, workers, holders
            finally:
                await nc.close()

        led, workers, holders = asyncio.run(read())
        nodes = [
            NodeStatus(n.name, n.url, n.mqtt_port, n.alive, led.get(n.name, []))
            for n in self.nats.nodes
        ]
        processes = [
            ProcessStatus(
                name,
                process.pid,
                process.poll() is None,
                name in workers or name in holders,
            )
            for name, process in self.processes.items()
        ]
        return nodes, processes

    def wait_workers(self, expected: set[str], timeout_s: float = 60.0) -> None:
        """Until exactly `expected` hold leases; TimeoutError with the logs otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.leases() == expected:
                    return
            except Exception:  # the bucket electing a leader, a loaded machine: ask again
                pass
            for name, process in self.processes.items():
                if process.poll() is not None and name in expected:
                    raise RuntimeError(f"{name} exited:\n{self.log(name)}")
            time.sleep(0.2)
        raise TimeoutError(f"the workers holding a lease never were {expected}")

    def kill(self, name: str) -> None:
        """kill -9 one process (a worker or writer)."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def log(self, name: str, tail_chars: int = 4000) -> str:
        """The end of a process's log."""
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-tail_chars:] if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM every process and node at once (SIGKILL after 10 s): a clean stop is not
        what is under trial."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        self.nats.stop()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def incident_signature(
    status: str, report_ids: list[str], lat: float | None, lon: float | None
) -> tuple[object, ...]:
    """What must match between the cluster's and the reference's last revision of an incident:
    status, reports, position (to 1e-6°). Not the revision number: a worker's `Associator`
    does not hold the candidates of sounds beyond its halo, and a report the city-wide one
    tried in such a candidate first can reach the same incident by fewer revisions."""
    return (
        str(status),
        tuple(sorted(report_ids)),
        None if lat is None else round(lat, 6),
        None if lon is None else round(lon, 6),
    )


def _stored(store: Store) -> tuple[list[str], dict[str, tuple[object, ...]], dict[str, int]]:
    """Report ids stored (with repeats, if any), the signature and the revision of every
    stored incident."""
    with store.session() as session:
        report_ids = list(session.scalars(select(ReportRow.report_id)))
        rows = list(session.scalars(select(IncidentRow)))
    incidents = {r.id: incident_signature(r.status, r.report_ids, r.lat, r.lon) for r in rows}
    return report_ids, incidents, {r.id: r.revision for r in rows}


def settled(
    deployment: LocalDeployment,
    store: Store,
    published_ids: set[str],
    sensors: list[SensorSite],
    frame: LocalFrame,
    fusion: FusionConfig,
    timeout_s: float = 120.0,
    with_reference: bool = True,
) -> dict[str, object]:
    """Once every report is acknowledged: compare what the cluster stores and emits with what
    was published and with one Associator on the same stream (the reference), waiting until
    nothing is lost or missing or different, or `timeout_s` (a slow machine only takes
    longer). Figures: lost, duplicate_reports, duplicate_incidents (an incident revision
    published twice, or stored and not in the reference), missing_incidents,
    mismatched_incidents (status, reports or position differ from the reference's last
    revision), other_revision_count (same incident reached by another number of revisions),
    incident latency (first publication of an incident − the latest onset
    among its first revision's reports), settle_s (until the store agreed: no less than
    reference_s, the time the reference took). Without `with_reference` (a stream too long
    for one process to fuse in the time at hand) it waits for the reports only, and the
    figures that need the reference are None."""
    began = time.monotonic()
    cluster = deployment.cluster
    stream = read_stream(cluster, REPORTS_STREAM)  # final: only ticks come after the last ack
    reports = stream_reports(stream)
    reference = reference_incidents(stream, sensors, frame, fusion) if with_reference else {}
    expected = {
        i: incident_signature(inc.status, inc.report_ids, inc.lat, inc.lon)
        for i, inc in reference.items()
    }
    reference_s = time.monotonic() - began
    while True:
        report_ids, got, revisions = _stored(store)
        lost = len(published_ids - set(report_ids))
        missing = len(set(expected) - set(got))
        mismatched = sum(1 for i in set(expected) & set(got) if expected[i] != got[i])
        if lost == missing == mismatched == 0 or time.monotonic() - began > timeout_s:
            break
        time.sleep(0.2)
    settle_s = time.monotonic() - began
    emitted = read_stream(cluster, INCIDENTS_STREAM)
    per_msg_id = Counter(m.headers.get(MSG_ID) for m in emitted)
    onset_ns = {r.report_id: r.onset_ns for _, r in reports}
    first_seen: dict[str, tuple[int, list[str]]] = {}
    for message in emitted:
        incident = Incident.from_json(message.data)
        if incident.incident_id not in first_seen:
            first_seen[incident.incident_id] = (message.stored_ns, incident.report_ids)
    latencies_s = [
        (at_ns - max(onset_ns[r] for r in ids)) / NS_PER_S
        for at_ns, ids in first_seen.values()
        if all(r in onset_ns for r in ids)
    ]
    return {
        "published_reports": len(published_ids),
        "stored_reports": len(set(report_ids)),
        "lost": lost,
        "duplicate_reports": len(report_ids) - len(set(report_ids)),
        "stream_reports": len(reports),
        "reference_incidents": len(expected) if with_reference else None,
        "stored_incidents": len(got),
        "duplicate_incidents": sum(n - 1 for n in per_msg_id.values())
        + (len(set(got) - set(expected)) if with_reference else 0),
        "missing_incidents": missing if with_reference else None,
        "mismatched_incidents": mismatched if with_reference else None,
        "other_revision_count": sum(
            1 for i in set(expected) & set(got) if revisions[i] != reference[i].revision
        )
        if with_reference
        else None,
        "incident_latency_p50_s": _percentile(latencies_s, 50),
        "incident_latency_p99_s": _percentile(latencies_s, 99),
        "settle_s": round(settle_s, 2),
        "reference_s": round(reference_s, 2),
    }


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


SEND_AHEAD_S = 0.005
"""`play` sends a report up to this early rather than sleep for less (at 5,000 reports/s an
event-loop turn per report costs more than the reports)."""


async def play(
    cluster: ClusterConfig,
    deliveries: list[Delivery],
    cell_of_sensor: dict[str, str],
    at_fraction: dict[float, Callable[[], None]] | None = None,
) -> tuple[set[str], GatewayStats]:
    """Publish `deliveries` through a `ReportGateway` at their arrival times (real time, from
    the first; pipelined: a publish waiting for its PubAck holds up no other, up to the
    gateway's max_in_flight), calling each `at_fraction`
    action once that fraction of them is out (a kill, in a test). Returns once every report is
    acknowledged: the report ids published, and the gateway's counts."""
    actions = sorted((at_fraction or {}).items())
    nc = await connect(cluster, "gateway")
    try:
        async with ReportGateway(nc, cell_of_sensor) as gateway:
            start_ns = time.time_ns()
            first_ns = deliveries[0].arrival_ns if deliveries else 0
            acks: list[asyncio.Future[None]] = []
            for index, delivery in enumerate(deliveries):
                while actions and index >= actions[0][0] * len(deliveries):
                    actions.pop(0)[1]()
                wait_s = (delivery.arrival_ns - first_ns - (time.time_ns() - start_ns)) / NS_PER_S
                if wait_s > SEND_AHEAD_S:  # those due are sent back to back
                    await asyncio.sleep(wait_s)
                acks.append(await gateway.submit(delivery.report))
            for _fraction, action in actions:
                action()
            await asyncio.gather(*acks)
            return {d.report.report_id for d in deliveries}, gateway.stats
    finally:
        await nc.close()
