"""Configuration of the NATS cluster deployment (`cluster:` in the city config, with
`transport: nats`): where the servers are, the cell grid, the streams and the leases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from ouie.core.config import ConfigError, StrictModel, load_yaml_config
from ouie.core.geo import LocalFrame
from ouie.core.recording import SensorSite, read_sensors_geojson
from ouie.core.site import Origin
from ouie.fusion.config import FusionConfig
from ouie.notify.config import NotifyConfig
from ouie.transport.broker import CENTRAL_USER
from ouie.transport.mqtt import TlsConfig


class ClusterSecurity(StrictModel):
    """Who may use the cluster and how it is encrypted. Every account has a password in
    `secrets_dir/<account>.secret` (as `ouie broker-config` writes them): `central` for the ouie
    processes (and, between nodes, for the routes), one per sensor (user = sensor id) for the
    MQTT front door, where a sensor may only publish and read its own `ouie/v1/sensors/<id>/…`
    topics. A broker node reads every account's secret; the other processes only `central`'s."""

    secrets_dir: Path = Field(
        description="Folder of `<account>.secret` files (mode 0600), relative to the config."
    )
    tls: TlsConfig | None = Field(
        default=None,
        description="TLS on every port (clients, routes, MQTT): `ca_file` signs every node's "
        "certificate; a broker node also needs its `cert_file` and `key_file` (valid for "
        "server and client authentication: nodes verify each other on the routes).",
    )

    def password(self, account: str = CENTRAL_USER) -> str:
        """The password of `account`; ConfigError naming the file when it cannot be read."""
        path = self.secrets_dir / f"{account}.secret"
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"cluster.security.secrets_dir: cannot read {path} ({error})"
            ) from None
        if not password:
            raise ConfigError(f"cluster.security.secrets_dir: {path} is empty")
        return password

    def client_options(self) -> dict[str, Any]:
        """nats-py `connect` options of an ouie process: the `central` account, and TLS
        checked against `tls.ca_file` (and the node's host name) when the cluster has TLS."""
        options: dict[str, Any] = {"user": CENTRAL_USER, "password": self.password()}
        if self.tls is not None:
            options["tls"] = self.tls.context()
        return options

    def resolved(self, base: Path) -> ClusterSecurity:
        """The same with relative paths taken from `base` (the configuration's folder)."""
        tls = self.tls.resolved(base) if self.tls is not None else None
        return ClusterSecurity(secrets_dir=base / self.secrets_dir, tls=tls)


class ClusterConfig(StrictModel):
    """How the ouie processes of a clustered deployment meet on NATS."""

    servers: list[str] = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"],
        min_length=1,
        description="NATS URLs of the cluster's nodes (clients fail over between them).",
    )
    route_port: int = Field(
        default=6222, ge=1, le=65535, description="Port the nodes route to each other on."
    )
    mqtt_port: int = Field(
        default=1883, ge=1, le=65535, description="Port of each node's MQTT 3.1.1 listener."
    )
    broker_store_dir: Path = Field(
        default=Path("/var/lib/ouie/nats"),
        description="Where a node (`ouie serve --role broker`) keeps its JetStream files.",
    )
    cell_size_m: float = Field(
        default=1000.0,
        gt=0,
        description="Side of the square cells of the ENU grid that key the report subjects, m.",
    )
    ownership_block_cells: int = Field(
        default=5,
        ge=1,
        description="Fusion workers own cells by squares of this many cells a side: larger "
        "squares share less halo between workers, fewer squares balance worse (see "
        "docs/cluster.md).",
    )
    replicas: int = Field(
        default=3, ge=1, le=5, description="JetStream replicas of every stream and bucket."
    )
    reports_max_age_s: float = Field(
        default=3600.0, gt=0, description="How long the reports stream keeps a report, s."
    )
    duplicate_window_s: float = Field(
        default=120.0,
        gt=0,
        description="JetStream de-duplication window on Nats-Msg-Id (incident revisions), s.",
    )
    lease_ttl_s: float = Field(
        default=10.0,
        gt=0,
        description="A fusion worker that has not renewed its lease this long is dead: its "
        "cells go to the others, s. Above the time the lease bucket takes to elect a leader "
        "when a node dies (6–9 s measured on a loaded 2-core machine), or every node death "
        "also moves cells and makes workers replay.",
    )
    replay_s: float = Field(
        default=60.0,
        gt=0,
        description="How far back a worker replays its cells after ownership changes; must "
        "exceed the longest waiting window + late_report_grace_s of fusion, and stay under "
        "duplicate_window_s, s.",
    )
    security: ClusterSecurity | None = Field(
        default=None,
        description="Accounts and TLS (`ClusterSecurity`); None: every port open to anyone who "
        "reaches it, for trials on loopback only.",
    )
    tick_s: float = Field(
        default=0.25,
        gt=0,
        description="Every fusion worker stores a tick in the reports stream this often: "
        "windows close at the ticks' stream times while no report comes (an incident waits "
        "for its window and at most about this long), s.",
    )

    def client_options(self) -> dict[str, Any]:
        """nats-py `connect` options that log in (`ClusterSecurity.client_options`); none on an
        open cluster."""
        return self.security.client_options() if self.security is not None else {}

    @model_validator(mode="after")
    def _replay_within_dedupe(self) -> ClusterConfig:
        """A worker that replays re-emits what the dead one emitted: the repeat must still
        be in the incidents stream's de-duplication window."""
        if self.replay_s >= self.duplicate_window_s:
            raise ValueError(
                f"cluster.replay_s ({self.replay_s} s) must be shorter than "
                f"cluster.duplicate_window_s ({self.duplicate_window_s} s)"
            )
        return self


class ClusterSiteConfig(StrictModel):
    """What every process of a clustered deployment needs (a city config's subset): the frame,
    the sensors, fusion, the database and the cluster. Relative paths are resolved beside the
    file (sensors_file, notify.outbox_dir, cluster.security) by `load_cluster_site`."""

    name: str = Field(description="Deployment name.")
    origin: Origin = Field(description="Origin of the local ENU frame (the cell grid's too).")
    sensors_file: Path = Field(description="Sensors GeoJSON (relative to the config file).")
    database_url: str = Field(description="SQLAlchemy URL of the store (PostgreSQL).")
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    console: dict[str, Any] = Field(
        default_factory=dict,
        description="The operator console of `ouie serve --role console` "
        "(`ouie.console.config.ConsoleConfig`: time zone, tiles, sessions), validated by that "
        "role; the other processes ignore it.",
    )
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig,
        description="Alert outputs of the cluster's notifier (`ouie.notify.config`; all off "
        "unless enabled).",
    )

    @property
    def frame(self) -> LocalFrame:
        """The local ENU frame."""
        return LocalFrame(self.origin.lat, self.origin.lon, self.origin.height_m)

    def sensors(self) -> list[SensorSite]:
        """The sensors from `sensors_file`."""
        return read_sensors_geojson(self.sensors_file)


def load_cluster_site(path: Path | str) -> ClusterSiteConfig:
    """Load and validate a cluster site file (ConfigError naming the bad field)."""
    path = Path(path)
    config = load_yaml_config(path, ClusterSiteConfig)
    beside = path.resolve().parent
    notify = config.notify.model_copy(update={"outbox_dir": beside / config.notify.outbox_dir})
    cluster = config.cluster
    if cluster.security is not None:
        cluster = cluster.model_copy(update={"security": cluster.security.resolved(beside)})
    return config.model_copy(
        update={"sensors_file": beside / config.sensors_file, "notify": notify, "cluster": cluster}
    )
