"""Synthetic cities for trials of the cluster (tests, bench): a grid of sensors, a site config
file, the stream read back, and the single-process reference run that the cluster's incidents
must equal."""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import nats.errors
import yaml
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ouie.cluster.config import ClusterConfig
from ouie.cluster.fusion_worker import fuse_at
from ouie.cluster.streams import connect, parse_report_subject, stream_time_ns
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident
from ouie.core.recording import SensorSite, sensors_geojson
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S
from ouie.fusion.association import Associator
from ouie.fusion.config import FusionConfig
from ouie.fusion.synthetic import ReportNoise

TRIAL_CLASSES = ("gunshot", "glass_break", "scream")
"""The alerting classes a trial's events take in turn."""
TRIAL_NOISE = ReportNoise(
    hearing_range_m=300.0,
    sure_range_m=150.0,
    false_alarms_per_sensor_hour=0.0,
    latency_mean_s=0.05,
    late_rate=0.0,
    duplicate_rate=0.05,
)
"""What the network does to a trial's reports: heard to 300 m on a 200 m grid, 5 % delivered
twice, no false alarms (so the cluster's incidents can be compared with one process's)."""


def sensor_grid(frame: LocalFrame, count: int, spacing_m: float) -> list[SensorSite]:
    """`count` sensors s1…sN on a square grid `spacing_m` apart, centred on the origin."""
    side = math.ceil(math.sqrt(count))
    sites = []
    for k in range(count):
        east = (k % side - (side - 1) / 2) * spacing_m
        north = (k // side - (side - 1) / 2) * spacing_m
        lat, lon, _ = frame.to_wgs84(east, north, frame.origin_height_m)
        sites.append(SensorSite(id=f"s{k + 1}", lat=float(lat), lon=float(lon)))
    return sites


def write_site(
    folder: Path,
    sensors: list[SensorSite],
    frame: LocalFrame,
    fusion: FusionConfig,
    cluster: ClusterConfig,
    database_url: str,
) -> Path:
    """Write sensors.geojson and site.yaml (`ouie.cluster.config.ClusterSiteConfig`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sensors.geojson").write_text(json.dumps(sensors_geojson(sensors)))
    site = {
        "name": "trial",
        "origin": {
            "lat": frame.origin_lat_deg,
            "lon": frame.origin_lon_deg,
            "height_m": frame.origin_height_m,
        },
        "sensors_file": "sensors.geojson",
        "database_url": database_url,
        "fusion": fusion.model_dump(mode="json"),
        "cluster": cluster.model_dump(mode="json"),
    }
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


@dataclass(frozen=True)
class StreamMessage:
    """One message of a stream as stored: sequence, store time (UTC ns), subject, data,
    headers."""

    sequence: int
    stored_ns: int
    subject: str
    data: bytes
    headers: dict[str, str]


def read_stream(
    cluster: ClusterConfig, stream: str, timeout_s: float = 120.0
) -> list[StreamMessage]:
    """Every message of `stream` up to its last sequence when called, in order, read through a
    consumer as the workers read it (same store times, `stream_time_ns`). A fetch that times
    out (a node failing over, a slow machine) is tried again, and so is the whole read when
    its consumer went with a dead node, until `timeout_s`: it never returns part of the stream."""
    deadline = time.monotonic() + timeout_s

    async def read() -> list[StreamMessage]:
        nc = await connect(cluster, "reader")
        js = nc.jetstream(timeout=10)
        name = f"reader-{time.time_ns()}"
        try:
            last = (await js.stream_info(stream)).state.last_seq
            if last == 0:
                return []
            await js.add_consumer(
                stream,
                ConsumerConfig(
                    name=name,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.NONE,
                    inactive_threshold=10.0,
                    num_replicas=1,
                    mem_storage=True,
                ),
            )
            subscription = await js.pull_subscribe_bind(consumer=name, stream=stream)
            out: list[StreamMessage] = []
            while not out or out[-1].sequence < last:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{stream}: read up to {len(out)} of {last} messages")
                try:
                    messages = await subscription.fetch(1000, timeout=1.0)
                except TimeoutError:
                    continue
                out += [
                    StreamMessage(
                        msg.metadata.sequence.stream,
                        stream_time_ns(msg),
                        msg.subject,
                        msg.data,
                        dict(msg.headers or {}),
                    )
                    for msg in messages
                ]
            return [m for m in out if m.sequence <= last]
        finally:
            await nc.close()

    while True:
        try:
            return asyncio.run(read())
        except (TimeoutError, nats.errors.Error):  # electing; a consumer on a dead node: 503
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def stream_reports(stream: list[StreamMessage]) -> list[tuple[int, EventReport]]:
    """(stream time ns, report) of every report message of the reports stream, in order."""
    return [
        (m.stored_ns, EventReport.from_json(m.data))
        for m in stream
        if parse_report_subject(m.subject) is not None
    ]


def reference_incidents(
    stream: list[StreamMessage],
    sensors: list[SensorSite],
    frame: LocalFrame,
    fusion: FusionConfig,
) -> dict[str, Incident]:
    """The last revision of every incident one `Associator` emits on the whole reports stream
    (reports and ticks, in stream order) with the workers' clock and their `fuse_at`: windows
    close at each message's stream time, before a report is added at it; all close at the
    end."""
    associator = Associator(sensors, frame, fusion)
    emitted: list[Incident] = []
    last_ns = 0
    for message in stream:
        last_ns = max(last_ns, message.stored_ns)
        report = None
        if parse_report_subject(message.subject) is not None:
            report = EventReport.from_json(message.data)
        emitted += fuse_at(associator, message.stored_ns, report) or []
    emitted += fuse_at(associator, last_ns + 3600 * NS_PER_S) or []
    latest: dict[str, Incident] = {}
    for incident in emitted:
        previous = latest.get(incident.incident_id)
        if previous is None or incident.revision > previous.revision:
            latest[incident.incident_id] = incident
    return latest
