"""The MQTT front door: sensors keep paho-mqtt and their `ouie/v1` topics, and lose nothing when
a NATS node dies.

NATS's MQTT listener turns a sensor's `ouie/v1/sensors/<id>/reports` into the subject
`ouie.v1.sensors.<id>.reports`, which the stream OUIE_INGEST (R3) captures. Its QoS 1 PUBACK
does not prove the stream has the report (it may PUBACK one that the stream, electing a leader
after a node's death, never stored: docs/cluster.md), so sensors of a cluster keep each report
until a **receipt** (`SensorUplink` with `receipt_timeout_s`):

    sensor ─MQTT QoS 1─▶ OUIE_INGEST ─durable `ingest` (work queue of the ingest stages)─▶
        ReportGateway.publish on ouie.v1.reports.<cell>.<sensor>, Nats-Msg-Id = report id,
        until PubAck (OUIE_REPORTS has it on a quorum)
        → receipt: JSON list of report ids on ouie.v1.sensors.<id>.receipts
          (= MQTT ouie/v1/sensors/<id>/receipts)
        → ack the ingest messages

A sensor that gets no receipt publishes the report again; OUIE_REPORTS drops the repeat on its
Nats-Msg-Id (and the store's unique report id is the backstop), so the report is in the
reports stream once, and fusion sees it as from a gateway. A message from an unknown sensor or
that is no report is acknowledged and dropped with a warning (the sensor would resend it for
ever otherwise; the writer's validation would reject it anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from ouie.cluster.config import ClusterConfig
from ouie.cluster.gateway import ReportGateway
from ouie.cluster.streams import (
    INGEST_STREAM,
    INGESTER,
    bind_work_consumer,
    connect,
    ensure_streams,
    pulled_batches,
)
from ouie.core.report import EventReport

log = logging.getLogger(__name__)


def receipt_subject(sensor_id: str) -> str:
    """The NATS subject of MQTT topic `ouie/v1/sensors/<sensor_id>/receipts`."""
    return f"ouie.v1.sensors.{sensor_id}.receipts"


def sensor_of_ingest_subject(subject: str) -> str | None:
    """The sensor id of `ouie.v1.sensors.<id>.reports`, None for another subject."""
    parts = subject.split(".")
    if len(parts) == 5 and parts[:3] == ["ouie", "v1", "sensors"] and parts[4] == "reports":
        return parts[3]
    return None


@dataclass
class IngestStats:
    """What an ingest stage did: reports moved into OUIE_REPORTS, and messages dropped."""

    forwarded: int = 0
    dropped: int = 0


class MqttIngest:
    """Moves reports from OUIE_INGEST into OUIE_REPORTS and sends receipts (module docstring)."""

    def __init__(
        self,
        cluster: ClusterConfig,
        cell_of_sensor: dict[str, str],
        batch: int = 500,
        ack_wait_s: float = 30.0,
    ) -> None:
        self.cluster, self.cell_of_sensor = cluster, cell_of_sensor
        self.batch, self.ack_wait_s = batch, ack_wait_s
        self.stats = IngestStats()

    async def run(self, stop: asyncio.Event) -> None:
        """Move and receipt until `stop` is set."""
        nc = await connect(self.cluster, "ingest")
        js = nc.jetstream(timeout=5)
        await ensure_streams(js, self.cluster)
        try:
            async with ReportGateway(
                nc, self.cell_of_sensor, give_up_s=self.ack_wait_s / 2
            ) as gateway:
                async for messages in pulled_batches(
                    lambda: self._bind(js), self.batch, stop.is_set, "ingest"
                ):
                    await self._forward(nc, gateway, messages)
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    async def _bind(self, js: JetStreamContext) -> JetStreamContext.PullSubscription | None:
        return await bind_work_consumer(
            js, INGEST_STREAM, INGESTER, self.ack_wait_s, 20_000, self.cluster.replicas
        )

    async def _forward(self, nc: Client, gateway: ReportGateway, messages: list[Msg]) -> None:
        """Publish every report of the batch into OUIE_REPORTS (concurrently, each until its
        PubAck), then receipt them per sensor, then acknowledge the batch. A publish that
        gives up leaves its message unacknowledged: redelivered after ack_wait_s."""
        reports: list[tuple[Msg, EventReport]] = []
        for msg in messages:
            report = self._report(msg)
            if report is None:
                self.stats.dropped += 1
                with contextlib.suppress(Exception):
                    await msg.ack()
            else:
                reports.append((msg, report))
        outcomes = await asyncio.gather(
            *(gateway.publish(report) for _, report in reports), return_exceptions=True
        )
        receipts: dict[str, list[str]] = defaultdict(list)
        for (_msg, report), outcome in zip(reports, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.warning("ingest: report %s not forwarded: %r", report.report_id, outcome)
                continue
            receipts[report.sensor_id].append(report.report_id)
            self.stats.forwarded += 1
        for sensor_id, report_ids in receipts.items():
            with contextlib.suppress(Exception):  # a lost receipt: the sensor sends again
                await nc.publish(receipt_subject(sensor_id), json.dumps(report_ids).encode())
        for (msg, _report), outcome in zip(reports, outcomes, strict=True):
            if not isinstance(outcome, BaseException):
                with contextlib.suppress(Exception):  # not acked: redelivered, dropped by id
                    await msg.ack()

    def _report(self, msg: Msg) -> EventReport | None:
        """The report of an ingest message from a known sensor, None (logged) otherwise."""
        sensor_id = sensor_of_ingest_subject(msg.subject)
        if sensor_id not in self.cell_of_sensor:
            log.warning("ingest: message on %s from an unknown sensor: dropped", msg.subject)
            return None
        try:
            report = EventReport.from_json(msg.data)
        except (ValidationError, ValueError):
            log.warning("ingest: a message on %s that is no report: dropped", msg.subject)
            return None
        if report.sensor_id != sensor_id:
            log.warning("ingest: report of %s on %s: dropped", report.sensor_id, msg.subject)
            return None
        return report
