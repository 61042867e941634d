"""Context episodes: one incident for a siren or alarm heard by sensor after sensor.

A moving siren (an ambulance crossing the district) or a long alarm is heard by each sensor
when it comes within range, not by all sensors at once from one wavefront: its onsets do not
satisfy the TDOA rules, so association alone would raise one `single` (or `hyperbola`)
incident per sensor, tens of them for one ambulance. Context incidents that onsets could not
locate (status single or hyperbola, class siren or alarm: `SUSTAINED_CLASSES`) are therefore
folded into an
**episode**: an open incident of the same class group whose last onset is at most
`context_episode_gap_s` before this one and whose sensors are within 2·R of this one's (R the
class's hearing range). The episode is re-emitted with revision + 1 and status `area`:

- position: energy centroid of its reports' sensors, Σ wᵢ sᵢ / Σ wᵢ, wᵢ = 10^(peak_dbfsᵢ/10);
- uncertainty_m: max(single_sensor_radius_m, maxᵢ ‖sᵢ − centroid‖), the circle that holds
  every sensor that heard it (where the sound went, not where it is now);
- onset: the first onset; class: the score-weighted vote; every report id kept.

Impulsive classes are never folded (each gunshot, or firework, even from one sensor, is its own
incident) and a siren that has a fix keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S
from ouie.fusion.baselines import energy_centroid_en_m
from ouie.fusion.config import FusionConfig
from ouie.fusion.localization import vote_class
from ouie.fusion.multilateration import Array

SUSTAINED_CLASSES = frozenset({EventClass.SIREN, EventClass.ALARM})
"""Classes heard for long stretches, by sensor after sensor, rather than as one wavefront."""


def foldable(incident: Incident) -> bool:
    """Whether an incident may join an episode: a sustained class that onsets did not locate."""
    return incident.class_ in SUSTAINED_CLASSES and incident.status != IncidentStatus.FIX


@dataclass
class _Episode:
    """Reports folded so far under one incident id, and its last emitted revision."""

    incident_id: str
    reports: dict[str, EventReport] = field(default_factory=dict)
    revision: int = 0

    @property
    def last_onset_ns(self) -> int:
        return max(r.onset_ns for r in self.reports.values())


class ContextEpisodes:
    """The open episodes of one associator (see the module docstring)."""

    def __init__(
        self,
        positions_enu_m: dict[str, Array],
        distance_m: dict[tuple[str, str], float],
        frame: LocalFrame,
        config: FusionConfig,
    ) -> None:
        """`distance_m`: the associator's sensor-to-sensor distances, m."""
        self.positions_enu_m = positions_enu_m
        self.distance_m = distance_m
        self.frame = frame
        self.config = config
        self._episodes: list[_Episode] = []
        self._by_incident: dict[str, _Episode] = {}

    def fold(self, incident: Incident, reports: list[EventReport]) -> Incident:
        """The incident to emit for `incident` (built from `reports`): an `area` revision of the
        episode it joins, or the incident itself when it opens an episode of its own. The same
        incident folded again (a late report revised it) updates its episode."""
        episode = self._by_incident.get(incident.incident_id) or self._joinable(reports)
        if episode is None:
            episode = _Episode(incident.incident_id, revision=incident.revision)
            self._episodes.append(episode)
        self._by_incident[incident.incident_id] = episode
        episode.reports.update({r.report_id: r for r in reports})
        if episode.incident_id == incident.incident_id and len(episode.reports) == len(reports):
            episode.revision = incident.revision
            return incident
        episode.revision += 1
        return self._area_incident(episode)

    def expire(self, now_ns: int) -> None:
        """Forget episodes silent for more than context_episode_gap_s."""
        gap_ns = round(self.config.context_episode_gap_s * NS_PER_S)
        self._episodes = [e for e in self._episodes if e.last_onset_ns + gap_ns >= now_ns]
        alive = {id(e) for e in self._episodes}
        self._by_incident = {k: e for k, e in self._by_incident.items() if id(e) in alive}

    def _joinable(self, reports: list[EventReport]) -> _Episode | None:
        """The most recent open episode within the gap and within 2·R of a sensor (R the
        sustained classes' hearing range)."""
        gap_ns = round(self.config.context_episode_gap_s * NS_PER_S)
        first_ns = min(r.onset_ns for r in reports)
        reach_m = 2.0 * self.config.range_m(*SUSTAINED_CLASSES)
        near = [
            e
            for e in self._episodes
            if first_ns - e.last_onset_ns <= gap_ns and self._closest_m(e, reports) <= reach_m
        ]
        return max(near, key=lambda e: e.last_onset_ns, default=None)

    def _closest_m(self, episode: _Episode, reports: list[EventReport]) -> float:
        """Smallest distance between a sensor of the episode and a sensor of `reports`, m."""
        return min(
            self.distance_m[ours.sensor_id, theirs.sensor_id]
            for ours in episode.reports.values()
            for theirs in reports
        )

    def _area_incident(self, episode: _Episode) -> Incident:
        """The episode as an `area` incident (module docstring)."""
        reports = sorted(episode.reports.values(), key=lambda r: (r.onset_ns, r.report_id))
        centroid = energy_centroid_en_m(reports, self.positions_enu_m)
        sites = np.array([self.positions_enu_m[r.sensor_id][:2] for r in reports])
        spread_m = float(np.max(np.linalg.norm(sites - centroid, axis=1)))
        lat, lon, _ = self.frame.to_wgs84(centroid[0], centroid[1], self.config.source_height_m)
        return Incident(
            incident_id=episode.incident_id,
            revision=episode.revision,
            class_=vote_class(reports),
            status=IncidentStatus.AREA,
            onset_ns=reports[0].onset_ns,
            lat=float(lat),
            lon=float(lon),
            east_m=float(centroid[0]),
            north_m=float(centroid[1]),
            uncertainty_m=max(self.config.single_sensor_radius_m, spread_m),
            sensors_used=sorted({r.sensor_id for r in reports}),
            report_ids=[r.report_id for r in reports],
            score=max(r.score for r in reports),
        )
