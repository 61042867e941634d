"""`ouie serve --role console`: the operator console of a clustered deployment.

The console reads and writes the store (PostgreSQL) as the single-process service's does:
incidents, dispositions, outcomes, users, profiles; an operator's acts are appended to the
audit chain in the same transaction (the chain takes appends from several processes: its
sequence number is unique, a collision is tried again). What the single process gets from its
own fusion, this one gets from the cluster: `IncidentStreamRelay` follows OUIE_INCIDENTS from
now on (an ephemeral consumer per console process) and, once the writer has stored a revision,
publishes the stored view on the console's live feed, as `FeedRelay` does for the single
process. Any number of console processes may run behind a load balancer (sessions are in the
store; give them one `console.session_secret_file`).

Not here: camera cueing and the video desk (the cameras are driven by the single-process
service only), and the notify outputs' disposition updates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from ouie.cluster.config import ClusterSiteConfig, load_cluster_site
from ouie.cluster.streams import INCIDENTS_SUBJECTS, connect
from ouie.console.config import ConsoleConfig
from ouie.console.feed import LiveFeed
from ouie.console.relay import FeedRelay
from ouie.core.config import validate_config
from ouie.core.incident import Incident
from ouie.store.repository import Store

log = logging.getLogger(__name__)


class IncidentStreamRelay:
    """Incident revisions from the cluster's stream to a console's live feed, each once the
    store holds it (module docstring)."""

    def __init__(self, site: ClusterSiteConfig, store: Store, feed: LiveFeed) -> None:
        self.site, self.store = site, store
        self.relay = FeedRelay(store, feed)
        self.relayed = 0
        self.not_stored = 0
        """Revisions the writer had not stored within `store_wait_s` (logged, not relayed)."""

    async def run(self, stop: asyncio.Event, store_wait_s: float = 10.0) -> None:
        """Follow the incidents published from now on until `stop` is set."""
        log.info("console: connecting to %s", ", ".join(self.site.cluster.servers))
        nc = await connect(self.site.cluster, "console")
        js = nc.jetstream(timeout=10)
        queue: asyncio.Queue[Msg] = asyncio.Queue()
        subscription = await self._subscribe(js, queue, stop)
        log.info("console: following %s", INCIDENTS_SUBJECTS)
        try:
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(queue.get(), timeout=0.5)
                except TimeoutError:
                    continue
                await asyncio.to_thread(self.relay_revision, msg.data, store_wait_s)
        finally:
            await subscription.unsubscribe()
            await nc.close()

    @staticmethod
    async def _subscribe(
        js: JetStreamContext, queue: asyncio.Queue[Msg], stop: asyncio.Event
    ) -> JetStreamContext.PushSubscription:
        """An ordered consumer of the incidents published from now on, tried again every
        second until it can be made (the stream may not exist yet, or be electing)."""
        while True:
            try:
                return await js.subscribe(
                    INCIDENTS_SUBJECTS,
                    cb=queue.put,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.NEW,
                )
            except Exception as error:
                if stop.is_set():
                    raise
                log.warning("console: cannot follow the incidents yet (%r)", error)
                await asyncio.sleep(1.0)

    def relay_revision(self, data: bytes, store_wait_s: float) -> None:
        """Publish the incident `data` announces once the store holds that revision or a later
        one (polled every 0.1 s for at most `store_wait_s`)."""
        try:
            incident = Incident.from_json(data)
        except ValueError:
            log.exception("console: an incident message it cannot read: ignored")
            return
        deadline = time.monotonic() + store_wait_s
        while True:
            row = self.store.get_incident(incident.incident_id)
            if row is not None and row.revision >= incident.revision:
                self.relay.relay_incident({"id": incident.incident_id})
                self.relayed += 1
                return
            if time.monotonic() > deadline:
                self.not_stored += 1
                log.warning(
                    "console: incident %s revision %d not stored after %.0f s: not shown live",
                    incident.incident_id,
                    incident.revision,
                    store_wait_s,
                )
                return
            time.sleep(0.1)


def run_console(config: Path, host: str, port: int) -> None:
    """Serve the console of the cluster site `config` on `host:port` until SIGTERM or Ctrl-C
    (ConfigError naming a bad `console.` field)."""
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    from ouie.console.api import ConsoleServices
    from ouie.console.app import create_console_app
    from ouie.console.views import CuePolicyView, MapView

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    site = load_cluster_site(config)
    console_config = validate_config(site.console, ConsoleConfig, f"{config}: console")
    store = Store.open(site.database_url)
    feed = LiveFeed()
    services = ConsoleServices(
        store,
        feed,
        CuePolicyView(mode="off"),
        MapView.of_site(site.origin, []),
    )
    app = FastAPI(title=f"ouie console {site.name}", docs_url=None, redoc_url=None)
    app.mount("/console", create_console_app(services, console_config))
    app.add_api_route("/", lambda: RedirectResponse("/console/"), include_in_schema=False)
    app.add_api_route("/healthz", lambda: {"status": "ok"}, include_in_schema=False)
    relay = IncidentStreamRelay(site, store, feed)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, timeout_graceful_shutdown=2, log_level="info")
    )

    async def serve() -> None:
        stop = asyncio.Event()
        following = asyncio.create_task(relay.run(stop))
        following.add_done_callback(_say_if_failed)
        try:
            await server.serve()
        finally:
            stop.set()
            feed.close()
            await following

    try:
        asyncio.run(serve())
    finally:
        store.close()
    log.info(
        "console stopped: %d revisions relayed, %d not stored", relay.relayed, relay.not_stored
    )


def _say_if_failed(task: asyncio.Task[None]) -> None:
    """Log at once why the relay stopped, if it failed (the console goes on without a live
    feed of new incidents: its lists still read the store)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("console: the incident relay stopped", exc_info=task.exception())
