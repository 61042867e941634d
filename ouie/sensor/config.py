"""Typed configuration of the sensor node: the detector and the continuous loop."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from ouie.core.classes import EventClass
from ouie.core.config import StrictModel
from ouie.transport.mqtt import BrokerConfig

EVERYDAY_FULL_SCALE_DB_SPL = 110.0
"""Full scale, dB SPL, of the recordings YAMNet learnt from (a phone or consumer recorder at
everyday levels): the reference `input_gain_for_full_scale_db` calibrates against."""


def input_gain_for_full_scale_db(full_scale_db_spl: float) -> float:
    """The `DetectorConfig.input_gain_db` a microphone of this full scale (dB SPL) needs so that
    YAMNet hears a sound at the level a consumer recorder would give it:
    g = max(0, full_scale − EVERYDAY_FULL_SCALE_DB_SPL), dB."""
    return max(0.0, full_scale_db_spl - EVERYDAY_FULL_SCALE_DB_SPL)


class Backend(StrEnum):
    """Which detector scores the audio windows."""

    YAMNET = "yamnet"
    BUILTIN = "builtin"
    AUTO = "auto"


SHIPPED_OPERATING_POINT: dict[EventClass, float] = {
    EventClass.GUNSHOT: 0.8,
    EventClass.EXPLOSION: 0.9,
    EventClass.GLASS_BREAK: 0.95,
    EventClass.SCREAM: 0.95,
    EventClass.SIREN: 0.85,
    EventClass.FIREWORKS: 0.95,
    EventClass.ALARM: 0.3,  # not trained (3 clips): YAMNet's grouped score × p(none), not tuned
}
"""The per-class thresholds of the head shipped with ouie (`ouie/sensor/head.npz`,
ouie-head/6), its operating point: chosen by `ouie models train-head --recipe light` on held-out
predictions only (each source of at least 50 clips held out in turn, recording groups never
split, each clip decided as the sensor decides it; coordinate ascent on macro F1 with at most
2 % false alarms on everyday clips: `ouie.learn.loso.judge`). Figures, data and licences:
`ouie/sensor/head_report.json` (`operating_point`), `docs/results/detection.md`. The head file
carries the same numbers (tests/test_sensor_models_show.py holds them equal); this is where the
sensor takes them from."""


STREET_OPERATING_POINT: dict[EventClass, float] = {
    EventClass.GUNSHOT: 0.9,
    EventClass.EXPLOSION: 0.9,
    EventClass.GLASS_BREAK: 0.9,
    EventClass.SCREAM: 0.7,
    EventClass.SIREN: 0.7,
    EventClass.FIREWORKS: 0.3,
    EventClass.ALARM: 0.3,
}
"""The `street` profile's thresholds: ouie-head/4 at 0.7 for scream and siren, the verifier
ouie-verifier/1 at 0.9 for the classes it decides (gunshot, explosion, glass_break), alarm and
fireworks on YAMNet's grouped scores at 0.3 — the files' own numbers, chosen in November 2026 on
grouped cross-validation of the sources of then (not by leaving sources out:
`ouie/sensor/street/head_report.json`, docs/detection-history.md). The files carry them too."""


class DetectorProfile(StrEnum):
    """Which shipped head a detector runs (docs/sensor.md, "Profiles")."""

    RECORDING = "recording"
    """ouie-head/6 at SHIPPED_OPERATING_POINT, no verifier: trained on clips as recorded and
    the best on recordings from sources it never heard (`ouie detect` on a clip)."""
    STREET = "street"
    """ouie-head/4 + ouie-verifier/1 at STREET_OPERATING_POINT: trained with 20–300 m street
    renderings too; hears sounds across a street that ouie-head/6 misses (a pole microphone)."""


SUSTAINED_MIN_WINDOWS: dict[EventClass, int] = {
    EventClass.EXPLOSION: 2,
    EventClass.SCREAM: 2,
    EventClass.SIREN: 2,
    EventClass.ALARM: 2,
}
"""Windows an event of these classes must last to be confirmed (others: 1): a lone window
cannot raise a sustained sound."""

PROFILE_MIN_WINDOWS: dict[DetectorProfile, dict[EventClass, int]] = {
    DetectorProfile.RECORDING: SUSTAINED_MIN_WINDOWS,
    DetectorProfile.STREET: {
        c: n for c, n in SUSTAINED_MIN_WINDOWS.items() if c != EventClass.SCREAM
    },
}
"""`DetectorConfig.min_windows` when unset. The `street` profile confirms a scream on one window:
heard across a street, a scream of about a second fills one 0.975 s window and the next falls
under the release ratio, so two were never met (the nearest sensor at 28–44 m scored 0.86–0.88
once). Chosen on held-out renderings of the saint-etienne layout, not the demo evening (seed
43: 9 → 11 of 18 alerting events detected, false alerts 3 → 4, the extra one a second incident
for a true scream; seed 44: 8 → 10, false 5 → 5) and checked on the everyday-sound bench
(0.33 h: false alerts 4 → 2 with the headroom gain); docs/results/operator.md (2026-12-07)."""


class DetectorConfig(StrictModel):
    """How audio becomes events: detector backend, windows, thresholds, speech gate."""

    model_config = ConfigDict(title="Detector")

    backend: Backend = Field(
        default=Backend.AUTO,
        description="'yamnet' (needs the model file), 'builtin' (signal processing, lower "
        "quality) or 'auto' (YAMNet when a model file is found, else the built-in, loudly).",
    )
    model_path: Path | None = Field(
        default=None,
        description="YAMNet .tflite file; unset: the cache filled by `ouie models pull yamnet`.",
    )
    use_head: bool = Field(
        default=True,
        description="Classify YAMNet's embedding with ouie's trained head (recommended); "
        "false: group YAMNet's own AudioSet scores into ouie classes.",
    )
    head_path: Path | None = Field(
        default=None, description="Head .npz file; unset: the head shipped with ouie."
    )
    profile: DetectorProfile = Field(
        default=DetectorProfile.RECORDING,
        description="'recording' (ouie-head/6: clips as recorded, the default) or 'street' "
        "(ouie-head/4 + verifier, trained with far renderings: a microphone on a pole); "
        "head_path, verify and thresholds override what the profile chooses.",
    )
    verify: bool | None = Field(
        default=None,
        description="Give each gunshot, explosion or glass-break candidate a second look with "
        "the verifier head, on a window aligned on the sound's leading edge (YAMNet with a head "
        "only; about 0.4 s more latency for these classes). Unset: the profile's choice (street "
        "yes, recording no: on sources it never heard, ouie-verifier/1 cost ouie-head/5 more "
        "gunshots and glass than the false alarms it saved, docs/results/detection.md).",
    )
    verifier_path: Path | None = Field(
        default=None,
        description="Verifier .npz file (`ouie models train-head --recipe ensemble` writes one); "
        "unset: the shipped one, ouie-verifier/1 (`ouie/sensor/street/verifier.npz`).",
    )
    candidate_threshold: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="With the verifier: a window score that makes a candidate of a class the "
        "verifier decides (`thresholds` then applies to the verifier's score).",
    )
    input_gain_db: float = Field(
        default=0.0,
        ge=0.0,
        le=60.0,
        description="Digital gain on the audio YAMNet hears (not on onset picking or reported "
        "levels), dB. YAMNet learnt from recordings at everyday levels: a microphone with "
        "headroom for gunshots (full scale 120–130 dB SPL) hears a scream across the street "
        "at −55 dBFS, where YAMNet hears almost nothing. Each window gets at most the "
        "gain that lifts its peak to ±0.5 (a loud window less, one past it none: "
        "`ouie.sensor.yamnet.headroom_gains`). 0 for audio files recorded at everyday "
        "levels; for a microphone, `input_gain_for_full_scale_db` of its full scale.",
    )
    hop_s: float = Field(
        default=0.48, gt=0.0, le=0.975, description="Hop between 0.975 s analysis windows, s."
    )
    thresholds: dict[EventClass, float] = Field(
        default_factory=dict,
        description="Per-class score threshold that opens an event (for a class the verifier "
        "decides: that confirms it). Classes left out: with the shipped head, its operating "
        "point (SHIPPED_OPERATING_POINT, chosen on sources held out); with another head file, "
        "that file's own; without a head, the backend's calibrated defaults.",
    )
    min_windows: dict[EventClass, int] | None = Field(
        default=None,
        description="Per-class minimum event length in windows (sustained sounds: 2, so a lone "
        "window cannot raise them); classes left out: 1. Unset: the profile's "
        "(`PROFILE_MIN_WINDOWS`).",
    )

    @property
    def windows_to_confirm(self) -> dict[EventClass, int]:
        """`min_windows`, or the profile's when unset (`PROFILE_MIN_WINDOWS`)."""
        if self.min_windows is not None:
            return self.min_windows
        return PROFILE_MIN_WINDOWS[self.profile]

    release_ratio: float = Field(
        default=0.6,
        gt=0.0,
        le=1.0,
        description="Hysteresis: an open event goes on while its score ≥ ratio × threshold.",
    )
    speech_gate: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="A window whose speech score reaches this and exceeds every event score "
        "is suppressed (speech is never a target).",
    )
    clock_uncertainty_s: float = Field(
        default=0.0005,
        ge=0.0,
        le=1.0,
        description="1-σ uncertainty of the sensor clock (GPS/PTP/NTP), s; added to reports.",
    )
    max_event_s: float = Field(
        default=30.0, gt=1.0, le=600.0, description="An event longer than this is cut, s."
    )


class FileSourceConfig(StrictModel):
    """Audio from a file, played at its own pace or as fast as possible."""

    kind: Literal["file"] = "file"
    path: Path = Field(description="Audio file (any format read_audio reads).")
    start_utc: str | None = Field(
        default=None, description="UTC instant of sample 0 (ISO 8601 'Z'); unset: now."
    )
    realtime: bool = Field(default=False, description="Pace blocks at real time.")


class MicrophoneSourceConfig(StrictModel):
    """A sound card input through PortAudio (sounddevice)."""

    kind: Literal["microphone"] = "microphone"
    device: str | int | None = Field(default=None, description="PortAudio device; unset: default.")
    sample_rate_hz: int = Field(default=16_000, gt=0, description="Capture rate, Hz.")


class RtspSourceConfig(StrictModel):
    """The audio track of a network stream, e.g. an IP camera's RTSP URL (PyAV)."""

    kind: Literal["rtsp"] = "rtsp"
    url: str = Field(description="Stream URL (rtsp://, http://, or a file path FFmpeg reads).")


class UplinkConfig(StrictModel):
    """Reports over MQTT with store-and-forward: each report is written to an on-disk queue and
    deleted only when the broker acknowledges it (`ouie.transport.outbox.SensorUplink`)."""

    broker: BrokerConfig = Field(
        description="The broker; `username` and `client_id` default to the sensor's id."
    )
    outbox_path: Path = Field(
        default=Path("outbox.sqlite"), description="The on-disk queue (SQLite file)."
    )
    heartbeat_s: float = Field(
        default=30.0, gt=0.0, description="Interval of the retained 'online' status, s."
    )
    drain_timeout_s: float = Field(
        default=10.0, ge=0.0, description="At stop, how long to try to deliver what is queued, s."
    )
    receipt_timeout_s: float | None = Field(
        default=None,
        gt=0.0,
        description="For a clustered deployment (NATS's MQTT listener): keep each report until "
        "the cluster's receipt, publishing it again when none came this long after its PUBACK, "
        "s. None (Mosquitto): the PUBACK is the receipt.",
    )


class SensorConfig(StrictModel):
    """One sensor node: its id, audio source, detector and where reports go."""

    model_config = ConfigDict(title="Sensor")

    sensor_id: str = Field(min_length=1, max_length=64, description="This sensor's id.")
    source: FileSourceConfig | MicrophoneSourceConfig | RtspSourceConfig = Field(
        discriminator="kind", description="Where the audio comes from."
    )
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Detection.")
    block_s: float = Field(default=0.5, gt=0.0, le=10.0, description="Audio block length, s.")
    output: Path | None = Field(
        default=None, description="JSON-lines file for reports; unset: standard output."
    )
    uplink: UplinkConfig | None = Field(
        default=None, description="Publish reports over MQTT instead of writing JSON lines."
    )

    @model_validator(mode="before")
    @classmethod
    def _broker_account_is_the_sensor(cls, data: object) -> object:
        """`uplink.broker.username` and `client_id` default to the sensor's id."""
        if isinstance(data, dict) and isinstance(data.get("uplink"), dict):
            broker = data["uplink"].get("broker")
            if isinstance(broker, dict) and "sensor_id" in data:
                broker.setdefault("username", data["sensor_id"])
                broker.setdefault("client_id", f"sensor-{data['sensor_id']}")
        return data

    @model_validator(mode="after")
    def _one_destination(self) -> SensorConfig:
        if self.uplink is not None and self.output is not None:
            raise ValueError("set either `output` (JSON lines) or `uplink` (MQTT), not both")
        return self
