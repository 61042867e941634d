"""Command-line commands of ouie.cluster (registered by ouie.cli): `ouie cluster fusion|writer`
(one process of a clustered deployment each) and `ouie cluster up` (a whole one on this
machine, for trials). See docs/cluster.md."""

from __future__ import annotations

from pathlib import Path

import typer

from ouie.core.commands import shared_group

SERVERS_HELP = "NATS URLs, comma-separated (default: cluster.servers of the config)."


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    group = shared_group(app, "cluster", "The city-scale deployment on a NATS cluster.")
    group.command("fusion")(fusion)
    group.command("writer")(writer)
    group.command("audit")(audit)
    group.command("up")(up)


def _servers(servers: str) -> list[str]:
    return [s for s in servers.split(",") if s]


def fusion(
    config: Path = typer.Argument(..., help="Cluster site config (YAML)."),
    worker_id: str = typer.Option(..., "--id", help="This worker's id (unique, no '.')."),
    servers: str = typer.Option("", help=SERVERS_HELP),
) -> None:
    """Run one fusion worker until SIGTERM or Ctrl-C (its cells move to the others at once;
    after kill -9, once its lease expires)."""
    from ouie.cluster.processes import run_fusion

    run_fusion(config, worker_id, _servers(servers))


def writer(
    config: Path = typer.Argument(..., help="Cluster site config (YAML)."),
    servers: str = typer.Option("", help=SERVERS_HELP),
) -> None:
    """Run one storage writer until SIGTERM or Ctrl-C (any number may run: one work queue)."""
    from ouie.cluster.processes import run_writer

    run_writer(config, _servers(servers))


def audit(
    config: Path = typer.Argument(..., help="Cluster site config (YAML)."),
    appender_id: str = typer.Option(..., "--id", help="This appender's id (unique)."),
    servers: str = typer.Option("", help=SERVERS_HELP),
) -> None:
    """Run one audit appender until SIGTERM or Ctrl-C: run two or more; the one holding the
    lease appends the cluster's audit events to the chain, another takes over when it dies."""
    from ouie.cluster.processes import run_audit

    run_audit(config, appender_id, _servers(servers))


def up(
    config: Path = typer.Argument(..., help="Cluster site config (YAML)."),
    folder: Path = typer.Option(
        Path("cluster-run"), help="Where the nodes' stores and every process's log go."
    ),
    nodes: int = typer.Option(3, min=1, help="NATS nodes."),
    workers: int = typer.Option(2, min=1, help="Fusion workers."),
    writers: int = typer.Option(1, min=1, help="Storage writers."),
) -> None:
    """Start a whole clustered deployment on loopback (NATS nodes, fusion workers w1…,
    writers) and keep it up until Ctrl-C; prints the NATS URLs a gateway publishes to."""
    import time

    from ouie.cluster.config import load_cluster_site
    from ouie.cluster.trial import LocalDeployment
    from ouie.core.config import ConfigError

    try:
        site = load_cluster_site(config)
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from None
    deployment = LocalDeployment(
        folder.resolve(), config.resolve(), site.cluster, nodes, workers, writers
    )
    deployment.start()
    typer.echo(f"up: {','.join(deployment.cluster.servers)} (logs in {folder})")
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        deployment.stop()
