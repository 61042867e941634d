"""Alerts out of a clustered deployment: `ouie.notify`'s `Notifier`, one at a time by lease,
fed from the incidents stream.

`Notifier` is not stateless: it remembers each incident's alerts (raised, then updated; CAP
references to the earlier messages), so one incident's revisions must reach one notifier, in
order. A queue group would scatter them (revision 2 of an incident at another copy would be
raised again). So any number of `ClusterNotifier`s run and the one holding the lease
(`ouie.cluster.lease`, bucket `ouie_notifier`) reads OUIE_INCIDENTS through the durable
consumer `notifier` (R3, explicit acks, in stream order):

    fetch ≤ batch → Notifier.incident_changed for each (→ its outputs' durable queues,
    `ouie.notify.delivery`: on disk, retried with backoff) → Notifier.handed_over → ack

A message is acknowledged once every alert it made is in a durable queue, so the cluster hands
each incident revision to the notifiers once, and again only if the holder died between the
hand-over and the ack (an at-least-once repeat, same alert id). Weak: a notifier that takes
over starts with no alert history; an incident raised by the previous holder is raised again
on its next revision, not updated (the history is in memory, not in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from pydantic import ValidationError

from ouie.cluster.config import ClusterConfig
from ouie.cluster.lease import hold_and_run
from ouie.cluster.streams import INCIDENTS_STREAM, bind_work_consumer, pulled_batches
from ouie.core.incident import Incident
from ouie.notify.notifier import Notifier
from ouie.store.records import IncidentRecord

log = logging.getLogger(__name__)

NOTIFIER_BUCKET = "ouie_notifier"
NOTIFIER_CONSUMER = "notifier"


@dataclass
class ClusterNotifierStats:
    """Incident revisions handed to the notifier, and times it took the lease."""

    handed: int = 0
    leases_taken: int = 0


class ClusterNotifier:
    """Feeds a `Notifier` from OUIE_INCIDENTS while holding the lease (module docstring)."""

    def __init__(
        self,
        notifier_id: str,
        notifier: Notifier,
        cluster: ClusterConfig,
        batch: int = 100,
        ack_wait_s: float = 30.0,
    ) -> None:
        self.notifier_id, self.notifier, self.cluster = notifier_id, notifier, cluster
        self.batch, self.ack_wait_s = batch, ack_wait_s
        self.stats = ClusterNotifierStats()

    async def run(self, stop: asyncio.Event) -> None:
        """Take the lease whenever it is free and notify while holding it, until `stop`."""

        async def notify(js: JetStreamContext, lost: asyncio.Event) -> None:
            self.stats.leases_taken += 1
            await self._notify_until(js, lost, stop)

        name = f"notifier-{self.notifier_id}"
        await hold_and_run(self.cluster, name, NOTIFIER_BUCKET, self.notifier_id, notify, stop)

    async def _notify_until(
        self, js: JetStreamContext, lost: asyncio.Event, stop: asyncio.Event
    ) -> None:
        """Fetch, hand over, ack, until the lease is lost or `stop`."""
        async for messages in pulled_batches(
            lambda: self._bind(js),
            self.batch,
            lambda: lost.is_set() or stop.is_set(),
            f"notifier {self.notifier_id}",
        ):
            for msg in messages:
                try:
                    record = IncidentRecord.from_incident(Incident.from_json(msg.data))
                except (ValidationError, ValueError):
                    log.exception("notifier: an incident message it cannot read: dropped")
                    continue
                self.notifier.incident_changed(
                    "incident", record.model_dump(mode="json", by_alias=True)
                )
                self.stats.handed += 1
            if not await asyncio.to_thread(self.notifier.handed_over, self.ack_wait_s / 2):
                continue  # not acknowledged: redelivered after ack_wait_s
            for msg in messages:
                with contextlib.suppress(Exception):
                    await msg.ack()

    async def _bind(self, js: JetStreamContext) -> JetStreamContext.PullSubscription | None:
        return await bind_work_consumer(
            js, INCIDENTS_STREAM, NOTIFIER_CONSUMER, self.ack_wait_s, 10_000, self.cluster.replicas
        )
