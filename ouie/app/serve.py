"""Assembling a running central service from a `CityConfig`: store (migrated), bus, fusion,
camera cueing (the console's `ControllerDesk` over the cameras' `CueController`), the service,
its FastAPI app and the console mounted on it. `ouie serve` uses `build_central`;
`CentralRuntime.close()` takes it all down in order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from ouie.app.camera_desk import ControllerDesk
from ouie.app.config import CityConfig
from ouie.cameras.config import CueingConfig
from ouie.cameras.planning import BuildingShape, buildings_enu
from ouie.central.app import create_app
from ouie.central.service import CentralService, audit_config
from ouie.console.feed import LiveFeed
from ouie.core.geo import LocalFrame
from ouie.core.timebase import now_ns
from ouie.store.repository import Store
from ouie.transport.bus import Bus, InProcessBus

log = logging.getLogger(__name__)


@dataclass
class CentralRuntime:
    """The parts of a running central service."""

    city: CityConfig
    store: Store
    bus: Bus
    service: CentralService
    app: FastAPI
    cameras: ControllerDesk | None
    feed: LiveFeed

    def close(self) -> None:
        """Stop the service, then the cameras, the bus and the store."""
        self.service.stop()
        if self.cameras is not None:
            self.cameras.close()
        self.bus.close()
        self.store.close()


def build_central(
    city: CityConfig,
    bus: Bus | None = None,
    config_sha256: str | None = None,
    clock: Callable[[], int] = now_ns,
) -> CentralRuntime:
    """Open and migrate the store, audit the configuration, connect the bus (MQTT unless
    `bus` is given or the city says inprocess), wire fusion and cueing, start the service and
    mount the console (unless `city.console` is None)."""
    from ouie.fusion.association import Associator
    from ouie.transport.mqtt import MqttBus

    audit_key = city.audit.key()
    if audit_key is None:
        log.warning(
            "the audit chain is not keyed: anyone who can write the database can rewrite it "
            "consistently. Set %s or audit.key_file (docs/central.md, key management)",
            city.audit.key_env or "audit.key_env",
        )
    store = Store.open(city.database_url, audit_key=audit_key, clock=clock)
    if config_sha256 is not None:
        audit_config(store, city.name, config_sha256)
    mqtt_bus = None
    if bus is None and city.transport == "mqtt":
        bus = mqtt_bus = MqttBus(city.broker.settings(), city.broker.client_id, start=False)
    elif bus is None:
        bus = InProcessBus()
    sensors = city.sensors()
    buildings = city.buildings()
    frame = city.origin.frame
    feed = LiveFeed()
    cameras, cueing = _cameras(city, buildings_enu(buildings, frame), store, frame, clock, feed)
    service = CentralService(
        store,
        bus,
        Associator(sensors, frame, city.fusion),
        sensors,
        validation=city.validation,
        heartbeat_timeout_s=city.heartbeat_timeout_s,
        retention=city.retention,
        cuer=cameras,
        clock=clock,
        ingest=city.ingest,
    )
    service.start()
    if mqtt_bus is not None:  # subscribed: now take what the broker kept for us
        mqtt_bus.start()
    app = create_app(service, f"ouie {city.name}")
    if city.console is not None:
        from ouie.console.app import attach_console
        from ouie.console.views import CuePolicyView, MapView

        attach_console(
            app,
            service,
            feed=feed,
            cue_policy=CuePolicyView(
                mode=cueing.mode.value, legal_basis=cueing.legal_basis, dpia=cueing.dpia
            ),
            map_view=MapView.of_site(city.origin, buildings),
            cameras=cameras,
            config=city.console,
        )
    return CentralRuntime(city, store, bus, service, app, cameras, feed)


def _cameras(
    city: CityConfig,
    buildings: list[BuildingShape],
    store: Store,
    frame: LocalFrame,
    clock: Callable[[], int],
    feed: LiveFeed,
) -> tuple[ControllerDesk | None, CueingConfig]:
    """The camera desk over ONVIF for `cameras_file` (None without cameras) and the cueing
    policy in force (mode off without cameras); no camera is cued through `buildings`."""
    from ouie.cameras.cueing import CueController, OnvifMover

    if city.cameras_file is None:
        return None, CueingConfig()
    cameras = city.cameras()
    mover = OnvifMover()
    controller = CueController(
        cameras.cueing, cameras.cameras, frame, mover, store.audit, buildings
    )
    return ControllerDesk(controller, mover, feed, clock=clock), cameras.cueing
