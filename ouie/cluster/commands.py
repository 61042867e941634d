"""Command-line commands of ouie.cluster (registered by ouie.cli): `ouie cluster fusion|writer`
(one process of a clustered deployment each) and `ouie cluster up` (a whole one on this
machine, for trials). See docs/cluster.md."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ouie.core.commands import shared_group

if TYPE_CHECKING:
    from rich.table import Table

    from ouie.cluster.trial import LocalDeployment

SERVERS_HELP = "NATS URLs, comma-separated (default: cluster.servers of the config)."


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    group = shared_group(app, "cluster", "The city-scale deployment on a NATS cluster.")
    group.command("fusion")(fusion)
    group.command("writer")(writer)
    group.command("audit")(audit)
    group.command("notify")(notify)
    group.command("up")(up)
    group.command("secrets")(secrets)


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


def notify(
    config: Path = typer.Argument(..., help="Cluster site config (YAML)."),
    notifier_id: str = typer.Option(..., "--id", help="This notifier's id (unique)."),
    servers: str = typer.Option("", help=SERVERS_HELP),
) -> None:
    """Run one notifier until SIGTERM or Ctrl-C: run two or more; the one holding the lease
    sends the alerts of the cluster's incidents (`notify:` of the config), another takes over
    when it dies."""
    from ouie.cluster.processes import run_notifier

    run_notifier(config, notifier_id, _servers(servers))


def secrets(
    config: Path = typer.Argument(..., help="Cluster site config (YAML) with cluster.security."),
) -> None:
    """Write a password for `central` and for every sensor of the site into
    `cluster.security.secrets_dir` (`<account>.secret`, mode 0600); existing ones are kept and
    new sensors get theirs. Copy the folder to every broker node, `central.secret` to the
    other ouie processes, and give each sensor its own."""
    from ouie.cluster.config import load_cluster_site
    from ouie.core.config import ConfigError
    from ouie.transport.broker import CENTRAL_USER, provision_accounts

    try:
        site = load_cluster_site(config)
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from None
    if site.cluster.security is None:
        raise typer.BadParameter("cluster.security is not set: there is nowhere to write secrets")
    folder = site.cluster.security.secrets_dir
    sensors = [sensor.id for sensor in site.sensors()]
    provision_accounts(folder, [CENTRAL_USER, *sensors])
    typer.echo(f"{folder}: {CENTRAL_USER} and {len(sensors)} sensor accounts")


def up(
    config: Path = typer.Argument(..., help="Cluster site config (YAML)."),
    folder: Path = typer.Option(
        Path("cluster-run"), help="Where the nodes' stores and every process's log go."
    ),
    nodes: int = typer.Option(3, min=1, help="NATS nodes."),
    workers: int = typer.Option(2, min=1, help="Fusion workers."),
    writers: int = typer.Option(1, min=1, help="Storage writers (each with an MQTT ingest)."),
    appenders: int = typer.Option(2, min=1, help="Audit appenders (one appends at a time)."),
    notifiers: int = typer.Option(2, min=0, help="Notifiers (one notifies at a time)."),
    refresh_s: float = typer.Option(2.0, min=0.5, help="Status table refresh interval, s."),
) -> None:
    """Start a whole clustered deployment on loopback (NATS nodes, fusion workers w1…,
    writers, audit appenders) and show a live table of nodes, processes and leases until
    Ctrl-C (or SIGTERM), which stops every process."""
    import signal
    import time

    from rich.console import Console
    from rich.live import Live

    from ouie.cluster.config import load_cluster_site
    from ouie.cluster.trial import LocalDeployment
    from ouie.core.config import ConfigError
    from ouie.store.repository import Store

    try:
        site = load_cluster_site(config)
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from None
    try:
        deployment = LocalDeployment(
            folder.resolve(),
            config.resolve(),
            site.cluster,
            nodes,
            workers,
            writers,
            appenders,
            notifiers,
        )
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from None
    console = Console()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it as Ctrl-C
    try:
        with console.status("starting the nodes and processes…"):
            Store.open(site.database_url).close()  # migrated once, not raced by every process
            deployment.start()
        console.print(f"up: {','.join(deployment.cluster.servers)} (logs in {folder})")
        with Live(console=console, auto_refresh=False) as live:
            while True:
                live.update(status_table(deployment), refresh=True)
                time.sleep(refresh_s)
    except KeyboardInterrupt:
        pass
    finally:
        with console.status("stopping…"):
            deployment.stop()
        console.print("stopped")


def status_table(deployment: LocalDeployment) -> Table:
    """Nodes (alive, MQTT port, streams they lead) and processes (alive, lease), as now."""
    from rich.table import Table

    table = Table(title="ouie cluster (Ctrl-C stops it)")
    for column in ("what", "name", "address / pid", "state", "leads / lease"):
        table.add_column(column)
    try:
        nodes, processes = deployment.status()
    except Exception as error:  # every node down, or the machine too busy to answer
        table.add_row("cluster", "-", "-", f"[red]no answer ({error!r})[/red]", "-")
        return table
    for node in nodes:
        state = "[green]up[/green]" if node.alive else "[red]down[/red]"
        where = f"{node.url}, mqtt :{node.mqtt_port}"
        table.add_row("node", node.name, where, state, ", ".join(node.leads) or "-")
    for process in processes:
        state = "[green]running[/green]" if process.alive else "[red]exited[/red]"
        lease = "holds" if process.holds_lease else "-"
        table.add_row("process", process.name, str(process.pid), state, lease)
    return table
