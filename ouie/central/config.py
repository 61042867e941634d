"""The city configuration of the central service (`city.yaml`).

```yaml
name: saint-etienne
origin: {lat: 45.4397, lon: 4.3872}
database_url: sqlite:///ouie.db          # or postgresql+psycopg://ouie@db/ouie
transport: mqtt                          # or inprocess (all-in-one demo)
broker: {host: 127.0.0.1, port: 1883, username: central, password_env: OUIE_BROKER_PASSWORD}
sensors_file: sensors.geojson            # relative to this file
cameras_file: cameras.yaml               # cameras + cue mode (ouie.cameras.config.CamerasConfig)
fusion: {air_temperature_c: 12}
retention: {reports_days: 30, incidents_days: 90}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ouie.console.config import ConsoleConfig
from ouie.core.config import ConfigError, load_yaml_config
from ouie.core.recording import SensorSite, read_sensors_geojson
from ouie.fusion.config import FusionConfig
from ouie.sim.scenario import Origin
from ouie.store.audit import AuditKeyConfig
from ouie.store.database import DEFAULT_DATABASE_URL
from ouie.store.retention import RetentionPolicy
from ouie.transport.mqtt import BrokerConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CentralBrokerConfig(BrokerConfig):
    """How the central service reaches Mosquitto (see `BrokerConfig`)."""

    username: str = Field(default="central", description="The central service's MQTT user.")
    client_id: str = Field(default="ouie-central", description="MQTT client id (session key).")


class ValidationSettings(_Strict):
    """What a sane report is, beyond its schema."""

    max_future_s: float = Field(
        default=5.0, gt=0, description="Reject onsets later than now + this (sensor clock), s."
    )
    max_age_s: float = Field(
        default=3600.0, gt=0, description="Reject onsets older than now − this (stale), s."
    )


class IngestSettings(_Strict):
    """How received reports reach the database: batched commits off the MQTT thread, and the
    message acknowledged (PUBACK) only once its batch is committed."""

    batch_max_reports: int = Field(
        default=500, ge=1, description="A batch is committed as soon as it holds this many reports."
    )
    batch_max_wait_ms: float = Field(
        default=20.0,
        gt=0,
        description="… or when its first report has waited this long, ms (the added latency).",
    )
    queue_max_reports: int = Field(
        default=10_000,
        ge=1,
        description="Reports waiting for a batch, at most (memory holds at most this, one batch "
        "and the report the MQTT thread is handing over); when full the MQTT thread waits "
        "(backpressure) and the broker keeps the rest.",
    )
    retry_initial_s: float = Field(
        default=0.2, gt=0, description="Database unavailable: first wait before retrying, s."
    )
    retry_max_s: float = Field(
        default=5.0, gt=0, description="Longest wait between retries (doubling from the first), s."
    )


class HttpSettings(_Strict):
    """Where `/healthz`, `/metrics` and the console listen."""

    host: str = Field(default="127.0.0.1", description="Bind address.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port.")


class CityConfig(_Strict):
    """Everything `ouie serve` needs to run a city's central service."""

    name: str = Field(description="Deployment name, shown on the console.")
    origin: Origin = Field(description="Origin of the local ENU frame.")
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, description="SQLAlchemy URL: SQLite file or PostgreSQL."
    )
    transport: Literal["mqtt", "inprocess"] = Field(
        default="mqtt", description="mqtt (Mosquitto) or inprocess (all-in-one demo)."
    )
    broker: CentralBrokerConfig = Field(default_factory=CentralBrokerConfig)
    sensors_file: Path = Field(description="Sensors GeoJSON (relative to the config file).")
    cameras_file: Path | None = Field(
        default=None, description="Cameras and cueing YAML of ouie.cameras (optional)."
    )
    fusion: FusionConfig = Field(
        default_factory=FusionConfig, description="Association and localization settings."
    )
    heartbeat_timeout_s: float = Field(
        default=120.0, gt=0, description="A sensor silent this long is marked offline, s."
    )
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    ingest: IngestSettings = Field(
        default_factory=IngestSettings, description="Batched, acknowledged report storage."
    )
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy)
    audit: AuditKeyConfig = Field(
        default_factory=AuditKeyConfig,
        description="Where the HMAC key of the audit chain comes from (never the key itself).",
    )
    http: HttpSettings = Field(default_factory=HttpSettings)
    console: ConsoleConfig | None = Field(
        default_factory=ConsoleConfig,
        description="The operator console mounted at /console (null: no console).",
    )

    def sensors(self) -> list[SensorSite]:
        """The sensors from `sensors_file`."""
        return read_sensors_geojson(self.sensors_file)


def load_city_config(path: Path | str) -> CityConfig:
    """Load and validate `city.yaml`; relative file paths are resolved beside it."""
    path = Path(path)
    config = load_yaml_config(path, CityConfig)
    base = path.resolve().parent
    updates: dict[str, object] = {"sensors_file": base / config.sensors_file}
    if config.cameras_file is not None:
        updates["cameras_file"] = base / config.cameras_file
    broker_paths: dict[str, object] = {}
    if config.broker.password_file is not None:
        broker_paths["password_file"] = base / config.broker.password_file
    if config.broker.tls is not None:
        broker_paths["tls"] = config.broker.tls.resolved(base)
    if broker_paths:
        updates["broker"] = config.broker.model_copy(update=broker_paths)
    if config.audit.key_file is not None:
        updates["audit"] = config.audit.model_copy(
            update={"key_file": base / config.audit.key_file}
        )
    config = config.model_copy(update=updates)
    if not config.sensors_file.is_file():
        raise ConfigError(f"{path}: sensors_file: no such file {config.sensors_file}")
    return config
