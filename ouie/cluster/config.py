"""Configuration of the NATS cluster deployment (`cluster:` in the city config, with
`transport: nats`): where the servers are, the cell grid, the streams and the leases."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ouie.core.config import load_yaml_config
from ouie.core.geo import LocalFrame
from ouie.core.recording import SensorSite, read_sensors_geojson
from ouie.fusion.config import FusionConfig
from ouie.sim.scenario import Origin  # moves to ouie.core.site (issue 13)


class ClusterConfig(BaseModel):
    """How the ouie processes of a clustered deployment meet on NATS."""

    model_config = ConfigDict(extra="forbid")

    servers: list[str] = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"],
        min_length=1,
        description="NATS URLs of the cluster's nodes (clients fail over between them).",
    )
    cell_size_m: float = Field(
        default=1000.0,
        gt=0,
        description="Side of the square cells of the ENU grid that key the report subjects, m.",
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
        default=3.0,
        gt=0,
        description="A fusion worker that has not renewed its lease this long is dead: its "
        "cells go to the others, s.",
    )
    replay_s: float = Field(
        default=60.0,
        gt=0,
        description="How far back a worker replays its cells after ownership changes; must "
        "exceed the longest waiting window + late_report_grace_s of fusion, s.",
    )
    settle_s: float = Field(
        default=1.0,
        gt=0,
        description="A caught-up worker closes association windows at wall clock minus this "
        "(the longest delivery delay it expects from stream to worker), s.",
    )


class ClusterSiteConfig(BaseModel):
    """What every process of a clustered deployment needs (a city config's subset): the frame,
    the sensors, fusion, the database and the cluster. Relative paths are resolved beside the
    file by `load_cluster_site`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Deployment name.")
    origin: Origin = Field(description="Origin of the local ENU frame (the cell grid's too).")
    sensors_file: Path = Field(description="Sensors GeoJSON (relative to the config file).")
    database_url: str = Field(description="SQLAlchemy URL of the store (PostgreSQL).")
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

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
    return config.model_copy(update={"sensors_file": path.resolve().parent / config.sensors_file})
