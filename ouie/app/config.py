"""The city configuration (`city.yaml`): everything `ouie serve` needs, composed from each
concern's own settings.

```yaml
name: saint-etienne
origin: {lat: 45.4397, lon: 4.3872}
database_url: sqlite:///ouie.db          # or postgresql+psycopg://ouie@db/ouie
transport: mqtt                          # or inprocess (all-in-one demo)
broker: {host: 127.0.0.1, port: 1883, username: central, password_env: OUIE_BROKER_PASSWORD}
sensors_file: sensors.geojson            # relative to this file
cameras_file: cameras.yaml               # cameras + cue mode (ouie.cameras.config.CamerasConfig)
notify: {cap: {enabled: true, destinations: [...]}}   # alerts out (docs/integrations.md)
buildings_file: buildings.geojson        # building footprints: camera line of sight
fusion: {air_temperature_c: 12}
retention: {reports_days: 30, incidents_days: 90}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ouie.cameras.config import CamerasConfig
from ouie.central.config import (
    HEARTBEAT_TIMEOUT_S,
    CentralBrokerConfig,
    IngestSettings,
    ValidationSettings,
)
from ouie.console.config import ConsoleConfig
from ouie.core.config import ConfigError, StrictModel, load_yaml_config
from ouie.core.recording import SensorSite, read_sensors_geojson
from ouie.core.site import Building, Origin, read_buildings_geojson
from ouie.fusion.config import FusionConfig
from ouie.notify.config import NotifyConfig
from ouie.observatory.deployment import Deployment
from ouie.store.audit import AuditKeyConfig
from ouie.store.database import DEFAULT_DATABASE_URL
from ouie.store.retention import RetentionPolicy


class HttpSettings(StrictModel):
    """Where `/healthz`, `/metrics` and the console listen."""

    host: str = Field(default="127.0.0.1", description="Bind address.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port.")


class CityConfig(StrictModel):
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
    buildings_file: Path | None = Field(
        default=None,
        description="Building footprints, a GeoJSON FeatureCollection of Polygons with "
        "properties.height_m (relative to the config file): a camera is never cued through one.",
    )
    fusion: FusionConfig = Field(
        default_factory=FusionConfig, description="Association and localization settings."
    )
    heartbeat_timeout_s: float = Field(
        default=HEARTBEAT_TIMEOUT_S,
        gt=0,
        description="A sensor silent this long is marked offline, s.",
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
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig,
        description="Alerts out to control rooms (CAP, ONVIF events, VMS webhooks), each off "
        "by default (ouie.notify.config).",
    )
    console: ConsoleConfig | None = Field(
        default_factory=ConsoleConfig,
        description="The operator console mounted at /console (null: no console).",
    )

    def sensors(self) -> list[SensorSite]:
        """The sensors from `sensors_file`."""
        return read_sensors_geojson(self.sensors_file)

    def cameras(self) -> CamerasConfig:
        """The cameras file's content (cueing off and no camera without one)."""
        if self.cameras_file is None:
            return CamerasConfig()
        return load_yaml_config(self.cameras_file, CamerasConfig)

    def deployment(self) -> Deployment:
        """What the transparency report says of this deployment (sensors and cameras read)."""
        from ouie.notify.notifier import enabled_outputs

        outputs = {o.name: list(o.destinations) for o in enabled_outputs(self.notify)}
        return Deployment.of_site(
            self.name, len(self.sensors()), self.cameras(), self.retention, outputs
        )

    def buildings(self) -> list[Building]:
        """The buildings from `buildings_file` (none without one)."""
        return [] if self.buildings_file is None else read_buildings_geojson(self.buildings_file)


def load_city_config(path: Path | str) -> CityConfig:
    """Load and validate `city.yaml`; relative file paths are resolved beside it."""
    path = Path(path)
    config = load_yaml_config(path, CityConfig)
    base = path.resolve().parent
    updates: dict[str, object] = {"sensors_file": base / config.sensors_file}
    if config.cameras_file is not None:
        updates["cameras_file"] = base / config.cameras_file
    if config.buildings_file is not None:
        updates["buildings_file"] = base / config.buildings_file
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
    updates["notify"] = config.notify.resolved(base)
    config = config.model_copy(update=updates)
    if not config.sensors_file.is_file():
        raise ConfigError(f"{path}: sensors_file: no such file {config.sensors_file}")
    return config
