"""The way reports enter the cluster: JetStream publishes that hold until the stream's PubAck.

`ReportGateway.publish` sends one report on `ouie.v1.reports.<cell>.<sensor>` with
Nats-Msg-Id = its report id and waits for the PubAck, which JetStream gives once a quorum of the
stream's replicas (2 of 3) stored it. Without one (a node died, the stream is electing a
leader: a few seconds) it tries again, on whichever node the connection fails over to, until
`give_up_s`: delivery is at least once, and the stream drops a repeat of a report id within its
duplicate window, so it is stored once. A gateway stands for many sensors behind one connection
(a site's concentrator; the bench and tests); `max_in_flight` publishes wait at a time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from nats.js import JetStreamContext

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


class ReportGateway:
    """At-least-once publishing of reports into OUIE_REPORTS (see module docstring)."""

    def __init__(
        self,
        js: JetStreamContext,
        cell_of_sensor: dict[str, str],
        ack_timeout_s: float = 2.0,
        retry_s: float = 0.2,
        give_up_s: float = 60.0,
        max_in_flight: int = 256,
    ) -> None:
        self.js, self.cell_of_sensor = js, cell_of_sensor
        self.ack_timeout_s, self.retry_s, self.give_up_s = ack_timeout_s, retry_s, give_up_s
        self.stats = GatewayStats()
        self._slots = asyncio.Semaphore(max_in_flight)

    async def publish(self, report: EventReport) -> None:
        """Until the stream acknowledges `report` (stored, or a repeat it dropped);
        TimeoutError after give_up_s."""
        subject = report_subject(self.cell_of_sensor[report.sensor_id], report.sensor_id)
        payload = report.to_json().encode()
        began = time.monotonic()
        deadline = began + self.give_up_s
        async with self._slots:
            while True:
                try:
                    ack = await self.js.publish(
                        subject,
                        payload,
                        timeout=self.ack_timeout_s,
                        headers={MSG_ID: report.report_id},
                    )
                except Exception as error:  # no PubAck: the stream or a node is failing over
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"report {report.report_id}: no PubAck in {self.give_up_s} s "
                            f"(last error: {error!r})"
                        ) from error
                    self.stats.retries += 1
                    await asyncio.sleep(self.retry_s)
                    continue
                if ack.duplicate:
                    self.stats.duplicates += 1
                else:
                    self.stats.acknowledged += 1
                waited_s = time.monotonic() - began
                self.stats.longest_wait_s = max(self.stats.longest_wait_s, waited_s)
                return
