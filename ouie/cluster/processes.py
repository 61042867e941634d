"""Entry points of the cluster's processes: `python -m ouie.cluster.processes fusion CONFIG ID`,
`... writer CONFIG` (also `ouie cluster fusion|writer`). SIGTERM or SIGINT stops them cleanly
(a fusion worker drops its lease, so its cells move at once); kill -9 is what failover is for.
Optional `--servers URL,URL` overrides `cluster.servers` of the config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from ouie.cluster.config import ClusterSiteConfig, load_cluster_site
from ouie.cluster.fusion_worker import FusionWorker
from ouie.cluster.writer import StorageWriter

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


def run_fusion(config: Path, worker_id: str, servers: list[str] | None = None) -> None:
    """Run one fusion worker until signalled."""
    site = _with_servers(load_cluster_site(config), servers)
    worker = FusionWorker(worker_id, site.cluster, site.sensors(), site.frame, site.fusion)
    asyncio.run(_until_signalled(worker.run))
    log.info("fusion worker %s stopped: %s", worker_id, worker.stats)


def run_writer(config: Path, servers: list[str] | None = None) -> None:
    """Run one storage writer until signalled."""
    from ouie.store.repository import Store

    site = _with_servers(load_cluster_site(config), servers)
    store = Store.open(site.database_url)
    writer = StorageWriter(store, site.cluster, site.sensors())
    try:
        asyncio.run(_until_signalled(writer.run))
    finally:
        store.close()
    log.info("writer stopped: %s", writer.stats)


def main(argv: list[str] | None = None) -> None:
    """Parse `fusion CONFIG ID` / `writer CONFIG` and run it."""
    parser = argparse.ArgumentParser(prog="python -m ouie.cluster.processes")
    parser.add_argument("role", choices=["fusion", "writer"])
    parser.add_argument("config", type=Path)
    parser.add_argument("worker_id", nargs="?", default="w1")
    parser.add_argument("--servers", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    servers = [s for s in args.servers.split(",") if s]
    if args.role == "fusion":
        run_fusion(args.config, args.worker_id, servers)
    else:
        run_writer(args.config, servers)


if __name__ == "__main__":
    main()
