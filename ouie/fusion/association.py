"""Streaming association: which reports from different sensors are the same sound.

Two reports a, b (sensors at distance d_ab) can be the same sound when

- their classes are compatible (`COMPATIBLE_GROUPS`: impulsive sounds are confused with one
  another, screams and sirens/alarms are not confused with impulsive sounds);
- d_ab ≤ 2·R, R the larger hearing range of the two classes (no sound is heard that far apart);
- |t_a − t_b| ≤ min(d_ab, R) / c + clock_tolerance_s + 3·√(σ_a² + σ_b²):
  a sound cannot take longer than the straight line between the two sensors to go from one to
  the other, and with both within R of the source, |d_a − d_b| ≤ R;
- they come from different sensors (one report per sensor per incident).

A report joins the candidate incident it is compatible with (all members pairwise). Once the
robust fix of a candidate's members uses PREDICTING_MEMBERS of them consistently, it predicts
the onset at every other sensor (τ + d/c): a report must then match that prediction (within
clock_tolerance_s + 3σ, or late by at most max_nlos_delay_s) instead of the pairwise onset
rule, and the best-predicting candidate wins; among candidates too small to predict, the one
with most members. Otherwise the report opens a new candidate. A candidate that starts to
predict claims the predicted reports of waiting candidates that cannot, and places again the
members that joined it earlier and that its consensus neither uses nor predicts. This keeps
the shots of a burst or volley (0.25–1 s apart, heard up to 2 s apart across a network) apart.

A candidate is fused and emitted when its waiting window closes: first onset + min(max sensor
spacing, R)/c + window_margin_s, compared with the caller's clock `now_ns`, or earlier, as a
provisional incident, as soon as it is trustworthy (`provisional_incidents`: at least
`provisional_min_sensors` members whose fix is consistent, the same test that lets a candidate
predict; or three members of an alerting class whose exact fix has a single solution and a small
enough ellipse, `provisional_exact_max_radius_m`, so that a camera turns on the third report
instead of after the window). Emitted incidents keep accepting reports until the window closes plus
late_report_grace_s and are re-emitted with revision + 1: after each new member while the window
is open (a provisional incident follows the reports in hand), then only when a late report
improves them.

Cameras' own audio detections (`corroborate`) confirm emitted incidents and never open one
(`ouie.fusion.corroboration`); one that matches no incident yet waits, for late_report_grace_s,
for an incident it matches.

Memory is bounded: at most max_open_incidents candidates (the oldest is fused early, never lost)
and max_remembered_report_ids report ids for de-duplication.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter, OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ouie.core.camera_sound import CameraSound
from ouie.core.classes import ALERTING_CLASSES, EventClass
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident
from ouie.core.recording import SensorSite
from ouie.core.report import EventReport, ReportKey
from ouie.core.site import CameraSite
from ouie.core.timebase import NS_PER_S
from ouie.fusion.bursts import Bursts, location_quality
from ouie.fusion.config import FusionConfig
from ouie.fusion.confirmation import assess, heard_by, source_points_en_m
from ouie.fusion.corroboration import corroborated_score, distance_to_camera_m, lag_miss_s
from ouie.fusion.episodes import ContextEpisodes, fold_group
from ouie.fusion.localization import (
    locate_reports,
    onset_sigmas_s,
    sensor_positions_enu_m,
    vote_class,
)
from ouie.fusion.multilateration import (
    Array,
    TdoaFix,
    is_consistent,
    locate_source,
    mirror_fix,
    radius_95,
)
from ouie.fusion.neighbours import PairDistances, SensorGrid, largest_spacing_m
from ouie.fusion.shown import ShownIncidents

log = logging.getLogger(__name__)

COMPATIBLE_GROUPS: tuple[frozenset[EventClass], ...] = (
    frozenset(
        {EventClass.GUNSHOT, EventClass.EXPLOSION, EventClass.FIREWORKS, EventClass.GLASS_BREAK}
    ),
    frozenset({EventClass.SCREAM}),
    frozenset({EventClass.SIREN, EventClass.ALARM}),
)
"""Classes a detector can confuse for one sound heard at different distances and angles."""


CONFUSABLE_CONTEXT = frozenset(
    c for group in COMPATIBLE_GROUPS if group & ALERTING_CLASSES for c in group - ALERTING_CLASSES
)
"""Context classes a detector confuses with alerting ones (fireworks): the sensors that call a
sound so count against its alerting class (`ouie.fusion.confirmation`)."""


PREDICTING_MEMBERS = 4
"""Members from which a candidate's fix predicts other onsets: 3 fit exactly and may pick the
mirror solution, 4 have one redundant onset to check it."""


def classes_compatible(a: EventClass, b: EventClass) -> bool:
    """Whether two reported classes can describe the same sound."""
    return any(a in group and b in group for group in COMPATIBLE_GROUPS)


@dataclass
class _Candidate:
    """Reports gathered for one sound, and what was last emitted for them."""

    reports: dict[str, EventReport]
    deadline_ns: int
    incident_id: str
    emitted: Incident | None = None
    closed: bool = False
    """Whether its window has closed (seen by `poll`): from then on only improvements count."""
    prediction: tuple[tuple[str, ...], int, TdoaFix] | None = None
    """Cached (member report ids in order, reference ns of its times, fix) of the members'
    fix: its per-sensor arrays follow that order."""
    shown_alone: bool = False
    """Whether it was emitted as itself, not folded into an episode (see `_as_episode`)."""
    expelled: set[ReportKey] = field(default_factory=set)
    """Keys of the reports it expelled as strays: they never join it again (without this, a
    stray whose departure stops the candidate predicting was placed straight back, forever)."""
    heard: dict[str, CameraSound] = field(default_factory=dict)
    """Cameras whose own detection confirmed it, by camera id (one each)."""
    called_otherwise: int = 0
    """Sensors outside it that called its sound a context class, at its last assessment."""


def _incident_id(report: EventReport, opened_before: int = 0) -> str:
    """A stable id derived from the report that opened the incident (its key: report ids are
    unique per sensor only; and, for a report that opens a second candidate after it was moved
    out of its first, how many it opened before)."""
    sensor_id, report_id = report.key
    suffix = f"/{opened_before}" if opened_before else ""
    return hashlib.sha256(f"{sensor_id}/{report_id}{suffix}".encode()).hexdigest()[:16]


@dataclass
class AssociatorStats:
    """Counters a person (or /metrics) can read."""

    reports: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    incidents_emitted: int = 0
    incidents_updated: int = 0
    evicted_early: int = 0
    camera_sounds: int = 0
    camera_sounds_matched: int = 0


class Associator:
    """Groups reports into incidents and locates them, as reports stream in.

    `add` returns the incidents emitted or updated by that call (including windows that closed),
    `poll` the incidents whose windows closed by `now_ns`, `flush` everything still waiting.
    """

    def __init__(
        self,
        sensors: list[SensorSite],
        frame: LocalFrame,
        config: FusionConfig | None = None,
        cameras: Sequence[CameraSite] = (),
    ) -> None:
        """`cameras`: where the cameras whose audio detections `corroborate` takes are."""
        self.config = config or FusionConfig()
        self.frame = frame
        self.positions_enu_m = sensor_positions_enu_m(sensors, frame)
        self._sensors_en = {k: (float(p[0]), float(p[1])) for k, p in self.positions_enu_m.items()}
        self._cameras_en: dict[str, tuple[float, float]] = {}
        for camera in cameras:
            east, north, _ = frame.to_enu(camera.lat, camera.lon, frame.origin_height_m)
            self._cameras_en[camera.id] = (float(east), float(north))
        self._waiting_sounds: list[CameraSound] = []
        self.stats = AssociatorStats()
        self.recent_rejections: deque[tuple[str, str]] = deque(maxlen=100)
        self._candidates: list[_Candidate] = []
        self._seen_ids: OrderedDict[ReportKey, None] = OrderedDict()
        self._opened: OrderedDict[ReportKey, int] = OrderedDict()
        """How many candidates each recent report opened (a stray may open a second one: it
        must not reuse the first one's incident id)."""
        self._distance_m = PairDistances(self.positions_enu_m)
        self._spacing_m = largest_spacing_m(self.positions_enu_m, self.config.range_m())
        self._grid = SensorGrid(self.positions_enu_m, max(self.config.range_m(), 1.0))
        self._audible_cells = self._grid.reach_cells(2.0 * self.config.range_m())
        """Two sensors that can hear one sound (≤ 2·R apart, R the largest range) are at most
        this many grid cells apart: `_fits` skips the candidates beyond it at once."""
        self._episodes = ContextEpisodes(self.positions_enu_m, self._distance_m, frame, self.config)
        self._shown = ShownIncidents()
        self._bursts = Bursts(self.config, self.positions_enu_m, self._shown)
        self._confusable: deque[EventReport] = deque(maxlen=self.config.max_remembered_report_ids)
        """Recent reports of a context class confused with alerting ones (fireworks), for the
        class agreement of network confirmation (`_called_otherwise`)."""

    def window_ns(self, event_class: EventClass) -> int:
        """How long after its first onset a sound of this class may still be heard elsewhere,
        plus the latency margin: (min(max sensor spacing, range) / c + window_margin_s), ns."""
        reach_m = min(self._spacing_m, self.config.range_m(event_class))
        return round(
            (reach_m / self.config.speed_of_sound_mps + self.config.window_margin_s) * NS_PER_S
        )

    def add(self, report: EventReport, now_ns: int) -> list[Incident]:
        """Take one report; returns incidents emitted or updated (never raises on bad input)."""
        self.stats.reports += 1
        if report.key in self._seen_ids:
            self.stats.duplicates += 1
            return self.poll(now_ns)
        self._remember(report.key)
        if report.sensor_id not in self.positions_enu_m:
            self._reject(report, f"unknown sensor id {report.sensor_id!r}", "unknown_sensor")
            return self.poll(now_ns)
        placed = self._place(report)
        if report.class_ in CONFUSABLE_CONTEXT and self.config.confirmation.min_class_agreement:
            self._confusable.append(report)
            placed += self._reassess(report)
        return placed + self.poll(now_ns)

    def _called_otherwise(self, candidate: _Candidate) -> int:
        """Sensors outside `candidate` with a recent confusable context report (fireworks) that
        can be its sound: pairwise-compatible (`_pair_compatible`) with one of its members
        (none kept while min_class_agreement is 0)."""
        return len(
            {
                r.sensor_id
                for r in self._confusable
                if r.sensor_id not in candidate.reports
                and any(self._pair_compatible(r, m) for m in candidate.reports.values())
            }
        )

    def _reassess(self, report: EventReport) -> list[Incident]:
        """Re-emit (revision + 1) the emitted alerting incidents whose sound `report` (a
        confusable context report) may be, when it changes how many sensors called it
        otherwise: their network confirmation may change."""
        out: list[Incident] = []
        for candidate in self._candidates:
            incident = candidate.emitted
            if (
                incident is None
                or incident.class_ not in ALERTING_CLASSES
                or report.sensor_id in candidate.reports
                or not any(self._pair_compatible(report, m) for m in candidate.reports.values())
                or self._called_otherwise(candidate) == candidate.called_otherwise
            ):
                continue
            candidate.emitted = incident.model_copy(update={"revision": incident.revision + 1})
            out += self._as_episode(candidate, candidate.emitted)
        return out

    def corroborate(self, sound: CameraSound, now_ns: int) -> list[Incident]:
        """A camera's own audio detection: the emitted alerting incident it matches best (the
        stamp nearest its expected arrival) is re-emitted with its score raised, once per
        camera; a sound that matches none waits for one. It never opens an incident."""
        self.stats.camera_sounds += 1
        if sound.camera_id not in self._cameras_en:
            log.warning("sound from unknown camera %r ignored", sound.camera_id)
            return self.poll(now_ns)
        matches = [
            (miss, candidate)
            for candidate in self._candidates
            if candidate.emitted is not None
            and (miss := self._sound_miss_s(sound, candidate, candidate.emitted)) is not None
        ]
        if not matches:
            self._waiting_sounds.append(sound)
            return self.poll(now_ns)
        candidate = min(matches, key=lambda mc: mc[0])[1]
        assert candidate.emitted is not None
        candidate.heard[sound.camera_id] = sound
        incident = self._heard(candidate, candidate.emitted)
        candidate.emitted = incident = incident.model_copy(
            update={"revision": candidate.emitted.revision + 1}
        )
        self.stats.camera_sounds_matched += 1
        return [*self._as_episode(candidate, incident), *self.poll(now_ns)]

    def _sound_miss_s(
        self, sound: CameraSound, candidate: _Candidate, incident: Incident
    ) -> float | None:
        """How well `sound` fits `incident` (`lag_miss_s`); None when it cannot be its."""
        if (
            not isinstance(incident.class_, EventClass)
            or incident.class_ not in ALERTING_CLASSES
            or sound.camera_id in candidate.heard
            or not classes_compatible(incident.class_, sound.class_)
        ):
            return None
        camera = self._cameras_en[sound.camera_id]
        distance_m = distance_to_camera_m(incident, camera, self._sensors_en)
        return lag_miss_s(sound, incident, distance_m, self.config)

    def _heard(self, candidate: _Candidate, incident: Incident) -> Incident:
        """`incident` with the waiting sounds it matches taken in, and its score raised by
        every camera that heard it (`corroborated_score`)."""
        for sound in list(self._waiting_sounds):
            if self._sound_miss_s(sound, candidate, incident) is not None:
                candidate.heard[sound.camera_id] = sound
                self._waiting_sounds.remove(sound)
                self.stats.camera_sounds_matched += 1
        if not candidate.heard:
            return incident
        scores = [s.score for s in candidate.heard.values()]
        return incident.model_copy(
            update={
                "score": corroborated_score(
                    incident.score, scores, self.config.camera_sound_weight
                ),
                "cameras_heard": sorted(candidate.heard),
            }
        )

    def _place(self, report: EventReport) -> list[Incident]:
        """Put a report in its best candidate, or a new one, then place again the strays that
        this expels (`_strays`), one after the other; returns incidents emitted.

        Terminates: each expulsion adds a (report, candidate) pair that can never recur (the
        candidate's `expelled` set, honoured by `_fits`), and the work per call is bounded by
        `max_placements_per_report`: a stray still unplaced then is rejected and counted
        (`placement_bound`), never lost silently."""
        out: list[Incident] = []
        pending = deque([report])
        budget = self.config.max_placements_per_report
        while pending:
            report = pending.popleft()
            if budget == 0:
                self._reject(report, "placement bound reached", "placement_bound")
                continue
            budget -= 1
            candidate = self._best_candidate(report)
            if candidate is None:
                opened_before = self._opened.get(report.key, 0)
                self._opened[report.key] = opened_before + 1
                self._forget_beyond_bound(self._opened)
                self._candidates.append(
                    _Candidate(
                        reports={report.sensor_id: report},
                        deadline_ns=report.onset_ns + self.window_ns(report.class_),
                        incident_id=_incident_id(report, opened_before),
                    )
                )
                out += self._evict_if_full()
                continue
            self._join(candidate, report)
            claimed = self._claim_predicted(candidate)
            strays = self._strays(candidate)
            for stray in strays:
                del candidate.reports[stray.sensor_id]
                candidate.expelled.add(stray.key)
                pending.append(stray)
            if candidate.emitted is not None:
                updated = self._update(candidate, members_changed=bool(strays or claimed))
                if not updated and candidate.closed:
                    self._turn_away(candidate, report)
                out += updated
            elif self._trustworthy(candidate):
                out += self._emit(candidate)
        return out

    def _turn_away(self, candidate: _Candidate, report: EventReport) -> None:
        """A late report that did not improve its closed incident leaves it (the incident
        stays as emitted) and is counted (`late_no_improvement`), not kept unseen."""
        del candidate.reports[report.sensor_id]
        candidate.expelled.add(report.key)
        candidate.prediction = None
        self._reject(
            report,
            f"late report did not improve incident {candidate.incident_id}",
            "late_no_improvement",
        )

    def _join(self, candidate: _Candidate, report: EventReport) -> None:
        """Make `report` a member; its window may close the candidate's earlier."""
        candidate.reports[report.sensor_id] = report
        candidate.deadline_ns = min(
            candidate.deadline_ns, report.onset_ns + self.window_ns(report.class_)
        )

    def _claim_predicted(self, candidate: _Candidate) -> bool:
        """Once `candidate` predicts, move into it the reports of waiting candidates that
        cannot predict (they were formed before any prediction existed, by the pairwise rule
        alone) when it predicts their onsets (`_predicts`); candidates left empty vanish.
        In a volley, the first reports of a shot can open a candidate of their own, or join
        the previous shot's: this brings them back to their shot. Returns whether it claimed
        any."""
        if self._members_fix(candidate) is None:
            return False
        claimed = False
        for other in self._candidates:
            if other is candidate or other.emitted is not None or self._members_fix(other):
                continue
            for report in list(other.reports.values()):
                if self._predicts(candidate, report):
                    del other.reports[report.sensor_id]
                    self._join(candidate, report)
                    claimed = True
        self._candidates = [c for c in self._candidates if c.reports]
        return claimed

    def poll(self, now_ns: int) -> list[Incident]:
        """Emit candidates whose window closed by now_ns; forget those past their grace."""
        out = []
        for candidate in self._candidates:
            if candidate.deadline_ns <= now_ns and not candidate.closed:
                candidate.closed = True
                if candidate.emitted is None:
                    out += self._emit(candidate)
        self._episodes.expire(now_ns)
        grace_ns = round(self.config.late_report_grace_s * NS_PER_S)
        longest_window_ns = max(self.window_ns(c) for c in EventClass)
        self._bursts.expire(now_ns - longest_window_ns - grace_ns)
        self._shown.expire(now_ns - longest_window_ns - grace_ns)
        while self._confusable and self._confusable[0].onset_ns < now_ns - 2 * longest_window_ns:
            self._confusable.popleft()
        self._waiting_sounds = [s for s in self._waiting_sounds if s.heard_ns + grace_ns > now_ns]
        self._candidates = [
            c for c in self._candidates if c.emitted is None or c.deadline_ns + grace_ns > now_ns
        ]
        return out

    def flush(self) -> list[Incident]:
        """Emit every candidate still waiting, and forget all candidates."""
        out = []
        for candidate in self._candidates:
            if candidate.emitted is None:
                out += self._emit(candidate)
        self._candidates = []
        return out

    def _best_candidate(self, report: EventReport) -> _Candidate | None:
        """The compatible candidate that predicts the report's onset best (candidates of
        PREDICTING_MEMBERS or more, see `_onset_miss_s`), else the one with most members (then
        the closest first onset)."""
        scored = []
        for candidate in self._candidates:
            if not self._fits(report, candidate):
                continue
            miss_s = self._onset_miss_s(report, candidate)
            if miss_s is None or miss_s <= self._prediction_slack_s(report):
                scored.append((miss_s is None, miss_s or 0.0, candidate))
        if not scored:
            return None
        return min(
            scored,
            key=lambda s: (
                s[0],
                s[1],
                -len(s[2].reports),
                abs(min(r.onset_ns for r in s[2].reports.values()) - report.onset_ns),
            ),
        )[2]

    def _strays(self, candidate: _Candidate) -> list[EventReport]:
        """Members that joined before the candidate could predict and that its consensus
        (`_members_fix`) neither uses nor predicts (`_onset_miss_s` beyond the slack: not a
        late NLOS path but another sound): they are to be placed again."""
        members_fix = self._members_fix(candidate)
        if members_fix is None:
            return []
        members = list(candidate.reports.values())
        return [
            report
            for report, used in zip(members, members_fix[1].used, strict=True)
            if not used
            and (self._onset_miss_s(report, candidate) or 0.0) > self._prediction_slack_s(report)
        ]

    def _predicts(self, candidate: _Candidate, report: EventReport) -> bool:
        """Whether `report` fits `candidate` (`_fits`) and its onset is predicted by the
        candidate's members within `_prediction_slack_s`."""
        if not self._fits(report, candidate):
            return False
        miss_s = self._onset_miss_s(report, candidate)
        return miss_s is not None and miss_s <= self._prediction_slack_s(report)

    def _prediction_slack_s(self, report: EventReport) -> float:
        """How far a report's onset may miss a candidate's prediction and still join it:
        clock_tolerance_s + 3·σ, s (a late miss up to max_nlos_delay_s already counts as 0)."""
        (sigma,) = onset_sigmas_s([report], self.config)
        return self.config.clock_tolerance_s + 3.0 * float(sigma)

    def _trustworthy(self, candidate: _Candidate) -> bool:
        """Whether a waiting candidate may be emitted before its window closes: provisional
        incidents are on and either the members' fix (`_members_fix`) uses
        provisional_min_sensors of them or more, or the geometry of three allows it
        (`_exact_fix_trustworthy`)."""
        if not self.config.provisional_incidents:
            return False
        members_fix = self._members_fix(candidate)
        if members_fix is not None:
            return int(members_fix[1].used.sum()) >= self.config.provisional_min_sensors
        return self._exact_fix_trustworthy(candidate)

    def _exact_fix_trustworthy(self, candidate: _Candidate) -> bool:
        """Three members of an alerting class whose exact fix has one solution (no
        `mirror_fix`) and a 95 % radius (widened as unverified) within
        provisional_exact_max_radius_m: enough to point a camera while the window stays open
        for the sensors still to report."""
        reports = list(candidate.reports.values())
        limit_m = self.config.provisional_exact_max_radius_m
        if limit_m <= 0 or len(reports) != 3 or vote_class(reports) not in ALERTING_CLASSES:
            return False
        _, fix = self._fit(candidate)
        _, positions_enu_m, onsets_s, sigmas_s = self._members_data(reports)
        c_mps = self.config.speed_of_sound_mps
        return (
            fix.dof == 0
            and radius_95(fix.covariance_en_m2) <= limit_m
            and mirror_fix(fix, positions_enu_m, onsets_s, sigmas_s, c_mps, self.config) is None
        )

    def _members_fix(self, candidate: _Candidate) -> tuple[int, TdoaFix] | None:
        """(reference ns of its times, fix) of the candidate's members, cached per member list;
        None unless the fix uses PREDICTING_MEMBERS of them or more and passes the χ² test over
        those (`is_consistent`). The robust fit's consensus may leave members out (a late NLOS
        path, or a report of another sound that joined before the candidate could predict):
        the consensus still predicts, so one stray report does not let a candidate swallow the
        next shots of a volley."""
        if len(candidate.reports) < PREDICTING_MEMBERS:
            return None
        reference_ns, fix = self._fit(candidate)
        if fix.used.sum() < PREDICTING_MEMBERS or not is_consistent(fix, self.config):
            return None
        return reference_ns, fix

    def _fit(self, candidate: _Candidate) -> tuple[int, TdoaFix]:
        """(reference ns of its times, robust fix `locate_source`) of the candidate's members,
        cached per member list."""
        key = tuple(r.report_id for r in candidate.reports.values())
        if candidate.prediction is None or candidate.prediction[0] != key:
            reference_ns, positions_enu_m, onsets_s, sigmas_s = self._members_data(
                list(candidate.reports.values())
            )
            c_mps = self.config.speed_of_sound_mps
            fix = locate_source(positions_enu_m, onsets_s, sigmas_s, c_mps, self.config)
            candidate.prediction = (key, reference_ns, fix)
        _, reference_ns, fix = candidate.prediction
        return reference_ns, fix

    def _members_data(self, members: list[EventReport]) -> tuple[int, Array, Array, Array]:
        """(reference ns = the first onset, sensors' ENU positions m, onsets after it s, their
        σ s) of a candidate's members, as the TDOA fit takes them."""
        reference_ns = min(r.onset_ns for r in members)
        return (
            reference_ns,
            np.array([self.positions_enu_m[r.sensor_id] for r in members]),
            np.array([(r.onset_ns - reference_ns) / NS_PER_S for r in members]),
            onset_sigmas_s(members, self.config),
        )

    def _onset_miss_s(self, report: EventReport, candidate: _Candidate) -> float | None:
        """How far the report's onset tᵣ misses what the candidate's members predict at its
        sensor, s: |tᵣ − (τ + ‖p − s‖/c)| − 3·σ_pred from their fix (p, τ), where
        σ_pred² = g Σ gᵀ, g = (∂t/∂x, ∂t/∂y, 1), floored at 0; a late miss up to
        max_nlos_delay_s counts as 0 (an NLOS path). None (no opinion) when the members give
        no fix to trust (`_members_fix`)."""
        members_fix = self._members_fix(candidate)
        if members_fix is None:
            return None
        reference_ns, fix = members_fix
        site = self.positions_enu_m[report.sensor_id]
        delta = np.array(
            [fix.east_m - site[0], fix.north_m - site[1], self.config.source_height_m - site[2]]
        )
        distance_m = max(float(np.linalg.norm(delta)), 1e-6)
        c = self.config.speed_of_sound_mps
        gradient = np.array([delta[0] / (c * distance_m), delta[1] / (c * distance_m), 1.0])
        sigma_s = float(np.sqrt(max(gradient @ fix.covariance @ gradient, 0.0)))
        miss_s = (report.onset_ns - reference_ns) / NS_PER_S - fix.emission_s - distance_m / c
        if 0.0 < miss_s <= self.config.max_nlos_delay_s:
            return 0.0
        return max(abs(miss_s) - 3.0 * sigma_s, 0.0)

    def _fits(self, report: EventReport, candidate: _Candidate) -> bool:
        """Whether `report` can be the same sound as every member of `candidate`: by the
        pairwise rule, or, once the candidate predicts, by classes and range alone (its onset
        is then judged by the prediction, which a member's late NLOS onset does not skew)."""
        if report.sensor_id in candidate.reports or report.key in candidate.expelled:
            return False
        anchor = next(iter(candidate.reports))
        if not self._grid.maybe_within(report.sensor_id, anchor, self._audible_cells):
            return False  # too far from a member for either rule (`_pair_audible`)
        rule = self._pair_compatible if self._members_fix(candidate) is None else self._pair_audible
        return all(rule(report, other) for other in candidate.reports.values())

    def _pair_audible(self, a: EventReport, b: EventReport) -> bool:
        """Classes compatible and sensors at most 2·R apart (R: the classes' hearing range)."""
        range_m = self.config.range_m(a.class_, b.class_)
        return (
            classes_compatible(a.class_, b.class_)
            and self._distance_m[a.sensor_id, b.sensor_id] <= 2.0 * range_m
        )

    def _pair_compatible(self, a: EventReport, b: EventReport) -> bool:
        """The pairwise rule of the module docstring (`_pair_audible`, |Δt| ≤ d/c + slack)."""
        if not self._pair_audible(a, b):
            return False
        distance_m = self._distance_m[a.sensor_id, b.sensor_id]
        range_m = self.config.range_m(a.class_, b.class_)
        sigma_s = math.hypot(
            a.onset_uncertainty_s, b.onset_uncertainty_s, math.sqrt(2) * self.config.model_sigma_s
        )
        slack_s = (
            min(distance_m, range_m) / self.config.speed_of_sound_mps
            + self.config.clock_tolerance_s
            + 3.0 * sigma_s
        )
        return abs(a.onset_ns - b.onset_ns) <= slack_s * NS_PER_S

    def _locate(self, candidate: _Candidate, revision: int) -> Incident:
        """The candidate's incident; if the numerics fail (they should not), the error is
        logged and counted and the incident is kept, placed at its first sensor (`single`)."""
        reports = list(candidate.reports.values())
        args = (self.positions_enu_m, self.frame, self.config)
        try:
            incident = locate_reports(reports, *args, candidate.incident_id, revision)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            self.stats.rejected["localization_failed"] += 1
            log.exception("incident %s could not be located", candidate.incident_id)
            first = min(reports, key=lambda r: r.onset_ns)
            incident = locate_reports([first], *args, candidate.incident_id, revision)
        return self._heard(candidate, incident)

    def _emit(self, candidate: _Candidate) -> list[Incident]:
        """Fuse a candidate whose window closed (or that is trustworthy early); emit it if
        enough sensors heard it."""
        incident = self._locate(candidate, revision=1)
        candidate.emitted = incident
        if incident.n_sensors + len(incident.sensors_rejected) < self.config.min_sensors:
            return []
        self.stats.incidents_emitted += 1
        return self._as_episode(candidate, incident)

    def _update(self, candidate: _Candidate, members_changed: bool = False) -> list[Incident]:
        """Refit an emitted candidate after a new member. While its window is open the
        (provisional) incident follows the reports in hand, even when the new fit is less sure
        (a fifth onset can reveal an NLOS path the first four hid); after the window closes, a
        late report re-emits it only if it improved (`location_quality`), or if it expelled a stray
        (`members_changed`: the stray now belongs elsewhere, the incident must let it go)."""
        assert candidate.emitted is not None
        previous = candidate.emitted
        incident = self._locate(candidate, revision=previous.revision + 1)
        if (
            candidate.closed
            and not members_changed
            and location_quality(incident) <= location_quality(previous)
        ):
            return []
        candidate.emitted = incident
        self.stats.incidents_updated += 1
        return self._as_episode(candidate, incident)

    def _as_episode(self, candidate: _Candidate, incident: Incident) -> list[Incident]:
        """What to emit for a candidate's incident: for a siren, alarm or fireworks, the `area`
        incident of the episode it folds into (`ouie.fusion.episodes`; off when
        context_episode_gap_s is 0); else itself, assessed (`ouie.fusion.confirmation`) and
        folded into the burst of its repeats (`ouie.fusion.bursts`), after the episode it
        leaves if it was folded before under another class. Once shown on its
        own (an explosion that a later member turns into fireworks), it stays on its own: an
        incident already shown is revised, never made to vanish into an episode."""
        fold = fold_group(incident) is not None and self.config.context_episode_gap_s > 0
        if not fold or candidate.shown_alone:
            candidate.shown_alone = True
            fireworks = self._episodes.fireworks_nearby(
                incident.onset_ns,
                source_points_en_m(incident, self.positions_enu_m),
                self.config.confirmation.context_radius_m,
            )
            candidate.called_otherwise = self._called_otherwise(candidate)
            assessed = assess(
                incident,
                self._assessed_sensors(incident),
                self.config,
                fireworks,
                candidate.called_otherwise,
            )
            released = self._episodes.release(incident.incident_id)
            return [*map(self._shown.stamped, released), *self._bursts.fold(assessed)]
        episode = self._episodes.fold(incident, list(candidate.reports.values()))
        return [self._shown.stamped(episode)]

    def _assessed_sensors(self, incident: Incident) -> dict[str, Array]:
        """The sensors `assess` needs for `incident`: those that heard it and those in the grid
        cells within the class's sure range of where its source may be (a superset of the
        sensors it expects; the others cannot change its assessment), not the whole city."""
        sure_m = (
            self.config.confirmation.sure_range_m.get(incident.class_)
            if isinstance(incident.class_, EventClass)
            else None
        )
        heard = {s: self.positions_enu_m[s] for s in heard_by(incident)}
        if sure_m is None:
            return heard
        points = source_points_en_m(incident, self.positions_enu_m)
        return {**heard, **self._grid.around(points, sure_m)}

    def _evict_if_full(self) -> list[Incident]:
        """Keep at most max_open_incidents candidates: the oldest goes, fused first if it was
        still waiting (nothing is lost, it is only emitted early)."""
        out: list[Incident] = []
        while len(self._candidates) > self.config.max_open_incidents:
            oldest = min(self._candidates, key=lambda c: c.deadline_ns)
            if oldest.emitted is None:
                self.stats.evicted_early += 1
                out += self._emit(oldest)
            self._candidates.remove(oldest)
        return out

    def _remember(self, key: ReportKey) -> None:
        self._seen_ids[key] = None
        self._forget_beyond_bound(self._seen_ids)

    def _forget_beyond_bound(self, memory: OrderedDict[ReportKey, Any]) -> None:
        """Drop the oldest entries beyond max_remembered_report_ids."""
        while len(memory) > self.config.max_remembered_report_ids:
            memory.popitem(last=False)

    def _reject(self, report: EventReport, reason: str, kind: str) -> None:
        self.stats.rejected[kind] += 1
        self.recent_rejections.append((report.report_id, reason))
        log.warning("report %s rejected: %s", report.report_id, reason)
