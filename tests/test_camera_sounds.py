"""Cameras' own audio detections in: the virtual camera publishes
tns1:RuleEngine/AudioDetector/Class by PullPoint, the listener (onvif-zeep-async) subscribes,
and the central's fusion raises the score of the incident the sensors located, audits it, and
never makes an incident from a camera alone."""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from ouie.cameras.audio_events import CameraSoundListener
from ouie.cameras.config import CameraConfig, CameraCredentials
from ouie.central.service import CentralService
from ouie.core.camera_sound import CameraSound
from ouie.core.classes import EventClass
from ouie.core.geo import speed_of_sound_mps
from ouie.core.site import CameraSite
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.fusion.association import Associator
from ouie.fusion.config import FusionConfig
from ouie.fusion.corroboration import corroborated_score
from ouie.sim.cameras.virtual import start_virtual_cameras
from ouie.store.repository import Store
from ouie.transport.bus import InProcessBus
from ouie.transport.pullpoint import ouie_class
from ouie.transport.topics import reports_topic
from tests.builders import wait_until
from tests.notify_receiver import reserve_port
from tests.test_central_chain import CORNERS_M, FRAME, SITES, reports_from

C_MPS = speed_of_sound_mps(FusionConfig().air_temperature_c)
SOURCE_EN_M = (30.0, 40.0)
CAMERA_EN_M = CORNERS_M[0]  # on sensor s1's pole, 214 m from the source


def camera_config(east_m: float, north_m: float, camera_id: str = "c1") -> CameraConfig:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, 0.0)
    return CameraConfig(id=camera_id, lat=float(lat), lon=float(lon), audio_events=True)


def site_of(camera: CameraConfig) -> CameraSite:
    return CameraSite(id=camera.id, lat=camera.lat, lon=camera.lon)


def arrival_ns(emitted_ns: int, at_en_m: tuple[float, float]) -> int:
    """When the sound emitted at SOURCE_EN_M reaches a point, UTC ns."""
    distance_m = math.dist(SOURCE_EN_M, at_en_m)
    return emitted_ns + round(distance_m / C_MPS * NS_PER_S)


@pytest.mark.parametrize(
    ("onvif", "ouie"),
    [
        ("GunShot", EventClass.GUNSHOT),
        ("tt:GlassBreaking", EventClass.GLASS_BREAK),
        ("ouie:Explosion", EventClass.EXPLOSION),
        ("Scream", EventClass.SCREAM),
        ("TireScreech", None),
    ],
)
def test_onvif_audio_classes_map_to_ouie_classes(onvif: str, ouie: EventClass | None) -> None:
    assert ouie_class(onvif) == ouie


def test_corroborated_score_is_a_discounted_noisy_or() -> None:
    assert corroborated_score(0.6, [1.0], 0.3) == pytest.approx(1 - 0.4 * 0.7)  # 0.72
    assert corroborated_score(0.6, [0.5, None], 0.3) == pytest.approx(1 - 0.4 * 0.85 * 0.7)
    assert corroborated_score(0.6, [], 0.3) == 0.6


def test_a_camera_confirms_only_the_incident_it_could_have_heard() -> None:
    camera = camera_config(*CAMERA_EN_M)
    far = camera_config(2000.0, 0.0, "far")
    associator = Associator(SITES, FRAME, cameras=[site_of(camera), site_of(far)])
    emitted_ns = 1_800_000_000 * NS_PER_S
    heard_ns = arrival_ns(emitted_ns, CAMERA_EN_M)

    def sound(camera_id: str, at_ns: int, class_: EventClass = EventClass.GUNSHOT) -> CameraSound:
        return CameraSound(camera_id=camera_id, class_=class_, heard_ns=at_ns, score=0.8, topic="t")

    # Heard before the sensors' reports arrive: it waits, and alone it makes nothing.
    assert associator.corroborate(sound("c1", heard_ns + NS_PER_S), heard_ns) == []
    incidents = []
    for report in reports_from(SOURCE_EN_M, emitted_ns):
        incidents += associator.add(report, report.onset_ns)
    incidents += associator.poll(emitted_ns + 10 * NS_PER_S)
    first = incidents[-1]
    assert first.cameras_heard == ["c1"]
    assert first.score == pytest.approx(1 - (1 - 0.9) * (1 - 0.3 * 0.8))
    # The same camera again, a camera 2 km away, a scream, a stamp before the sound could
    # arrive, and one 6 s after it (beyond camera_sound_latency_s): none confirms it.
    later_ns = emitted_ns + 11 * NS_PER_S
    for other in (
        sound("c1", heard_ns),
        sound("far", heard_ns),
        sound("c1", heard_ns, EventClass.SCREAM),
        sound("c1", heard_ns - 2 * NS_PER_S),
        sound("c1", heard_ns + 6 * NS_PER_S),
    ):
        assert [i for i in associator.corroborate(other, later_ns) if i.cameras_heard] == []
    assert associator.stats.camera_sounds == 6 and associator.stats.camera_sounds_matched == 1


def test_the_virtual_cameras_onvif_event_confirms_the_located_gunshot(tmp_path: Path) -> None:
    """Reports from four sensors locate a gunshot; the virtual camera, whose clock runs 20 s
    fast, classifies the same sound; the listener subscribes to it over ONVIF and the stored
    incident gets the camera, a higher score and an audit entry. A camera alone makes nothing."""
    camera = camera_config(*CAMERA_EN_M)
    store = Store.open(f"sqlite:///{tmp_path / 'sounds.db'}")
    bus = InProcessBus()
    service = CentralService(
        store, bus, Associator(SITES, FRAME, cameras=[site_of(camera)]), SITES, tick_s=0.05
    )
    service.start()
    with start_virtual_cameras([camera], FRAME, clock_offset_s=20.0) as fleet:
        virtual = fleet.cameras["c1"]
        listener = CameraSoundListener(
            list(fleet.configs.values()),
            service.camera_heard,
            credentials=fleet.credentials,
            pull_wait_s=1.0,
        )
        listener.start()
        try:
            assert wait_until(lambda: listener.subscribed == {"c1"})
            assert virtual.events.subscriptions == 1
            # Alone: a scream no sensor reported is counted, and no incident appears.
            virtual.hear(EventClass.SCREAM, 0.95)
            assert wait_until(lambda: listener.received == 1)
            emitted_ns = now_ns() - 2 * NS_PER_S
            for report in reports_from(SOURCE_EN_M, emitted_ns):
                bus.publish(reports_topic(report.sensor_id), report.to_json().encode())
            # Emitted at the third report (an unambiguous fix), revised at the fourth.
            assert wait_until(lambda: [len(i.sensors_used) for i in store.list_incidents()] == [4])
            [before] = store.list_incidents()
            heard_s = arrival_ns(emitted_ns, CAMERA_EN_M) / NS_PER_S
            virtual.hear(EventClass.GUNSHOT, 0.8, at=dt.datetime.fromtimestamp(heard_s, dt.UTC))
            assert wait_until(lambda: store.list_incidents()[0].cameras_heard == ["c1"])
        finally:
            listener.stop()
            service.stop()
    [after] = store.list_incidents()
    assert store.count_incidents() == 1
    assert after.revision == before.revision + 1
    assert before.score == pytest.approx(0.9)
    assert after.score == pytest.approx(1 - 0.1 * (1 - 0.3 * 0.8))
    east, north, _ = FRAME.to_enu(after.lat, after.lon)
    assert np.hypot(east - SOURCE_EN_M[0], north - SOURCE_EN_M[1]) < 1.0  # not moved
    [entry] = [e for e in store.audit.entries() if e["action"] == "incident.camera_heard"]
    assert entry["actor"] == "camera:c1" and entry["subject"] == f"incident:{after.id}"
    assert entry["details"] == {"score": after.score, "revision": after.revision}
    assert service.metrics.camera_sounds._value.get() == 2  # the scream and the gunshot
    assert service.metrics.camera_confirmations._value.get() == 1
    assert store.audit.verify() == []
    assert listener.failures == 0
    bus.close()
    store.close()


def test_an_unreachable_camera_is_retried_and_stopping_is_prompt() -> None:
    camera = camera_config(*CAMERA_EN_M).model_copy(update={"onvif_port": reserve_port()})
    credentials = CameraCredentials(username="u", password=SecretStr("p"))
    listener = CameraSoundListener([camera], lambda sound: None, credentials=credentials)
    listener.retry_s = 0.05
    listener.start()
    try:
        assert wait_until(lambda: listener.failures >= 2, timeout_s=10)
    finally:
        started = time.monotonic()
        listener.stop()
    assert time.monotonic() - started < 5.0
    assert listener.subscribed == set() and listener.received == 0
