"""Assembling a running central service from a `CityConfig`: store (migrated), bus, fusion,
camera cueing (`ControllerCuer` over the cameras' `CueController`), the service and its FastAPI
app. `ouie serve` and the demo use `build_central` (the console mounts itself on the result with
`ouie.console.app.mount_on_runtime`); `CentralRuntime.close()` takes it all down in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from ouie.central.app import create_app
from ouie.central.config import CityConfig
from ouie.central.cueing import ControllerCuer
from ouie.central.service import CentralService, audit_config
from ouie.core.geo import LocalFrame
from ouie.core.timebase import now_ns
from ouie.store.repository import Store
from ouie.transport.bus import Bus, InProcessBus


@dataclass
class CentralRuntime:
    """The parts of a running central service."""

    city: CityConfig
    store: Store
    bus: Bus
    service: CentralService
    app: FastAPI
    cuer: ControllerCuer | None

    def close(self) -> None:
        """Stop the service, then cueing, the bus and the store."""
        self.service.stop()
        if self.cuer is not None:
            self.cuer.close()
        self.bus.close()
        self.store.close()


def build_central(
    city: CityConfig,
    bus: Bus | None = None,
    config_sha256: str | None = None,
    clock: Callable[[], int] = now_ns,
) -> CentralRuntime:
    """Open and migrate the store, audit the configuration, connect the bus (MQTT unless
    `bus` is given or the city says inprocess), wire fusion and cueing, start the service."""
    from ouie.fusion.association import Associator
    from ouie.transport.mqtt import MqttBus

    store = Store.open(city.database_url)
    if config_sha256 is not None:
        audit_config(store, city.name, config_sha256)
    mqtt_bus = None
    if bus is None and city.transport == "mqtt":
        bus = mqtt_bus = MqttBus(city.broker.settings(), city.broker.client_id, start=False)
    elif bus is None:
        bus = InProcessBus()
    sensors = city.sensors()
    frame = LocalFrame(city.origin.lat, city.origin.lon, city.origin.height_m)
    cuer = _cuer(city, store, frame, clock)
    service = CentralService(
        store,
        bus,
        Associator(sensors, frame, city.fusion),
        sensors,
        validation=city.validation,
        heartbeat_timeout_s=city.heartbeat_timeout_s,
        retention=city.retention,
        cuer=cuer,
        clock=clock,
    )
    service.start()
    if mqtt_bus is not None:  # subscribed: now take what the broker kept for us
        mqtt_bus.start()
    return CentralRuntime(city, store, bus, service, create_app(service, f"ouie {city.name}"), cuer)


def _cuer(
    city: CityConfig, store: Store, frame: LocalFrame, clock: Callable[[], int]
) -> ControllerCuer | None:
    """The ONVIF cue controller of `cameras_file`, or None without cameras."""
    if city.cameras_file is None:
        return None
    from ouie.cameras.config import CamerasConfig
    from ouie.cameras.cueing import CueController, OnvifMover
    from ouie.core.config import load_yaml_config

    cameras = load_yaml_config(city.cameras_file, CamerasConfig)
    mover = OnvifMover()
    controller = CueController(cameras.cueing, cameras.cameras, frame, mover, store.audit)
    return ControllerCuer(controller, clock, mover=mover)
