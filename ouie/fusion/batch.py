"""Fusion of a finished set of reports (a recording, a replay): the streaming associator run in
onset order, keeping each incident's last revision."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ouie.core.geo import LocalFrame
from ouie.core.recording import SensorSite
from ouie.core.report import EventReport
from ouie.fusion.association import Associator
from ouie.fusion.config import FusionConfig
from ouie.fusion.incident import Incident


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
