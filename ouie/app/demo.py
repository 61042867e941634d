"""`ouie demo`: a Saint-Étienne evening on a live map, in one process, with nothing to install.

The demo simulates the scenario's audio at every sensor (`ouie.sim`), then replays it in real or
accelerated time: each sensor's detector (`ouie.sensor`) hears its own audio block by block and
publishes `ouie.report/2` reports on the in-process bus; the central service (`ouie.central`)
validates, stores and fuses them (`ouie.fusion`) into incidents, and cues virtual ONVIF cameras
(`ouie.cameras`) under the cue mode; the console serves the live map on 127.0.0.1.

Simulated time: the central service, the fusion windows and the cameras' latency clock all run
on `ReplayClock`, the scenario's own UTC advanced at `speed` × wall time, so that accelerated
replays keep the sensors' sample-accurate onsets (the TDOAs) exactly as simulated. At the end
the demo scores its incidents against the scenario's truth (`ouie.fusion.evaluation`) and
summarises counts and cue latencies (`--summary FILE` writes them as JSON).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from pydantic import BaseModel, Field
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ouie.app.config import CityConfig
from ouie.app.locate import detector_config
from ouie.app.serve import build_central
from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.cameras.config import CamerasConfig, CueingConfig, CueMode
from ouie.cameras.planning import buildings_enu
from ouie.console.server import BackgroundServer
from ouie.console.users import create_user
from ouie.core.classes import ALERTING_CLASSES, EventClass
from ouie.core.geo import LocalFrame
from ouie.core.incident import Assessment, Burst, Incident, IncidentStatus
from ouie.core.recording import RecordingFolder
from ouie.core.report import EventReport
from ouie.core.site import write_buildings_geojson
from ouie.core.timebase import NS_PER_S, ns_to_iso, sample_time_ns
from ouie.fusion.config import FusionConfig
from ouie.fusion.evaluation import evaluate
from ouie.notify.config import NotifyConfig
from ouie.sensor.config import DetectorConfig, DetectorProfile, input_gain_for_full_scale_db
from ouie.sensor.model_files import cache_dir
from ouie.sensor.pipeline import SensorPipeline
from ouie.sim.cameras.render import Mark
from ouie.sim.cameras.sites import cameras_from_scenario
from ouie.sim.cameras.virtual import VirtualCameraFleet, scenario_marks, start_virtual_cameras
from ouie.sim.render import simulate
from ouie.sim.scenario import Scenario, load_scenario
from ouie.store.models import IncidentRow
from ouie.store.records import CueState, Role
from ouie.store.repository import Store
from ouie.transport.bus import InProcessBus
from ouie.transport.topics import (
    ONLINE,
    REPORTS_QOS,
    STATUS_QOS,
    reports_topic,
    status_topic,
)

DEMO_LEGAL_BASIS = "none: demonstration only, on simulated sound (no real person is filmed)"
DEMO_DPIA = "none: demonstration only (ouie demo), not for deployment"
HEARTBEAT_S = 30.0
"""Sensors publish an 'online' heartbeat this often (simulated s)."""
MARK_WINDOW_S = 20.0
"""A simulated source stays marked in the virtual cameras' images this long after it sounds, s."""
SETTLE_S = 5.0
"""After the last block, simulated time given to the association windows to close, s."""
PROGRESS_EVERY_BLOCKS = 10
"""The progress line recounts incidents every this many audio blocks."""


class DemoOptions(BaseModel):
    """What `ouie demo` runs (its command-line options)."""

    scenario: str = Field(default="saint-etienne", description="Built-in name or YAML path.")
    speed: float = Field(default=1.0, gt=0, le=50, description="Simulated s per wall s.")
    duration_s: float | None = Field(
        default=None, gt=0, description="Simulated span, s; None: the whole scenario."
    )
    auto_cue: bool = Field(
        default=False, description="Cue mode auto (declared as a demonstration) instead of suggest."
    )
    host: str = Field(default="127.0.0.1", description="Console bind address (loopback).")
    port: int = Field(default=8000, ge=0, le=65535, description="Console port (0: any free).")
    detector: DetectorConfig = Field(
        default_factory=DetectorConfig,
        description="The sensors' detector (YAMNet when a model is found, else the built-in).",
    )
    cache_dir: Path | None = Field(
        default=None, description="Where rendered scenarios are kept; None: the ouie cache."
    )
    audio_dir: Path | None = Field(
        default=None,
        description="Folder-per-class real recordings for the events and background "
        "(e.g. ../shared/audio); None: the simulator's synthetic sources.",
    )
    block_s: float = Field(default=0.5, gt=0, le=5, description="Audio block per step, s.")
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig,
        description="Alerts out, as in city.yaml's notify section (all off by default).",
    )
    camera_audio: bool = Field(
        default=False,
        description="The virtual cameras' own audio detectors hear the scripted events and "
        "publish ONVIF events, which the central takes in (they may confirm incidents).",
    )


class DemoLogin(BaseModel):
    """A console account created for this run (fresh random password each time)."""

    name: str
    role: Role
    password: str


class ReplayClock:
    """Simulated UTC ns for every part of the demo.

    paced(t) = start_ns + speed × (wall − wall₀) once `start()` is called (start_ns before);
    clock(t) = min(paced(t), frontier), where the frontier is the end of the audio the sensors
    have processed plus one block. While the detectors keep up, the clock is the paced time;
    when they fall behind (a slow machine, a high speed), simulated time waits for them, so that
    no part of the chain sees a world ahead of what the sensors have heard. Both terms only grow,
    so the clock never goes back.
    """

    def __init__(
        self, start_ns: int, speed: float, wall_s: Callable[[], float] = time.monotonic
    ) -> None:
        self.start_ns, self.speed, self._wall_s = start_ns, speed, wall_s
        self.frontier_ns = start_ns
        self._wall0: float | None = None

    def start(self) -> None:
        """Let simulated time run from now."""
        self._wall0 = self._wall_s()

    def paced_ns(self) -> int:
        """Where simulated time would be at exactly `speed` × wall time."""
        if self._wall0 is None:
            return self.start_ns
        return self.start_ns + round((self._wall_s() - self._wall0) * self.speed * NS_PER_S)

    def __call__(self) -> int:
        return min(self.paced_ns(), self.frontier_ns)

    def heard_until(self, sim_ns: int, ahead_ns: int) -> None:
        """The sensors have processed audio up to `sim_ns`; let time run `ahead_ns` further."""
        self.frontier_ns = max(self.frontier_ns, sim_ns + ahead_ns)

    def sleep_until(self, sim_ns: int) -> None:
        """Wait (in wall time) until paced time reaches `sim_ns`."""
        ahead_s = (sim_ns - self.paced_ns()) / NS_PER_S / self.speed
        if ahead_s > 0:
            time.sleep(ahead_s)


class CueLatency(BaseModel):
    """From the end of what the reporting sensors had heard (latest onset + duration_s) to the
    confirmed camera command, over the executed cues, simulated s."""

    n: int
    p50_s: float | None
    p99_s: float | None
    max_s: float | None

    @classmethod
    def of(cls, latencies_s: list[float]) -> CueLatency:
        """Percentiles of `latencies_s` (None when empty)."""
        if not latencies_s:
            return cls(n=0, p50_s=None, p99_s=None, max_s=None)
        values = np.asarray(latencies_s)
        return cls(
            n=len(values),
            p50_s=float(np.percentile(values, 50)),
            p99_s=float(np.percentile(values, 99)),
            max_s=float(values.max()),
        )


class IncidentOutcome(BaseModel):
    """One incident of the run and the true event it answers (if any)."""

    id: str
    class_: str = Field(serialization_alias="class")
    onset_utc: str
    status: str
    lat: float | None
    lon: float | None
    uncertainty_m: float | None
    n_sensors: int
    shown_as: str = Field(
        description="What the operator was shown: 'alert', 'unconfirmed' (alerting, held "
        "back by network confirmation or a class profile) or 'context'."
    )
    truth_class: str | None = None
    truth_onset_utc: str | None = None
    error_m: float | None = Field(default=None, description="Horizontal error of a fix, m.")
    inside_ellipse95: bool | None = None


class DemoSummary(BaseModel):
    """What a demo run did, measured (`--summary FILE`)."""

    scenario: str
    speed: float
    simulated_s: float
    wall_s: float = Field(description="Wall time of the replay, s.")
    achieved_speed: float = Field(
        description="Simulated s per wall s actually reached (below `speed` when the detectors "
        "could not keep up)."
    )
    cpu_count: int | None
    detector: str = Field(description="The sensors' model id name.")
    input_gain_db: float = Field(
        description="Gain on what the sensors' YAMNet hears, from the scenario's microphone "
        "calibration unless set (`DetectorConfig.input_gain_db`), dB."
    )
    profile: str = Field(description="The sensors' detector profile (street unless set).")
    cue_mode: str
    reports_published: int
    reports_stored: int
    incidents: int
    alerting_true_events: int
    detected: int
    fixed: int
    fixed_within_10_m: int = Field(description="Alerting events located within 10 m.")
    false_incidents: int = Field(
        description="Alerts an operator would have had that answer no true event."
    )
    alerts_true: int = Field(description="Alerts (alerting, confirmed) that answer a true event.")
    unconfirmed: int = Field(description="Alerting incidents shown apart, never alerted.")
    context_episodes: int = Field(description="Context incidents (sirens, alarms, fireworks).")
    context_sounds: int = Field(description="Siren, alarm and fireworks events in the script.")
    median_error_m: float | None
    p90_error_m: float | None
    cue_states: dict[str, int]
    cue_latency: CueLatency
    incident_outcomes: list[IncidentOutcome]


def cache_root(options: DemoOptions) -> Path:
    """Where rendered scenarios are kept."""
    if options.cache_dir is not None:
        return options.cache_dir
    return cache_dir() / "demo"


def prepare_recording(
    scenario: Scenario, duration_s: float, root: Path, audio_dir: Path | None = None
) -> RecordingFolder:
    """The scenario rendered for `duration_s` (cached under a digest of the scenario, the
    duration and the audio folder: the same inputs give the same files, so a second run starts
    at once, and an edited scenario is rendered anew)."""
    inputs = (
        f"{scenario.model_dump_json()}|{duration_s:g}|{audio_dir.resolve() if audio_dir else ''}"
    )
    digest = hashlib.sha256(inputs.encode()).hexdigest()[:12]
    folder = root / f"{scenario.name}-{duration_s:g}s-{digest}"
    if (folder / "truth.json").is_file():
        return RecordingFolder.read(folder)
    return simulate(scenario, folder, audio_dir=audio_dir, duration_s=duration_s, progress=True)


def create_logins(store: Store) -> list[DemoLogin]:
    """One account per role, with fresh random passwords (argon2-hashed in the store)."""
    logins = [
        DemoLogin(name=role.value, role=role, password=secrets.token_urlsafe(9)) for role in Role
    ]
    for login in logins:
        create_user(store, login.name, login.role, login.password, actor="ouie-demo")
    return logins


@dataclass
class DemoRun:
    """A running demo: where the console is and who may log in."""

    url: str
    logins: list[DemoLogin]
    store: Store
    clock: ReplayClock


def write_cameras_file(fleet: VirtualCameraFleet, cueing: CueingConfig, folder: Path) -> Path:
    """The running virtual cameras as a cameras YAML for the central service, their shared
    credentials in a 0600 secret file beside it (never in the YAML)."""
    secret = folder / "cameras.secret"
    secret.touch(mode=0o600)
    password = fleet.credentials.password.get_secret_value()
    secret.write_text(f"{fleet.credentials.username}:{password}\n", encoding="utf-8")
    cameras = [c.model_copy(update={"secret_file": secret}) for c in fleet.configs.values()]
    path = folder / "cameras.yaml"
    document = CamerasConfig(cueing=cueing, cameras=cameras).model_dump(mode="json")
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def street_detector(detector: DetectorConfig, full_scale_db_spl: float) -> DetectorConfig:
    """`detector` as a pole microphone of this full scale (dB SPL) needs it, for what was not
    set explicitly: the `street` profile and the input gain `input_gain_for_full_scale_db`."""
    update: dict[str, object] = {}
    if "profile" not in detector.model_fields_set:
        update["profile"] = DetectorProfile.STREET
    if "input_gain_db" not in detector.model_fields_set:
        update["input_gain_db"] = input_gain_for_full_scale_db(full_scale_db_spl)
    return detector.model_copy(update=update)


def simulated_street_detector(
    model: Path | None,
    full_scale_db_spl: float,
    profile: str | None = None,
    input_gain_db: float | None = None,
) -> DetectorConfig:
    """The detector of a simulated street's sensors, as `ouie demo` runs them
    (`street_detector`) unless `profile` or `input_gain_db` is given (the benches' options)."""
    explicit = {"profile": profile, "input_gain_db": input_gain_db}
    given = {name: value for name, value in explicit.items() if value is not None}
    return street_detector(detector_config("auto", model, **given), full_scale_db_spl)


@contextmanager
def running_demo(options: DemoOptions, work_dir: Path) -> Iterator[tuple[DemoRun, Replay]]:
    """Start every part around a rendered recording: virtual cameras, the central service as
    `ouie serve` builds it (`build_central`, in-process bus, replay clock, the console's camera
    desk as its cuer), the console on it with the scenario's map and buildings;
    yields the run and the replay, and stops everything on exit. `work_dir` holds the database
    and the cameras file."""
    scenario = load_scenario(options.scenario)
    duration_s = min(options.duration_s or scenario.duration_s, scenario.duration_s)
    recording = prepare_recording(scenario, duration_s, cache_root(options), options.audio_dir)
    clock = ReplayClock(recording.start_ns, options.speed)
    detector = street_detector(options.detector, scenario.microphone.full_scale_db_spl)
    pipeline = SensorPipeline(detector)  # fails here, before anything runs, without a model
    if options.auto_cue:
        cueing = CueingConfig(mode=CueMode.AUTO, legal_basis=DEMO_LEGAL_BASIS, dpia=DEMO_DPIA)
    else:
        cueing = CueingConfig(mode=CueMode.SUGGEST)

    cameras = cameras_from_scenario(scenario)
    if options.camera_audio:
        cameras = [c.model_copy(update={"audio_events": True}) for c in cameras]
    fusion = FusionConfig(air_temperature_c=scenario.weather.air_temperature_c)
    with ExitStack() as stack:
        fleet = stack.enter_context(
            start_virtual_cameras(
                cameras,
                scenario.frame,
                buildings_enu(scenario.buildings, scenario.frame),
            )
        )
        city = CityConfig(
            name=scenario.name,
            origin=scenario.origin,
            database_url=f"sqlite:///{work_dir / 'ouie-demo.db'}",
            transport="inprocess",
            sensors_file=recording.path / "sensors.geojson",
            cameras_file=write_cameras_file(fleet, cueing, work_dir),
            buildings_file=write_buildings_geojson(
                scenario.buildings, work_dir / "buildings.geojson"
            ),
            fusion=fusion,
            notify=options.notify,
        )
        bus = InProcessBus()
        runtime = build_central(city, bus=bus, clock=clock)
        stack.callback(runtime.close)
        logins = create_logins(runtime.store)
        server = stack.enter_context(BackgroundServer(runtime.app, options.host, options.port))
        stack.callback(runtime.feed.close)  # first: live streams end, then the server stops
        run = DemoRun(url=f"{server.url}/console/", logins=logins, store=runtime.store, clock=clock)
        replay = Replay(
            scenario=scenario,
            recording=recording,
            duration_s=duration_s,
            options=options,
            bus=bus,
            clock=clock,
            set_marks=fleet.set_marks,
            pipeline=pipeline,
            cue_mode=cueing.mode.value,
            store=runtime.store,
            cameras_hear=camera_ears(scenario, fleet, recording.start_ns, fusion)
            if options.camera_audio
            else None,
        )
        yield run, replay


CAMERA_DETECTOR_SCORE = 0.8
"""The score the virtual cameras' own audio detectors give what they hear."""


def camera_ears(
    scenario: Scenario, fleet: VirtualCameraFleet, start_ns: int, fusion: FusionConfig
) -> Callable[[int, int], None]:
    """The virtual cameras' own audio detectors, as a function of each replayed span
    [from_ns, to_ns): every camera hears the scripted events of an ouie class whose sound
    reaches it then (emission + d/c, d ≤ the class's hearing range) and publishes it, stamped
    on its own clock. A perfect classifier at `CAMERA_DETECTOR_SCORE`: it stands for a camera
    vendor's detector, not ouie's."""
    c_mps, frame = fusion.speed_of_sound_mps, scenario.frame
    arrivals: list[tuple[int, str, EventClass]] = []
    for event in scenario.events:
        if event.class_ not in set(EventClass):
            continue  # a distractor (door slam, ...): no class to report
        event_class = EventClass(event.class_)
        source = np.array(
            frame.to_enu(event.lat, event.lon, frame.origin_height_m + event.height_m)
        )
        for camera_id, camera in fleet.configs.items():
            mount = frame.to_enu(camera.lat, camera.lon, frame.origin_height_m + camera.height_m)
            distance_m = float(np.linalg.norm(np.array(mount) - source))
            if distance_m <= fusion.range_m(event_class):
                heard_s = event.time_s + distance_m / c_mps
                arrivals.append((start_ns + round(heard_s * NS_PER_S), camera_id, event_class))

    def hear(from_ns: int, to_ns: int) -> None:
        for at_ns, camera_id, event_class in arrivals:
            if from_ns <= at_ns < to_ns:
                fleet.cameras[camera_id].hear(event_class, CAMERA_DETECTOR_SCORE)

    return hear


@dataclass
class Replay:
    """Plays the recording through the sensors' detectors onto the bus, then scores the run."""

    scenario: Scenario
    recording: RecordingFolder
    duration_s: float
    options: DemoOptions
    bus: InProcessBus
    clock: ReplayClock
    set_marks: Callable[[list[Mark]], None]
    pipeline: SensorPipeline
    cue_mode: str
    store: Store
    console: Console | None = None
    """Where the progress goes (None: rich's default console, stdout)."""
    cameras_hear: Callable[[int, int], None] | None = None
    """The cameras' own detectors hear a replayed span (`camera_ears`); None: they are deaf."""
    published: int = 0
    detector: str = ""
    wall_s: float = 0.0

    def publish(self, report: EventReport) -> None:
        """One report onto the bus, as a sensor's uplink does."""
        self.bus.publish(reports_topic(report.sensor_id), report.to_json().encode(), REPORTS_QOS)
        self.published += 1

    def heartbeat(self) -> None:
        """Every sensor says it is online (retained, as over MQTT)."""
        for sensor in self.recording.sensors:
            self.bus.publish(status_topic(sensor.id), ONLINE.encode(), STATUS_QOS, retain=True)

    def marks_at(self, t_s: float, all_marks: list[Mark]) -> list[Mark]:
        """Sources that sounded in the last MARK_WINDOW_S (what the cameras would see)."""
        return [
            mark
            for event, mark in zip(self.scenario.events, all_marks, strict=True)
            if t_s - MARK_WINDOW_S <= event.time_s <= t_s
        ]

    def run(self, stop: threading.Event | None = None) -> None:
        """Replay `duration_s` of audio at `speed` (or until `stop` is set)."""
        pipeline = self.pipeline
        self.detector = pipeline.scorer.model_id.name
        sensors = self.recording.sensors
        streams = {s.id: pipeline.stream(s.id) for s in sensors}
        all_marks = scenario_marks(self.scenario)
        block = round(self.options.block_s * SAMPLE_RATE_HZ)
        total = round(self.duration_s * SAMPLE_RATE_HZ)
        with ExitStack() as files:
            audio = {
                s.id: files.enter_context(sf.SoundFile(self.recording.wav_path(s.id)))
                for s in sensors
            }
            wrong = [sid for sid, f in audio.items() if f.samplerate != SAMPLE_RATE_HZ]
            if wrong:
                raise ValueError(f"demo audio must be {SAMPLE_RATE_HZ} Hz: {', '.join(wrong)}")
            self.heartbeat()
            next_heartbeat_s, marks = HEARTBEAT_S, None
            wall0 = time.monotonic()
            self.clock.start()
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} s simulated"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[shown]}"),
            )
            with Progress(*columns, console=self.console) as bar:
                task = bar.add_task(
                    f"{self.scenario.name} ×{self.options.speed:g}",
                    total=self.duration_s,
                    shown="",
                )
                for first in range(0, total, block):
                    if stop is not None and stop.is_set():
                        break
                    n = min(block, total - first)
                    start_ns = sample_time_ns(self.recording.start_ns, first, SAMPLE_RATE_HZ)
                    end_ns = start_ns + round(n * NS_PER_S / SAMPLE_RATE_HZ)
                    self.clock.sleep_until(end_ns)
                    for sensor_id, stream in streams.items():
                        samples = audio[sensor_id].read(n, dtype="float32", always_2d=True)
                        for report in stream.feed(samples.mean(axis=1), start_ns):
                            self.publish(report)
                    self.clock.heard_until(end_ns, end_ns - start_ns)
                    if self.cameras_hear is not None:
                        self.cameras_hear(start_ns, end_ns)
                    t_s = (first + n) / SAMPLE_RATE_HZ
                    if t_s >= next_heartbeat_s:
                        self.heartbeat()
                        next_heartbeat_s += HEARTBEAT_S
                    now_marks = self.marks_at(t_s, all_marks)
                    if now_marks != marks:
                        self.set_marks(now_marks)
                        marks = now_marks
                    if first % (PROGRESS_EVERY_BLOCKS * block) == 0:
                        shown = self.progress_line(t_s, time.monotonic() - wall0)
                        bar.update(task, completed=t_s, shown=shown)
                    else:
                        bar.update(task, completed=t_s)
            for stream in streams.values():
                for report in stream.flush():
                    self.publish(report)
        end_ns = self.recording.start_ns + round(self.duration_s * NS_PER_S)
        self.clock.heard_until(end_ns, round(SETTLE_S * NS_PER_S))
        self.clock.sleep_until(end_ns + round(SETTLE_S * NS_PER_S))
        self.bus.drain(10.0)
        self.wall_s = time.monotonic() - wall0
        self.wait_for_cues()

    def progress_line(self, simulated_s: float, wall_s: float) -> str:
        """Speed reached and what the operator sees so far: alerts, unconfirmed, context."""
        sections: dict[str, int] = {"alert": 0, "unconfirmed": 0, "context": 0}
        for row in self.store.list_incidents(limit=100_000):
            record = fusion_incident(row, self.scenario.frame)
            if record.raises_alert:
                sections["alert"] += 1
            elif record.unconfirmed:
                sections["unconfirmed"] += 1
            else:
                sections["context"] += 1
        speed = simulated_s / wall_s if wall_s > 0 else 0.0
        return (
            f"×{speed:.1f} reached · {self.published} reports · {sections['alert']} alerts · "
            f"{sections['unconfirmed']} unconfirmed · {sections['context']} context"
        )

    def wait_for_cues(self, timeout_s: float = 10.0, quiet_s: float = 0.5) -> None:
        """Wait (bounded) until cueing has settled: no new cue for `quiet_s` and every executed
        cue with its latency recorded (the service plans, moves and stores cues on its own
        worker thread, after the incident)."""
        deadline = time.monotonic() + timeout_s
        seen: list[tuple[int, str, float | None]] = []
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            cues = [
                (cue.id, cue.state, cue.latency_s)
                for incident in self.store.list_incidents(limit=100_000)
                for cue in self.store.list_cues(incident.id)
            ]
            settled = all(state != CueState.EXECUTED or lat is not None for _, state, lat in cues)
            if cues == seen and settled:
                return
            seen = cues

    def summary(self) -> DemoSummary:
        """Score the incidents against the scenario's truth; count reports, cues, latencies."""
        truth = [
            t
            for t in (self.recording.truth or [])
            if t.onset_ns < self.recording.start_ns + self.duration_s * NS_PER_S
        ]
        incidents = [
            fusion_incident(row, self.scenario.frame)
            for row in self.store.list_incidents(limit=100_000)
        ]
        evaluation = evaluate(incidents, truth, self.scenario.frame)
        outcomes = {
            i.incident_id: IncidentOutcome(
                id=i.incident_id,
                class_=str(i.class_),
                onset_utc=i.onset_utc,
                status=str(i.status),
                lat=i.lat,
                lon=i.lon,
                uncertainty_m=i.uncertainty_m,
                n_sensors=i.n_sensors,
                shown_as="alert" if i.raises_alert else "unconfirmed" if i.alerting else "context",
            )
            for i in sorted(incidents, key=lambda i: i.onset_ns)
        }
        for match in evaluation.matches:
            if match.incident_id in outcomes:
                event = truth[match.truth_index]
                outcomes[match.incident_id] = outcomes[match.incident_id].model_copy(
                    update={
                        "truth_class": str(event.class_),
                        "truth_onset_utc": ns_to_iso(event.onset_ns),
                        "error_m": match.error_m,
                        "inside_ellipse95": match.inside_ellipse95,
                    }
                )
        matched = {m.incident_id for m in evaluation.matches if m.incident_id is not None}
        context_classes = {c.value for c in EventClass} - {c.value for c in ALERTING_CLASSES}
        cues = [cue for i in incidents for cue in self.store.list_cues(i.incident_id)]
        states: dict[str, int] = {}
        for cue in cues:
            states[cue.state] = states.get(cue.state, 0) + 1
        return DemoSummary(
            scenario=self.scenario.name,
            speed=self.options.speed,
            simulated_s=self.duration_s,
            wall_s=round(self.wall_s, 3),
            achieved_speed=round(self.duration_s / self.wall_s, 3) if self.wall_s else 0.0,
            cpu_count=os.cpu_count(),
            detector=self.detector,
            input_gain_db=self.pipeline.config.input_gain_db,
            profile=str(self.pipeline.config.profile),
            cue_mode=self.cue_mode,
            reports_published=self.published,
            reports_stored=self.store.count_reports(),
            incidents=len(incidents),
            alerting_true_events=evaluation.alerting_events,
            detected=evaluation.detected,
            fixed=evaluation.fixed,
            fixed_within_10_m=evaluation.fixed_within_10_m,
            false_incidents=evaluation.false_incidents,
            alerts_true=sum(i.raises_alert and i.incident_id in matched for i in incidents),
            unconfirmed=sum(i.unconfirmed for i in incidents),
            context_episodes=sum(not i.alerting for i in incidents),
            context_sounds=sum(
                e.class_ in context_classes and e.time_s < self.duration_s
                for e in self.scenario.events
            ),
            median_error_m=evaluation.errors.median_m,
            p90_error_m=evaluation.errors.p90_m,
            cue_states=states,
            cue_latency=CueLatency.of([c.latency_s for c in cues if c.latency_s is not None]),
            incident_outcomes=list(outcomes.values()),
        )


def fusion_incident(row: IncidentRow, frame: LocalFrame) -> Incident:
    """A stored incident in fusion's form, for `ouie.fusion.evaluation.evaluate` (the store
    keeps no covariance, so the 95 % ellipse test is left out)."""
    east_m = north_m = None
    if row.lat is not None and row.lon is not None:
        east, north, _ = frame.to_enu(row.lat, row.lon, frame.origin_height_m)
        east_m, north_m = float(east), float(north)
    return Incident(
        incident_id=row.id,
        revision=max(row.revision, 1),
        class_=EventClass(row.class_),
        status=IncidentStatus(row.status),
        onset_ns=row.onset_ns,
        lat=row.lat,
        lon=row.lon,
        east_m=east_m,
        north_m=north_m,
        uncertainty_m=row.uncertainty_m,
        sensors_used=list(row.sensors_used),
        report_ids=list(row.report_ids),
        score=row.score or 0.0,
        assessment=Assessment.model_validate(row.assessment) if row.assessment else None,
        burst=Burst.model_validate(row.burst) if row.burst else None,
    )
