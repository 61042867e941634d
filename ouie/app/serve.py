"""Assembling a running central service from a `CityConfig`: store (migrated), bus, fusion,
camera cueing (the console's `ControllerDesk` over the cameras' `CueController`), the cameras'
own audio events (`CameraSoundListener`, for cameras with `audio_events`), the service, its
FastAPI app, the notify outputs enabled in `notify:` (a `Notifier` told of every incident and
decision; the ONVIF Event service on the same port) and the console mounted on it.
`ouie serve` uses `build_central`; `CentralRuntime.close()` takes it all down in order."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from fastapi import FastAPI

from ouie.app.camera_desk import ControllerDesk
from ouie.app.config import CityConfig
from ouie.cameras.audio_events import CameraSoundListener
from ouie.cameras.config import CameraConfig, CamerasConfig, CueingConfig
from ouie.cameras.planning import BuildingShape, buildings_enu
from ouie.central.app import create_app
from ouie.central.service import CentralService, audit_config
from ouie.console.feed import LiveFeed
from ouie.core.audit import AuditEvent
from ouie.core.geo import LocalFrame
from ouie.core.site import CameraSite
from ouie.core.timebase import now_ns
from ouie.notify.alert import CameraRef
from ouie.notify.metrics import NotifyMetrics
from ouie.notify.notifier import Notifier, enabled_outputs
from ouie.notify.onvif_service import OnvifEventBroker, onvif_router
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
    notifier: Notifier | None = None
    onvif_events: OnvifEventBroker | None = None
    camera_sounds: CameraSoundListener | None = None
    video_watches: list[threading.Thread] = field(default_factory=list)
    video_stop: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        """Stop the video analysis and listening to the cameras, stop the service, hand what it
        raised to the outputs (undelivered sends stay in their durable queues), then the
        cameras, the bus and the store."""
        self.video_stop.set()
        for watch in self.video_watches:
            watch.join(timeout=10)
        if self.camera_sounds is not None:
            self.camera_sounds.stop()
        self.service.stop()
        if self.notifier is not None:
            self.notifier.close()
        if self.onvif_events is not None:
            self.onvif_events.close()
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
    mount the console (unless `city.console` is None), and analyse the video cameras of
    `video_file` when it enables them (a video file that enables analysis without its declared
    legal basis and DPIA is refused here, by ConfigError, before anything starts)."""
    from ouie.fusion.association import Associator
    from ouie.transport.mqtt import MqttBus

    video = city.video()
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
    cameras_config = city.cameras()  # read once: the desk, fusion and notify see one file
    camera_configs = cameras_config.cameras
    cameras, cueing = _cameras(
        city, cameras_config, buildings_enu(buildings, frame), store, frame, clock, feed
    )
    sites = [CameraSite(id=c.id, lat=c.lat, lon=c.lon, height_m=c.height_m) for c in camera_configs]
    service = CentralService(
        store,
        bus,
        Associator(sensors, frame, city.fusion, cameras=sites),
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
    notifier, onvif_events = _notifier(city, service, camera_configs, app, clock)
    camera_sounds = None
    if any(c.audio_events for c in camera_configs):
        camera_sounds = CameraSoundListener(camera_configs, service.camera_heard, clock=clock)
        camera_sounds.start()
    console = None
    if city.console is not None:
        from ouie.console.app import attach_console
        from ouie.console.views import CuePolicyView, MapView

        console = attach_console(
            app,
            service,
            feed=feed,
            cue_policy=CuePolicyView(
                mode=cueing.mode.value, legal_basis=cueing.legal_basis, dpia=cueing.dpia
            ),
            map_view=MapView.of_site(city.origin, buildings),
            cameras=cameras,
            config=city.console,
            decision_listeners=[notifier.disposed] if notifier is not None else [],
        )
    runtime = CentralRuntime(
        city, store, bus, service, app, cameras, feed, notifier, onvif_events, camera_sounds
    )
    if city.video_file is not None:
        store.audit(
            AuditEvent(
                action="video.analysis",
                actor="system",
                subject="video",
                details={
                    "enabled": video.enabled,
                    "legal_basis": video.legal_basis,
                    "dpia": video.dpia,
                    "cameras": sorted(camera.id for camera in video.cameras),
                },
            )
        )
    if video.enabled:
        from ouie.video.incidents import CameraWatch, VideoDesk

        watches = []
        for camera in video.cameras:
            at_home = None
            if camera.ptz and cameras is not None and camera.id in cameras.controller.cameras:
                # Home unless an incident holds it: the desk moves PTZ cameras only for cues.
                at_home = partial(_not_held, cameras, camera.id)
            watch = CameraWatch(camera, service.add_incidents, runtime.video_stop, at_home)
            thread = threading.Thread(target=watch.run, name=f"video-{camera.id}", daemon=True)
            thread.start()
            watches.append(watch)
            runtime.video_watches.append(thread)
        if console is not None:
            console.video = VideoDesk(watches)
    elif video.cameras:
        log.info(
            "video analysis is off (enabled: false): %d cameras not analysed", len(video.cameras)
        )
    return runtime


def _not_held(desk: ControllerDesk, camera_id: str) -> bool:
    """Whether no incident holds the camera (it is at, or back at, its home position)."""
    return camera_id not in desk.controller.holds


def _notifier(
    city: CityConfig,
    service: CentralService,
    cameras: list[CameraConfig],
    app: FastAPI,
    clock: Callable[[], int],
) -> tuple[Notifier | None, OnvifEventBroker | None]:
    """The notify outputs enabled in `city.notify` (None, None when none is): a `Notifier`
    listening to the service, its counters on the service's `/metrics`, and the ONVIF Event
    service on the app when `onvif_events` is on."""
    settings = city.notify
    if not enabled_outputs(settings):
        return None, None
    metrics = NotifyMetrics(service.metrics.registry)
    broker = None
    if settings.onvif_events.enabled:
        username, password = settings.onvif_events.credentials()
        broker = OnvifEventBroker(
            settings.onvif_events, username, password, metrics=metrics, name=city.name
        )
        app.include_router(onvif_router(broker))
    refs = [
        CameraRef(id=c.id, lat=c.lat, lon=c.lon, max_range_m=c.max_range_m, vms_refs=c.vms_refs)
        for c in cameras
    ]
    notifier = Notifier(
        settings,
        city=city.name,
        audit=service.store.audit,
        metrics=metrics,
        bus=service.bus,
        onvif=broker,
        store=service.store,
        cameras=refs,
        clock=clock,
    )
    service.add_listener(notifier.incident_changed)
    return notifier, broker


def _cameras(
    city: CityConfig,
    cameras: CamerasConfig,
    buildings: list[BuildingShape],
    store: Store,
    frame: LocalFrame,
    clock: Callable[[], int],
    feed: LiveFeed,
) -> tuple[ControllerDesk | None, CueingConfig]:
    """The camera desk over ONVIF for `cameras`, the content of `cameras_file` (None without
    that file) and the cueing policy in force (mode off without it); no camera is cued through
    `buildings`."""
    from ouie.cameras.cueing import CueController, OnvifMover

    if city.cameras_file is None:
        return None, CueingConfig()
    mover = OnvifMover()
    controller = CueController(
        cameras.cueing, cameras.cameras, frame, mover, store.audit, buildings
    )
    return ControllerDesk(controller, mover, feed, clock=clock), cameras.cueing
