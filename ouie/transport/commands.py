"""Command-line commands of ouie.transport (registered by ouie.cli): `ouie broker-config`."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.command("broker-config")(broker_config)


def broker_config(
    sensors: Path = typer.Option(..., "--sensors", help="Sensors GeoJSON (one account each)."),
    out: Path = typer.Option(
        ..., "--out", help="Folder for mosquitto.conf, passwd, acl, secrets/."
    ),
    port: int | None = typer.Option(
        None, help="Listener port (default 8883 with TLS, 1883 without)."
    ),
    bind: str = typer.Option("127.0.0.1", help="Listener address (the sensors' network)."),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="Broker certificate (PEM): the listener speaks only TLS."
    ),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="Its private key (PEM)."),
    tls_ca: Path | None = typer.Option(
        None, "--tls-ca", help="CA certificate that clients give as broker.tls.ca_file."
    ),
) -> None:
    """Write a Mosquitto configuration with one account per sensor (user = sensor id) and one
    for the central service, and an ACL that keeps each sensor to its own topics. Passwords go
    to OUT/secrets/<user>.secret; re-running keeps existing ones and adds new sensors."""
    from ouie.core.recording import RecordingFormatError, read_sensors_geojson
    from ouie.transport.broker import (
        CENTRAL_USER,
        ListenerTls,
        provision_accounts,
        write_mosquitto_config,
    )
    from ouie.transport.mqtt import default_port

    try:
        sites = read_sensors_geojson(sensors)
    except RecordingFormatError as error:
        raise typer.BadParameter(str(error)) from None
    tls_files = (tls_cert, tls_key, tls_ca)
    if any(f is not None for f in tls_files) and not all(f is not None for f in tls_files):
        raise typer.BadParameter("TLS needs --tls-cert, --tls-key and --tls-ca together")
    tls = None
    if tls_cert is not None and tls_key is not None and tls_ca is not None:
        tls = ListenerTls(tls_ca.resolve(), tls_cert.resolve(), tls_key.resolve())
    accounts = provision_accounts(out / "secrets", [CENTRAL_USER, *(s.id for s in sites)])
    conf = write_mosquitto_config(
        out, port or default_port(tls), accounts, bind_address=bind, tls=tls
    )
    typer.echo(
        f"{conf}: {len(sites)} sensor accounts + {CENTRAL_USER}; secrets in {out / 'secrets'} "
        f"(give each sensor its own; the central reads {CENTRAL_USER}.secret via "
        "broker.password_file)"
    )
