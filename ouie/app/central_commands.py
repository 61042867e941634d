"""Command-line commands that run or inspect a city (registered by ouie.cli): `ouie serve` and
`ouie audit verify|export`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ouie.app.cluster_roles import Role

if TYPE_CHECKING:
    from ouie.store.audit import AuditKey, AuditKeyConfig
    from ouie.store.repository import Store

audit_app = typer.Typer(help="Verify or export the hash-chained audit trail.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.command("serve")(serve)
    app.add_typer(audit_app, name="audit")


def serve(
    config: Path = typer.Option(..., "--config", "-c", help="City configuration (city.yaml)."),
    host: str | None = typer.Option(None, help="HTTP bind address (default: http.host)."),
    port: int | None = typer.Option(None, help="HTTP port (default: http.port)."),
    role: Role = typer.Option(
        Role.CENTRAL,
        help="central: the whole service in one process (city file). broker, fusion, writer, "
        "audit, notify, console: one process of a clustered deployment (cluster site file; "
        "docs/deployment.md).",
    ),
    process_id: str | None = typer.Option(
        None,
        "--id",
        help="broker: its host in cluster.servers; fusion, audit, notify: this process's "
        "unique id.",
    ),
) -> None:
    """Run the central service: reports in over MQTT, incidents out, /healthz and /metrics;
    or, with --role, one process of a clustered deployment."""
    if role is not Role.CENTRAL:
        from ouie.app.cluster_roles import run_cluster_role

        run_cluster_role(role, config, process_id, host, port)
        return
    import hashlib
    import logging

    import uvicorn
    from rich.console import Console

    from ouie.app.config import load_city_config
    from ouie.app.serve import build_central
    from ouie.core.config import ConfigError
    from ouie.store.audit import AuditKeyMissing

    console = Console(stderr=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        city = load_city_config(config)
        runtime = build_central(city, config_sha256=hashlib.sha256(config.read_bytes()).hexdigest())
    except (ConfigError, ValueError, AuditKeyMissing) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    console.print(
        f"ouie central [bold]{city.name}[/bold]: {len(runtime.service.sensors)} sensors, "
        f"database {runtime.store.engine.url.render_as_string(hide_password=True)}, "
        f"transport {city.transport}, cameras {'on' if runtime.cameras else 'none'}, console "
        f"{'/console' if city.console else 'off'}"
    )
    try:
        # Open consoles keep a live-feed stream each; do not let them hold a shutdown.
        uvicorn.run(
            runtime.app,
            host=host or city.http.host,
            port=port or city.http.port,
            timeout_graceful_shutdown=2,
        )
    finally:
        runtime.close()


@audit_app.command("verify")
def audit_verify(
    db: str | None = typer.Option(None, "--db", help="Database URL (sqlite:///ouie.db, ...)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Or the city.yaml to read."),
    jsonl: Path | None = typer.Option(None, "--jsonl", help="Or verify an exported JSONL file."),
    expect_head: str | None = typer.Option(
        None, "--expect-head", help="Head hash published earlier: also detects a cut tail."
    ),
    key_files: list[Path] = typer.Option(
        [],
        "--key-file",
        help="A file holding an audit key used before the current one (repeatable). The "
        "current key comes from the city file's audit section, else OUIE_AUDIT_KEY.",
    ),
) -> None:
    """Check the audit chain with its HMAC key(s); name every edited, deleted, inserted or
    unkeyed row. Exit 1 if broken."""
    from rich.console import Console
    from rich.table import Table

    from ouie.store.audit import AuditKeyConfig, verify_chain

    console = Console()
    earlier_keys = [_read_key(path) for path in key_files]
    if jsonl is not None:
        from ouie.store.audit import read_jsonl

        with jsonl.open(encoding="utf-8") as lines:
            entries = list(read_jsonl(lines))
        current = _key_or_exit(AuditKeyConfig())
        keys = [*earlier_keys, *([current] if current is not None else [])]
        problems = verify_chain(entries, expect_head, keys)
        count, head = len(entries), entries[-1]["hash"] if entries else "-"
    else:
        store = _open_existing(db, config)
        problems = store.audit.verify(expect_head, earlier_keys)
        count, head = store.audit.head()
        store.close()
    if not problems:
        console.print(f"[green]audit chain intact[/green]: {count} entries, head {head}")
        return
    table = Table(title=f"audit chain BROKEN: {len(problems)} problem(s)")
    for column in ("row (seq)", "problem", "detail"):
        table.add_column(column)
    for problem in problems:
        table.add_row(str(problem.seq), problem.kind, problem.message)
    console.print(table)
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    out: Path = typer.Argument(..., help="JSON-lines file to write (one entry per line)."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Or the city.yaml to read."),
) -> None:
    """Export the audit chain for an oversight body; it verifies on its own (`--jsonl`)."""
    store = _open_existing(db, config)
    with out.open("w", encoding="utf-8") as handle:
        count = store.audit.export_jsonl(handle)
    seq, head = store.audit.head()
    store.close()
    typer.echo(f"{count} entries written to {out}; head seq {seq} hash {head}")


def _open_existing(db: str | None, config: Path | None) -> Store:
    """The store named by --db or by the config's database_url, without migrating it, with
    the audit key of the config's audit section (with --db: of OUIE_AUDIT_KEY)."""
    from ouie.app.config import load_city_config
    from ouie.core.config import ConfigError
    from ouie.store.audit import AuditKeyConfig
    from ouie.store.database import current_revision, head_revision
    from ouie.store.repository import Store

    if db is None and config is None:
        raise typer.BadParameter("give --db URL or --config city.yaml")
    key_config = AuditKeyConfig()
    if db is None:
        assert config is not None
        try:
            city = load_city_config(config)
        except ConfigError as error:
            raise typer.BadParameter(str(error)) from None
        db, key_config = city.database_url, city.audit
    store = Store.open(db, upgrade=False, audit_key=_key_or_exit(key_config))
    found, expected = current_revision(store.engine), head_revision()
    if found != expected:
        store.close()
        raise typer.BadParameter(
            f"the database schema is at revision {found}, this ouie reads {expected}: start "
            "`ouie serve` on it once (it migrates), then verify"
        )
    return store


def _key_or_exit(key_config: AuditKeyConfig) -> AuditKey | None:
    """The configured audit key; a clear error (exit 2) when it is configured but unusable."""
    from ouie.core.config import ConfigError

    try:
        return key_config.key()
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from None


def _read_key(path: Path) -> AuditKey:
    """An earlier audit key from `path`, for `audit verify --key-file`."""
    from ouie.store.audit import AuditKeyConfig

    key = _key_or_exit(AuditKeyConfig(key_file=path, key_env=None))
    assert key is not None  # a key file gives a key or an error
    return key
