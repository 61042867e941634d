"""Builders shared by the store, transport and central tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ouie.central.ports import CueRecord
from ouie.console.api import ConsoleServices
from ouie.console.feed import LiveFeed
from ouie.console.views import CuePolicyView, MapView
from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.recording import SensorSite
from ouie.core.report import EventReport, ModelId
from ouie.core.timebase import NS_PER_S
from ouie.sensor.config import DetectorConfig
from ouie.sensor.pipeline import SensorPipeline
from ouie.sensor.scoring import EVENT_CLASSES, WindowScores
from ouie.store.records import CueState, IncidentRecord
from ouie.store.repository import Store
from ouie.transport.broker import LocalMosquitto
from ouie.transport.mqtt import BrokerSettings, MqttBus
from ouie.transport.outbox import Outbox, SensorUplink
from ouie.transport.topics import reports_topic

MODEL = ModelId(name="builtin/1", sha256="0" * 64)


def make_report(
    sensor_id: str = "s1",
    seq: int = 0,
    onset_ns: int = 1_750_000_000 * 10**9,
    class_: str = "gunshot",
    **overrides: object,
) -> EventReport:
    """A valid report; any field can be overridden."""
    fields: dict[str, object] = {
        "sensor_id": sensor_id,
        "seq": seq,
        "class": class_,
        "score": 0.9,
        "onset": onset_ns,
        "onset_uncertainty_s": 0.0005,
        "duration_s": 0.3,
        "peak_dbfs": -6.0,
        "model": MODEL,
    }
    fields.update(overrides)
    return EventReport.model_validate(fields)


SITES = [SensorSite(id=f"s{i}", lat=45.44 + 0.001 * i, lon=4.387) for i in range(1, 5)]


class Clock:
    """A settable clock (UTC ns) so windows, heartbeats and clock checks are deterministic."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


class FakeFusion:
    """Stands in for fusion's Associator: three reports of one class make an incident (a fix at
    the mean sensor position); a fourth report yields revision 2."""

    def __init__(self) -> None:
        self.reports: list[EventReport] = []

    def add(self, report: EventReport, now_ns: int) -> list[Incident]:
        self.reports.append(report)
        same = [r for r in self.reports if r.class_ == report.class_]
        return [self._incident(same)] if len(same) >= 3 else []

    def poll(self, now_ns: int) -> list[Incident]:
        return []

    @staticmethod
    def _incident(reports: list[EventReport]) -> Incident:
        sites = {s.id: s for s in SITES}
        used = [r.sensor_id for r in reports]
        return Incident(
            incident_id=f"inc-{reports[0].report_id[:8]}",
            revision=len(reports) - 2,
            class_=reports[0].class_,
            status=IncidentStatus.FIX,
            onset_ns=min(r.onset_ns for r in reports),
            lat=sum(sites[s].lat for s in used) / len(used),
            lon=4.387,
            uncertainty_m=3.0,
            ellipse95=None,
            hyperbola=None,
            score=max(r.score for r in reports),
            sensors_used=used,
            sensors_rejected=[],
            report_ids=[r.report_id for r in reports],
        )


class FakeCuer:
    """Commands camera c1 200 ms after the incident's end of sound."""

    def __init__(self, store: Store) -> None:
        self.store, self.cued = store, threading.Event()

    def cue(self, incident: IncidentRecord) -> list[CueRecord]:
        reports = self.store.get_reports(incident.report_ids)
        end_ns = max(r.onset_ns + round(r.duration_s * NS_PER_S) for r in reports)
        self.cued.set()
        return [
            CueRecord(
                camera_id="c1",
                state=CueState.EXECUTED,
                pan_deg=12.0,
                tilt_deg=-5.0,
                zoom=0.4,
                commanded_at_ns=end_ns + NS_PER_S // 5,
                details={"mode": "auto"},
            )
        ]


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> bool:
    """Poll `condition` every 50 ms until it holds (True) or `timeout_s` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def store_url(request: pytest.FixtureRequest, tmp_path: Path, filename: str) -> str:
    """The database URL for a fixture parametrised over ["sqlite", "postgresql"]: a SQLite file
    `filename` in `tmp_path`, or a fresh database from the `postgres_url` fixture."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / filename}"
    url: str = request.getfixturevalue("postgres_url")
    return url


class Inbox:
    """Collects (topic, payload) from a subscription; waits for a number of messages."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._changed = threading.Condition()

    def __call__(self, topic: str, payload: bytes) -> None:
        with self._changed:
            self.messages.append((topic, payload))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout_s: float = 20.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.messages) >= count, timeout_s)

    def report_ids(self) -> list[str]:
        return [
            EventReport.from_json(p).report_id for t, p in self.messages if t.endswith("/reports")
        ]


def mqtt(broker: LocalMosquitto, user: str, **kwargs: object) -> MqttBus:
    bus = MqttBus(broker.settings(user), client_id=f"test-{user}", **kwargs)  # type: ignore[arg-type]
    assert bus.wait_connected(10), bus.last_error
    return bus


def assert_reports_delivered(sensor: MqttBus, inbox: Inbox, sensor_id: str, count: int) -> None:
    """Publish `count` reports from `sensor_id` on its topic: every one acknowledged, and
    received by `inbox` (the central's subscription) in order."""
    sent = [make_report(sensor_id, seq=k) for k in range(count)]
    acked = threading.Semaphore(0)
    for report in sent:
        sensor.publish(reports_topic(sensor_id), report.to_json().encode(), on_acked=acked.release)
    assert all(acked.acquire(timeout=10) for _ in sent)
    assert inbox.wait_for(count)
    assert inbox.report_ids() == [r.report_id for r in sent]


class ScriptedSiren:
    """Window k's siren score is script[k] (window k starts with the sample value k)."""

    model_id = SensorPipeline(DetectorConfig(backend="builtin")).scorer.model_id
    default_thresholds = dict.fromkeys(EventClass, 0.5)
    description = "scripted"
    verifier = None
    script = [0.1, 0.55, 0.35, 0.31, 0.2, 0.6] + [0.1] * 20

    def score(self, windows: np.ndarray) -> WindowScores:
        out = np.zeros((len(windows), len(EVENT_CLASSES)), np.float32)
        siren = EVENT_CLASSES.index(EventClass.SIREN)
        for i, window in enumerate(windows):
            out[i, siren] = self.script[round(window[0])]
        return WindowScores(out, np.zeros(len(windows), np.float32))


def console_services(
    store: Store, cue_policy: CuePolicyView | str = "suggest", **optional: Any
) -> ConsoleServices:
    """The console's services on `store`: a fresh live feed, the cue policy (or only its mode),
    a map over Saint-Étienne unless `map_view` is given, and the optional services by name
    (`cameras`, `retention`, `video`, `decision_listeners`)."""
    policy = CuePolicyView(mode=cue_policy) if isinstance(cue_policy, str) else cue_policy
    optional.setdefault("map_view", MapView(lat=45.44, lon=4.39))
    return ConsoleServices(store=store, feed=LiveFeed(), cue_policy=policy, **optional)


def trial_sounds_reports(
    sensors: list[SensorSite],
    frame: LocalFrame,
    sounds: int,
    every_ns: int,
    half_m: float,
    seed: int,
) -> list[EventReport]:
    """The reports of `sounds` sounds of the cluster trial's classes (in turn), one every
    `every_ns` up to now (none in the future: the writer refuses onsets over 5 s ahead), each
    at a uniform place within ±half_m of the frame's origin, heard by every sensor in range
    without a miss, a false alarm or a repeat."""
    from ouie.cluster.synthetic import TRIAL_CLASSES
    from ouie.fusion.synthetic import ReportNoise, synthesize_deliveries, truth_event

    rng = np.random.default_rng(seed)
    t0 = time.time_ns() - sounds * every_ns
    truth = [
        truth_event(
            frame, TRIAL_CLASSES[k % 3], t0 + k * every_ns, *rng.uniform(-half_m, half_m, 2)
        )
        for k in range(sounds)
    ]
    noise = ReportNoise(miss_rate=0.0, false_alarms_per_sensor_hour=0.0, duplicate_rate=0.0)
    return [d.report for d in synthesize_deliveries(sensors, frame, truth, 343.0, noise, rng)]


def receipted_uplink(
    sensor_id: str, settings: BrokerSettings, folder: Path
) -> tuple[MqttBus, Outbox, SensorUplink]:
    """A sensor's uplink to a cluster's MQTT front door: its MQTT client, its on-disk outbox in
    `folder` and the uplink that keeps each report until a receipt (3 s, then sent again)."""
    bus = MqttBus(settings, f"sensor-{sensor_id}")
    outbox = Outbox(folder / f"outbox-{sensor_id}.sqlite")
    return bus, outbox, SensorUplink(sensor_id, bus, outbox, receipt_timeout_s=3.0)


def close_uplinks(uplinks: dict[str, tuple[MqttBus, Outbox, SensorUplink]]) -> None:
    """Close what `receipted_uplink` opened, for every sensor (what is unsent stays in the
    outboxes: a test is over)."""
    for bus, outbox, uplink in uplinks.values():
        uplink.close(timeout_s=0.0)
        bus.close()
        outbox.close()
