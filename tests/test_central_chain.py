"""The whole central chain with the real parts: fusion's Associator locates reports made from
geometry, the cameras' CueController turns a virtual ONVIF camera (auto mode), the store keeps
incident, cue and audit; and `build_central` assembles the same from a city.yaml."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from ouie.app.camera_desk import ControllerDesk
from ouie.app.config import load_city_config
from ouie.app.demo import write_cameras_file
from ouie.app.serve import build_central
from ouie.cameras.config import CameraConfig, CueingConfig, CueMode
from ouie.cameras.cueing import CueController, OnvifMover
from ouie.cameras.planning import CueTarget, plan_cue
from ouie.central.service import CentralService
from ouie.core.geo import LocalFrame, speed_of_sound_mps
from ouie.core.recording import SensorSite, sensors_geojson
from ouie.core.report import EventReport
from ouie.core.site import Building, write_buildings_geojson
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.fusion.association import Associator
from ouie.fusion.config import FusionConfig
from ouie.sim.cameras.virtual import start_virtual_cameras
from ouie.store.repository import Store
from ouie.transport.bus import InProcessBus
from ouie.transport.topics import reports_topic
from tests.builders import make_report, wait_until

FRAME = LocalFrame(45.4397, 4.3872, 500.0)
CORNERS_M = [(-120.0, -100.0), (130.0, -90.0), (110.0, 120.0), (-100.0, 110.0)]


def site(sensor_id: str, east_m: float, north_m: float) -> SensorSite:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, 0.0)
    return SensorSite(id=sensor_id, lat=float(lat), lon=float(lon), height_m=4.0)


SITES = [site(f"s{k + 1}", e, n) for k, (e, n) in enumerate(CORNERS_M)]


def reports_from(source_en_m: tuple[float, float], emitted_ns: int) -> list[EventReport]:
    """Exact onsets: t_i = t_emit + ‖sensor_i − source‖ / c (source 1.5 m up, mics 4 m)."""
    c = speed_of_sound_mps(FusionConfig().air_temperature_c)
    source = np.array([*source_en_m, 1.5])
    reports = []
    for k, (east, north) in enumerate(CORNERS_M):
        distance_m = float(np.linalg.norm(np.array([east, north, 4.0]) - source))
        onset = emitted_ns + round(distance_m / c * NS_PER_S)
        reports.append(make_report(f"s{k + 1}", onset_ns=onset, onset_uncertainty_s=0.0003))
    return reports


def test_reports_to_located_incident_to_moved_camera(tmp_path: Path) -> None:
    camera = CameraConfig(id="c1", lat=SITES[0].lat, lon=SITES[0].lon, heading_deg=0.0)
    with start_virtual_cameras([camera], FRAME) as fleet:
        store = Store.open(f"sqlite:///{tmp_path / 'chain.db'}")
        cueing = CueingConfig(mode=CueMode.AUTO, legal_basis="test", dpia="test-dpia")
        mover = OnvifMover(lambda _camera: fleet.credentials)
        controller = CueController(cueing, list(fleet.configs.values()), FRAME, mover, store.audit)
        cuer, bus = ControllerDesk(controller, mover), InProcessBus()
        service = CentralService(
            store, bus, Associator(SITES, FRAME), SITES, cuer=cuer, tick_s=0.05
        )
        service.start()
        for report in reports_from((30.0, 40.0), now_ns() - NS_PER_S):
            bus.publish(reports_topic(report.sensor_id), report.to_json().encode())
        assert wait_until(
            lambda: bool(store.list_incidents())
            and bool(store.list_cues(store.list_incidents()[0].id))
        )
        service.stop()
        [incident] = store.list_incidents()
        assert incident.status == "fix" and incident.sensors_used == ["s1", "s2", "s3", "s4"]
        east, north, _ = FRAME.to_enu(incident.lat, incident.lon)
        assert np.hypot(east - 30.0, north - 40.0) < 1.0  # exact onsets: sub-metre fix
        [cue] = store.list_cues(incident.id)
        assert cue.state == "executed" and cue.camera_id == "c1" and cue.mode == "auto"
        assert cue.latency_s is not None and 0 < cue.latency_s < 30
        assert fleet.cameras["c1"].moves == 1
        actions = [e["action"] for e in store.audit.entries()]
        assert actions[0] == "camera.cueing_mode" and "camera.move" in actions
        assert store.audit.verify() == []
        assert service.metrics.cue_latency._sum.get() == cue.latency_s
        cuer.close()
        bus.close()
        store.close()


def test_build_central_from_a_city_file(tmp_path: Path) -> None:
    (tmp_path / "sensors.geojson").write_text(json.dumps(sensors_geojson(SITES)))
    city_path = tmp_path / "city.yaml"
    city_path.write_text(
        "name: test-town\n"
        "origin: {lat: 45.4397, lon: 4.3872, height_m: 500}\n"
        f"database_url: sqlite:///{tmp_path / 'city.db'}\n"
        "transport: inprocess\n"
        "sensors_file: sensors.geojson\n"
        "fusion: {air_temperature_c: 15}\n"
    )
    runtime = build_central(
        load_city_config(city_path),
        config_sha256=hashlib.sha256(city_path.read_bytes()).hexdigest(),
    )
    try:
        client = TestClient(runtime.app)
        assert client.get("/healthz").json()["sensors_total"] == 4
        for report in reports_from((-20.0, 10.0), now_ns() - NS_PER_S):
            runtime.bus.publish(reports_topic(report.sensor_id), report.to_json().encode())
        assert wait_until(lambda: runtime.store.count_incidents() == 1)
        assert "ouie_incidents_total 1.0" in client.get("/metrics").text
        assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
        assert client.get("/console/").status_code == 200
        assert [e["action"] for e in runtime.store.audit.entries()] == ["config.load"]
    finally:
        runtime.close()


def enu_to_lonlat(east_m: float, north_m: float) -> list[float]:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, FRAME.origin_height_m)
    return [float(lon), float(lat)]


def test_build_central_never_cues_a_camera_through_a_building(tmp_path: Path) -> None:
    """The nearer camera looks at the sound through a 20 m block: `ouie serve`'s chain cues the
    farther one, which sees it (the near one would have won on an open site)."""
    near_lat, near_lon = enu_to_lonlat(-20.0, 70.0)[::-1]
    far_lat, far_lon = enu_to_lonlat(70.0, 10.0)[::-1]
    cameras = [
        CameraConfig(id="near", lat=near_lat, lon=near_lon),
        CameraConfig(id="far", lat=far_lat, lon=far_lon),
    ]
    block = Building(
        id="block 12",
        footprint=[tuple(enu_to_lonlat(e, n)) for e, n in [(-45, 30), (5, 30), (5, 45), (-45, 45)]],
        height_m=20.0,
    )
    target = CueTarget(lat=enu_to_lonlat(-20.0, 10.0)[1], lon=enu_to_lonlat(-20.0, 10.0)[0])
    open_site = plan_cue(cameras, target, FRAME, margin=CueingConfig().frame_margin)
    assert open_site.plan is not None and open_site.plan.camera_id == "near"

    (tmp_path / "sensors.geojson").write_text(json.dumps(sensors_geojson(SITES)))
    write_buildings_geojson([block], tmp_path / "buildings.geojson")
    cueing = CueingConfig(mode=CueMode.AUTO, legal_basis="test", dpia="test-dpia")
    with start_virtual_cameras(cameras, FRAME) as fleet:
        write_cameras_file(fleet, cueing, tmp_path)
        city_path = tmp_path / "city.yaml"
        city_path.write_text(
            "name: test-town\n"
            "origin: {lat: 45.4397, lon: 4.3872, height_m: 500}\n"
            f"database_url: sqlite:///{tmp_path / 'city.db'}\n"
            "transport: inprocess\n"
            "sensors_file: sensors.geojson\n"
            "cameras_file: cameras.yaml\n"
            "buildings_file: buildings.geojson\n"
        )
        runtime = build_central(load_city_config(city_path))
        try:
            for report in reports_from((-20.0, 10.0), now_ns() - NS_PER_S):
                runtime.bus.publish(reports_topic(report.sensor_id), report.to_json().encode())
            store = runtime.store
            assert wait_until(
                lambda: bool(store.list_incidents())
                and bool(store.list_cues(store.list_incidents()[0].id))
            )
            [cue] = store.list_cues(store.list_incidents()[0].id)
            assert cue.camera_id == "far" and cue.state == "executed"
            assert fleet.cameras["near"].moves == 0 and fleet.cameras["far"].moves == 1
            [move] = [e for e in store.audit.entries() if e["action"] == "camera.move"]
            assert move["subject"] == "camera:far"
            assert runtime.cameras is not None
            live = runtime.cameras.controller.plan(target)
            [near] = [o for o in live.options if o.camera_id == "near"]
            assert near.reason == "no line of sight (block 12 is in the way)"
        finally:
            runtime.close()
