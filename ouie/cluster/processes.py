"""The cluster's processes (`ouie cluster fusion|writer|audit`): SIGTERM or SIGINT stops them
cleanly (a fusion worker or an audit appender drops its lease, so another takes over at once);
kill -9 is what failover is for.
`servers` overrides `cluster.servers` of the config."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from ouie.cluster.config import ClusterConfig, ClusterSiteConfig, load_cluster_site
from ouie.cluster.fusion_worker import FusionWorker
from ouie.cluster.local import NodeAccounts, NodeListen, nats_server_binary, node_config
from ouie.cluster.writer import StorageWriter
from ouie.core.config import ConfigError

log = logging.getLogger(__name__)


def _with_servers(site: ClusterSiteConfig, servers: list[str] | None) -> ClusterSiteConfig:
    if not servers:
        return site
    cluster = site.cluster.model_copy(update={"servers": servers})
    return site.model_copy(update={"cluster": cluster})


async def _until_signalled(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `run(stop)`, with `stop` set by SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(stop)


def _log_with_time() -> None:
    """INFO and above to stderr, with the time: a cluster's logs are read side by side."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def run_fusion(config: Path, worker_id: str, servers: list[str] | None = None) -> None:
    """Run one fusion worker until signalled."""
    _log_with_time()
    site = _with_servers(load_cluster_site(config), servers)
    worker = FusionWorker(worker_id, site.cluster, site.sensors(), site.frame, site.fusion)
    asyncio.run(_until_signalled(worker.run))
    log.info("fusion worker %s stopped: %s", worker_id, worker.stats)


def run_writer(config: Path, servers: list[str] | None = None) -> None:
    """Run one storage writer, and one MQTT ingest stage beside it (both stateless: any number
    of writer processes share their work queues), until signalled."""
    _log_with_time()
    from ouie.cluster.cells import sensor_cells
    from ouie.cluster.ingest import MqttIngest
    from ouie.store.repository import Store

    site = _with_servers(load_cluster_site(config), servers)
    sensors = site.sensors()
    store = Store.open(site.database_url)
    writer = StorageWriter(store, site.cluster, sensors)
    ingest = MqttIngest(site.cluster, sensor_cells(sensors, site.frame, site.cluster.cell_size_m))

    async def both(stop: asyncio.Event) -> None:
        await asyncio.gather(writer.run(stop), ingest.run(stop))

    try:
        asyncio.run(_until_signalled(both))
    finally:
        store.close()
    log.info("writer stopped: %s; ingest: %s", writer.stats, ingest.stats)


def run_audit(config: Path, appender_id: str, servers: list[str] | None = None) -> None:
    """Run one audit appender until signalled (it appends while it holds the lease)."""
    _log_with_time()
    from ouie.cluster.audit import AuditAppender
    from ouie.store.repository import Store

    site = _with_servers(load_cluster_site(config), servers)
    store = Store.open(site.database_url)
    appender = AuditAppender(appender_id, store, site.cluster)
    try:
        asyncio.run(_until_signalled(appender.run))
    finally:
        store.close()
    log.info("audit appender %s stopped: %s", appender_id, appender.stats)


def broker_listen(cluster: ClusterConfig, node: str) -> tuple[NodeListen, list[str]]:
    """How node `node` (the host of one of `cluster.servers`) listens, and its routes to the
    others: client port from its URL, route and MQTT ports from the config, on every address."""
    hosts = {urlsplit(url).hostname: urlsplit(url).port or 4222 for url in cluster.servers}
    if node not in hosts:
        raise ConfigError(
            f"--id {node!r}: not the host of one of cluster.servers ({', '.join(map(str, hosts))})"
        )
    listen = NodeListen(node, "0.0.0.0", hosts[node], cluster.route_port, cluster.mqtt_port)
    return listen, [f"{host}:{cluster.route_port}" for host in hosts if host != node]


def run_broker(config: Path, node: str) -> None:
    """Write this node's nats-server configuration into `cluster.broker_store_dir` and become
    that nats-server (exec: its signals, logs and exit status are the server's)."""
    site = load_cluster_site(config)
    listen, routes = broker_listen(site.cluster, node)
    folder = site.cluster.broker_store_dir
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nats.conf"
    security = site.cluster.security
    if security is None:
        log.warning("cluster.security is not set: node %s lets anyone in (trials only)", node)
        accounts = None
    else:
        accounts = NodeAccounts.read(security, [sensor.id for sensor in site.sensors()])
    conf.touch(mode=0o600)  # it names the node's key and hashes every account's password
    replicas = site.cluster.replicas
    conf.write_text(node_config(listen, routes, folder / "jetstream", replicas, accounts=accounts))
    binary = str(nats_server_binary())
    os.execv(binary, [binary, "-c", str(conf)])


def run_notifier(config: Path, notifier_id: str, servers: list[str] | None = None) -> None:
    """Run one cluster notifier until signalled (it notifies while it holds the lease); its
    outputs' durable queues live in `notify.outbox_dir`/<notifier id> (what it queued before
    dying is sent when it runs again)."""
    _log_with_time()
    from ouie.cluster.audit import StreamAuditSink
    from ouie.cluster.notifier import ClusterNotifier
    from ouie.cluster.streams import connect
    from ouie.notify.notifier import Notifier

    site = _with_servers(load_cluster_site(config), servers)
    # each notifier its own durable queues: another's sender must not send from them
    outputs = site.notify.model_copy(update={"outbox_dir": site.notify.outbox_dir / notifier_id})

    async def notify(stop: asyncio.Event) -> None:
        nc = await connect(site.cluster, f"notifier-audit-{notifier_id}")
        audit = StreamAuditSink(nc.jetstream(timeout=5), asyncio.get_running_loop())
        notifier = Notifier(outputs, city=site.name, audit=audit)
        stage = ClusterNotifier(notifier_id, notifier, site.cluster)
        try:
            await stage.run(stop)
        finally:
            await asyncio.to_thread(notifier.close)
            await nc.close()
        log.info("notifier %s stopped: %s", notifier_id, stage.stats)

    asyncio.run(_until_signalled(notify))
