"""Context episodes: one incident for a siren, an alarm or a firework show, however many
sensors and bangs.

A moving siren (an ambulance crossing the district) or a long alarm is heard by each sensor
when it comes within range, not by all sensors at once from one wavefront: its onsets do not
satisfy the TDOA rules, so association alone would raise one `single` (or `hyperbola`, or a
`fix` of ±kilometres from onsets of different moments) incident per sensor, tens of them for one
ambulance; a firework show is tens of bangs. Context incidents (`FOLDED_GROUPS`: siren or alarm,
fireworks) are therefore folded into an
**episode**: an open incident of the same class group whose last onset is at most
`context_episode_gap_s` before this one and whose sensors are within 2·R of this one's (R the
group's hearing range). The episode is re-emitted with revision + 1 and status `area`:

- position: for fireworks, when some of its incidents were well located (a `fix` within
  single_sensor_radius_m: the bangs of a show), the mean p̄ of those fixes and
  uncertainty_m = maxⱼ (‖pⱼ − p̄‖ + rⱼ), rⱼ their 95 % radii (where the show is);
- otherwise the energy centroid of its reports' sensors, Σ wᵢ sᵢ / Σ wᵢ, wᵢ = 10^(peak_dbfsᵢ/10),
  and uncertainty_m = max(single_sensor_radius_m, maxᵢ ‖sᵢ − centroid‖), the circle that holds
  every sensor that heard it (where the sound went, not where it is now);
- onset: the first onset; class: the score-weighted vote; every report id kept.

Alerting classes are never folded (each gunshot, even from one sensor, is its own incident).
An open firework episode near a gunshot or explosion is what `fireworks_nearby` reports, for
its rank (`ouie.fusion.confirmation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.report import EventReport, ReportKey
from ouie.core.timebase import NS_PER_S
from ouie.fusion.baselines import energy_centroid_en_m
from ouie.fusion.config import FusionConfig
from ouie.fusion.localization import vote_class
from ouie.fusion.multilateration import Array
from ouie.fusion.neighbours import PairDistances

SUSTAINED_CLASSES = frozenset({EventClass.SIREN, EventClass.ALARM})
"""Classes heard for long stretches, by sensor after sensor, rather than as one wavefront."""

FIREWORKS = frozenset({EventClass.FIREWORKS})

FOLDED_GROUPS: tuple[frozenset[EventClass], ...] = (SUSTAINED_CLASSES, FIREWORKS)
"""Context class groups folded into episodes; an episode holds one group."""


def fold_group(incident: Incident) -> frozenset[EventClass] | None:
    """The episode group an incident folds into, None for a class that is never folded."""
    return next((g for g in FOLDED_GROUPS if incident.class_ in g), None)


@dataclass
class _Episode:
    """Reports folded so far under one incident id, and its last emitted revision."""

    incident_id: str
    group: frozenset[EventClass]
    parts: dict[str, dict[ReportKey, EventReport]] = field(default_factory=dict)
    """Per folded incident id, its reports as last emitted (a revision replaces its part:
    a report its candidate let go leaves the episode too)."""
    revision: int = 0
    fixes: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    """Per folded incident id, (east m, north m, 95 % radius m) of its fix when it was well
    located (`fix` within single_sensor_radius_m) and fireworks: a show fires from one spot (a
    siren moves: its 'fixes' from onsets of different moments mean nothing)."""

    @property
    def reports(self) -> dict[ReportKey, EventReport]:
        """Every report of the episode, by report id."""
        return {rid: r for part in self.parts.values() for rid, r in part.items()}

    @property
    def last_onset_ns(self) -> int:
        return max(r.onset_ns for r in self.reports.values())

    @property
    def first_onset_ns(self) -> int:
        return min(r.onset_ns for r in self.reports.values())


class ContextEpisodes:
    """The open episodes of one associator (see the module docstring)."""

    def __init__(
        self,
        positions_enu_m: dict[str, Array],
        distance_m: PairDistances,
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
        group = fold_group(incident)
        assert group is not None, f"{incident.class_} is never folded"
        episode = self._by_incident.get(incident.incident_id) or self._joinable(group, reports)
        if episode is None:
            episode = _Episode(incident.incident_id, group, revision=incident.revision)
            self._episodes.append(episode)
        self._by_incident[incident.incident_id] = episode
        episode.parts[incident.incident_id] = {r.key: r for r in reports}
        episode.fixes.pop(incident.incident_id, None)
        if (
            group == FIREWORKS
            and incident.status == IncidentStatus.FIX
            and incident.east_m is not None
            and incident.north_m is not None
            and incident.uncertainty_m is not None
            and incident.uncertainty_m <= self.config.single_sensor_radius_m
        ):
            fix = (incident.east_m, incident.north_m, incident.uncertainty_m)
            episode.fixes[incident.incident_id] = fix
        if episode.incident_id == incident.incident_id and len(episode.reports) == len(reports):
            episode.revision = incident.revision
            return incident
        episode.revision += 1
        return self._area_incident(episode)

    def release(self, incident_id: str) -> list[Incident]:
        """An incident folded earlier that is no longer context (a new member changed its
        class vote to gunshot, say) leaves its episode: the episode's new revision, without
        its reports, to emit (none if it was alone). An episode named after it takes the id of
        another of its incidents (the released one keeps its own id)."""
        episode = self._by_incident.pop(incident_id, None)
        if episode is None:
            return []
        del episode.parts[incident_id]
        episode.fixes.pop(incident_id, None)
        if not episode.parts:
            self._episodes.remove(episode)
            return []
        if episode.incident_id == incident_id:
            episode.incident_id, episode.revision = next(iter(episode.parts)), 0
        episode.revision += 1
        return [self._area_incident(episode)]

    def expire(self, now_ns: int) -> None:
        """Forget episodes silent for more than context_episode_gap_s."""
        gap_ns = round(self.config.context_episode_gap_s * NS_PER_S)
        self._episodes = [e for e in self._episodes if e.last_onset_ns + gap_ns >= now_ns]
        alive = {id(e) for e in self._episodes}
        self._by_incident = {k: e for k, e in self._by_incident.items() if id(e) in alive}

    def fireworks_nearby(
        self, onset_ns: int, points_en_m: Array, radius_m: float
    ) -> tuple[float, float] | None:
        """(s since its last bang, m away) of the closest firework episode heard within
        context_episode_gap_s before `onset_ns` with a sensor within `radius_m` of one of
        `points_en_m` ((n, 2) east/north, where a source may be); None if there is none."""
        gap_ns = round(self.config.context_episode_gap_s * NS_PER_S)
        found = []
        for episode in self._episodes:
            if episode.group != FIREWORKS or onset_ns < episode.first_onset_ns:
                continue
            since_ns = onset_ns - episode.last_onset_ns
            if since_ns > gap_ns:
                continue
            away_m = min(
                float(
                    np.min(
                        np.linalg.norm(points_en_m - self.positions_enu_m[r.sensor_id][:2], axis=1)
                    )
                )
                for r in episode.reports.values()
            )
            if away_m <= radius_m:
                found.append((max(since_ns, 0) / NS_PER_S, away_m))
        return min(found, key=lambda f: f[1], default=None)

    def _joinable(
        self, group: frozenset[EventClass], reports: list[EventReport]
    ) -> _Episode | None:
        """The most recent open episode of `group` within the gap and within 2·R of a sensor
        (R the group's hearing range)."""
        gap_ns = round(self.config.context_episode_gap_s * NS_PER_S)
        first_ns = min(r.onset_ns for r in reports)
        reach_m = 2.0 * self.config.range_m(*group)
        near = [
            e
            for e in self._episodes
            if e.group == group
            and first_ns - e.last_onset_ns <= gap_ns
            and self._closest_m(e, reports) <= reach_m
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
        if episode.fixes:
            points = np.array([f[:2] for f in episode.fixes.values()])
            radii = np.array([f[2] for f in episode.fixes.values()])
            centroid = points.mean(axis=0)
            uncertainty_m = float(np.max(np.linalg.norm(points - centroid, axis=1) + radii))
        else:
            centroid = energy_centroid_en_m(reports, self.positions_enu_m)
            sites = np.array([self.positions_enu_m[r.sensor_id][:2] for r in reports])
            spread_m = float(np.max(np.linalg.norm(sites - centroid, axis=1)))
            uncertainty_m = max(self.config.single_sensor_radius_m, spread_m)
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
            uncertainty_m=uncertainty_m,
            sensors_used=sorted({r.sensor_id for r in reports}),
            report_ids=[r.report_id for r in reports],
            score=max(r.score for r in reports),
        )
