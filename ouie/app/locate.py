"""Fusion of a finished recording or replay: detection on every sensor's file, then the
streaming associator run in onset order, keeping each incident's last revision."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident
from ouie.core.recording import RecordingFolder, SensorSite
from ouie.core.report import EventReport
from ouie.fusion.association import Associator
from ouie.fusion.config import FusionConfig

if TYPE_CHECKING:
    from ouie.sensor.config import DetectorConfig


def frame_for(sensors: Sequence[SensorSite]) -> LocalFrame:
    """A local frame at the sensors' mean position, ground height 0 (flat ground)."""
    return LocalFrame(
        float(np.mean([s.lat for s in sensors])), float(np.mean([s.lon for s in sensors])), 0.0
    )


def fuse_reports(
    reports: Sequence[EventReport],
    sensors: list[SensorSite],
    frame: LocalFrame,
    config: FusionConfig | None = None,
) -> tuple[list[Incident], Associator]:
    """Incidents (last revision each, in onset order) from reports delivered the instant they
    happened; also returns the associator, whose `stats` count duplicates and rejections."""
    associator = Associator(sensors, frame, config)
    latest: dict[str, Incident] = {}
    ordered = sorted(reports, key=lambda r: (r.onset_ns, r.sensor_id))
    for report in ordered:
        for incident in associator.add(report, report.onset_ns):
            latest[incident.incident_id] = incident
    for incident in associator.flush():
        latest[incident.incident_id] = incident
    return sorted(latest.values(), key=lambda i: i.onset_ns), associator


Detect = Callable[[Path, int, str], list[EventReport]]
"""(audio path, UTC ns of sample 0, sensor id) → that sensor's reports."""


def detector_config(
    backend: str = "auto", model: Path | None = None, **settings: object
) -> DetectorConfig:
    """The sensors' `DetectorConfig` from command-line values: `backend`, the YAMNet `model`
    file and any other field given (those count as set explicitly). Raises ConfigError naming a
    bad field (a backend name it does not know)."""
    from ouie.core.config import validate_config
    from ouie.sensor.config import DetectorConfig

    values: dict[str, object] = {"backend": backend, **settings}
    if model is not None:
        values["model_path"] = model
    return validate_config(values, DetectorConfig, "detector options")


def sensor_detector(config: DetectorConfig) -> tuple[Detect, str]:
    """The sensor pipeline (`ouie.sensor.pipeline.SensorPipeline`) as a `Detect`, and the
    detector's name. Raises ModelUnavailableError (a RuntimeError) when the model file is
    missing."""
    from ouie.audio.io import read_audio
    from ouie.sensor.pipeline import SensorPipeline

    pipeline = SensorPipeline(config)

    def detect(path: Path, start_ns: int, sensor_id: str) -> list[EventReport]:
        return list(pipeline.reports(read_audio(path), start_ns, sensor_id))

    return detect, pipeline.scorer.model_id.name


def detect_recording(
    folder: RecordingFolder,
    detect: Detect,
    on_error: Callable[[str, Exception], None],
    progress: bool = True,
) -> list[EventReport]:
    """Reports of every sensor of `folder`; a sensor whose detection fails is passed to
    `on_error(sensor_id, error)` and skipped, the others go on. A rich progress bar on stderr."""
    from rich.console import Console
    from rich.progress import track

    reports: list[EventReport] = []
    sites = track(
        folder.sensors,
        description="detecting",
        console=Console(stderr=True),
        transient=True,
        disable=not progress,
    )
    for site in sites:
        try:
            reports += detect(folder.wav_path(site.id), folder.start_ns, site.id)
        except Exception as error:  # one unreadable file must not stop the others
            on_error(site.id, error)
    return reports
