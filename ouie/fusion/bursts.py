"""Bursts: the repeats of one alerting sound folded into one alert that grows.

A burst of gunshots (shots 0.3–2 s apart from one place), an explosion and its own later bangs,
glass falling after the first break: for association each is a sound of its own (its own onsets,
its own TDOA fix; association keeps them apart so that one shot's onsets never skew another's
fix), for an operator it is one thing to decide. So an assessed alerting incident b joins the
open burst B of its family (`FAMILIES`) when, for some shot k of B,

- |t_b − t_k| ≤ gap_s (onsets: emission times of fixes, first arrivals otherwise; a single
  sensor's arrival is at most spacing/c ≈ 0.3–0.5 s after the emission), and
- they are at the same place: ‖p_b − p_k‖ ≤ r_b + r_k + place_slack_m, r their 95 % radii
  (the two 95 % circles overlap, give or take a shooter's steps); or, unless both are
  verified fixes (≥ VERIFIED_SENSORS sensors, whose positions alone decide), a sensor heard
  both. A three-sensor fix fits its onsets exactly whatever they are: an explosion's later
  bang or echo, picked at different moments by three sensors, is "located" 150–300 m from
  the bang (the demo evening); a hyperbola is not placed at all. Such a sound, heard within
  gap_s by a microphone that heard the burst, is taken for one of its repeats; so is one whose
  every microphone is within the class's hearing range R of a verified fix k of the burst, or
  within its sure range r of a 3-sensor fix k (`BurstConfig.in_earshot`: ‖s − p_k‖ ≤ R, resp.
  r, for each sensor s that heard b): each of those microphones could have heard that sound,
  and picked a later bang or echo of it; so, when
  neither is a verified fix, is one whose microphones and k's all lie within the class's sure
  range r of one point (`BurstConfig.one_area`: `fits_in_circle` of their sites and r): one
  source there would have been heard by all of them (a scream's later part, picked by two
  other sensors a second after its first hyperbola).

The burst is emitted under the id of its first shot, revision + 1 at each new shot or shot
revision (`BurstConfig`; gap_s 0 turns folding off). It takes the position, class, status and
sensors of its best shot (raising an alert first, then `fix` > `hyperbola` > `single`, more
sensors, smaller radius), the onset of its first shot, every report id and camera, the highest
score; it raises an alert when any of its shots does, and `Incident.burst` lists every shot as
located on its own (what an evaluation scores against the true shots). A burst of one shot is
the incident itself. An incident joins a burst on its first emission only (one already shown
on its own is revised, never made to vanish); it keeps its burst, unless a later revision
changes its family (a gunshot that became glass, or fireworks): then it leaves (`release`) and
is shown on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ouie.core.classes import EventClass
from ouie.core.incident import Burst, Incident, IncidentStatus, Shot
from ouie.core.timebase import NS_PER_S
from ouie.fusion.config import FusionConfig
from ouie.fusion.confirmation import heard_by, is_verified
from ouie.fusion.multilateration import Array
from ouie.fusion.shown import ShownIncidents

FAMILIES: tuple[frozenset[EventClass], ...] = (
    frozenset({EventClass.GUNSHOT, EventClass.EXPLOSION}),
    frozenset({EventClass.SCREAM}),
    frozenset({EventClass.GLASS_BREAK}),
)
"""Alerting classes whose repeats are one thing for an operator (a detector calls the bangs
of one burst gunshot or explosion; a scream never repeats a shot)."""


def family(incident: Incident) -> frozenset[EventClass] | None:
    """The burst family of an incident's class; None for context and camera events."""
    return next((f for f in FAMILIES if incident.class_ in f), None)


def location_quality(incident: Incident) -> tuple[int, int, float]:
    """Order of merit of a position: status (fix > hyperbola > single), sensors used,
    −uncertainty."""
    rank = {
        IncidentStatus.SINGLE: 0,
        IncidentStatus.AREA: 0,
        IncidentStatus.CAMERA: 0,
        IncidentStatus.HYPERBOLA: 1,
        IncidentStatus.FIX: 2,
    }
    uncertainty = incident.uncertainty_m if incident.uncertainty_m is not None else np.inf
    return rank[incident.status], incident.n_sensors, -uncertainty


@dataclass
class _Burst:
    """Shots folded under one incident id, and its last emitted revision."""

    incident_id: str
    family: frozenset[EventClass]
    shots: dict[str, Incident] = field(default_factory=dict)
    """Per shot incident id, its latest (assessed) revision."""

    @property
    def last_onset_ns(self) -> int:
        return max(s.onset_ns for s in self.shots.values())


class Bursts:
    """The open bursts of a stream of alerting incidents (module docstring)."""

    def __init__(
        self, config: FusionConfig, positions_enu_m: dict[str, Array], shown: ShownIncidents
    ) -> None:
        self.config = config
        self.positions_enu_m = positions_enu_m
        self._bursts: list[_Burst] = []
        self._by_shot: dict[str, _Burst] = {}
        self._shown = shown
        """Every id association emitted (here, or as an episode): an id is never emitted again
        with a lower revision (a shot that leaves the burst named after it), and one shown
        never joins a burst named after another."""

    def fold(self, incident: Incident) -> list[Incident]:
        """What to emit for an assessed incident: its burst's incident (itself while the burst
        has one shot), after the burst it left if its family changed."""
        shot_family = family(incident) if self.config.burst.gap_s > 0 else None
        burst = self._by_shot.get(incident.incident_id)
        released: list[Incident] = []
        if burst is not None and burst.family != shot_family:
            released, burst = self.release(incident.incident_id), None
        if shot_family is None:
            return [*released, self._shown.stamped(incident)]
        if burst is None:
            # Only on its first emission: an incident already shown never vanishes into another.
            shown = incident.incident_id in self._shown
            burst = None if shown else self._joinable(incident, shot_family)
            if burst is None:
                burst = _Burst(incident.incident_id, shot_family)
                self._bursts.append(burst)
            self._by_shot[incident.incident_id] = burst
        burst.shots[incident.incident_id] = incident
        return [*released, self._emitted(burst)]

    def release(self, incident_id: str) -> list[Incident]:
        """A shot no longer alerting (a later member turned it into fireworks) leaves its
        burst: the burst's new revision to emit (none if it was alone). A burst named after
        it takes the id of its next shot (the released one keeps its own id)."""
        burst = self._by_shot.pop(incident_id, None)
        if burst is None:
            return []
        del burst.shots[incident_id]
        if not burst.shots:
            self._bursts.remove(burst)
            return []
        if burst.incident_id == incident_id:
            burst.incident_id = next(iter(burst.shots))
        return [self._emitted(burst)]

    def expire(self, before_ns: int) -> None:
        """Forget bursts whose last shot is older than `before_ns` (no revision of theirs can
        come any more)."""
        self._bursts = [b for b in self._bursts if b.last_onset_ns >= before_ns]
        alive = {id(b) for b in self._bursts}
        self._by_shot = {k: b for k, b in self._by_shot.items() if id(b) in alive}

    def _joinable(self, incident: Incident, shot_family: frozenset[EventClass]) -> _Burst | None:
        """The most recent open burst of the family with a shot close in time and place."""
        gap_ns = round(self.config.burst.gap_s * NS_PER_S)
        near = [
            b
            for b in self._bursts
            if b.family == shot_family
            and any(
                abs(incident.onset_ns - s.onset_ns) <= gap_ns and self._same_place(incident, s)
                for s in b.shots.values()
            )
        ]
        return max(near, key=lambda b: b.last_onset_ns, default=None)

    def _same_place(self, a: Incident, b: Incident) -> bool:
        """Overlapping 95 % circles (plus place_slack_m); or, unless both are verified fixes
        (`_verified`: then their positions decide alone), a sensor that heard both."""
        overlap = self._circles_overlap(a, b)
        if is_verified(a) and is_verified(b):
            return overlap
        return (
            overlap
            or bool(set(heard_by(a)) & set(heard_by(b)))
            or self._in_earshot(a, b)
            or self._in_earshot(b, a)
            or self._one_area(a, b)
        )

    def _one_area(self, a: Incident, b: Incident) -> bool:
        """`BurstConfig.one_area`: neither is a verified fix, and every sensor that heard
        either lies within the sure range of their classes (`ConfirmationConfig.sure_range_m`,
        the larger) of one point: one source there would have been heard by all of them."""
        if not self.config.burst.one_area or is_verified(a) or is_verified(b):
            return False
        ranges = self.config.confirmation.sure_range_m
        classes = [c for c in (a.class_, b.class_) if isinstance(c, EventClass)]
        sure = [ranges[c] for c in classes if c in ranges]
        sites = self._sites(a, b)
        return bool(sure) and len(sites) > 0 and fits_in_circle(sites, max(sure))

    def _sites(self, *incidents: Incident) -> Array:
        """(n, 2) east/north, m, of every sensor that heard any of `incidents`."""
        heard = {s for incident in incidents for s in heard_by(incident)}
        return np.array([self.positions_enu_m[s][:2] for s in heard if s in self.positions_enu_m])

    def _in_earshot(self, weak: Incident, fix: Incident) -> bool:
        """`BurstConfig.in_earshot`: `fix` is a fix, `weak` is not verified, and every sensor
        that heard `weak` is within reach of `fix`'s position: the hearing range of its class
        for a verified fix, the (shorter) sure range for a 3-sensor one, whose position is
        less sure."""
        if (
            not self.config.burst.in_earshot
            or is_verified(weak)
            or fix.status != IncidentStatus.FIX
            or fix.east_m is None
            or fix.north_m is None
            or not isinstance(fix.class_, EventClass)
        ):
            return False
        if is_verified(fix):
            range_m = self.config.range_m(fix.class_)
        else:
            range_m = self.config.confirmation.sure_range_m.get(fix.class_, 0.0)
        sites = self._sites(weak)
        place = np.array([fix.east_m, fix.north_m])
        return len(sites) > 0 and bool(np.all(np.linalg.norm(sites - place, axis=1) <= range_m))

    def _circles_overlap(self, a: Incident, b: Incident) -> bool:
        """‖p_a − p_b‖ ≤ r_a + r_b + place_slack_m; False when either is not placed."""
        if (
            a.east_m is None
            or a.north_m is None
            or a.uncertainty_m is None
            or b.east_m is None
            or b.north_m is None
            or b.uncertainty_m is None
        ):
            return False
        distance_m = float(np.hypot(a.east_m - b.east_m, a.north_m - b.north_m))
        return distance_m <= a.uncertainty_m + b.uncertainty_m + self.config.burst.place_slack_m

    def _emitted(self, burst: _Burst) -> Incident:
        """The burst as one incident (module docstring); a lone shot as itself."""
        if len(burst.shots) == 1:
            (only,) = burst.shots.values()
            return self._shown.stamped(only, burst.incident_id)
        shots = sorted(burst.shots.values(), key=lambda s: (s.onset_ns, s.incident_id))
        best = max(shots, key=lambda s: (s.raises_alert, location_quality(s)))
        span_s = (shots[-1].onset_ns - shots[0].onset_ns) / NS_PER_S
        update: dict[str, object] = {
            "onset_ns": shots[0].onset_ns,
            "onset_uncertainty_s": shots[0].onset_uncertainty_s,
            "report_ids": [r for s in shots for r in s.report_ids],
            "score": max(s.score for s in shots),
            "cameras_heard": sorted({c for s in shots for c in s.cameras_heard}),
            "burst": Burst(shots=[_shot(s) for s in shots]),
        }
        if best.assessment is not None:
            reason = (
                f"{len(shots)} {best.class_} sounds over {span_s:.1f} s from one place, one "
                f"alert; placed by the best located ({best.n_sensors} sensors)"
            )
            update["assessment"] = best.assessment.model_copy(
                update={
                    "confirmed": any(s.raises_alert for s in shots),
                    "heard_by": len({sensor for s in shots for sensor in heard_by(s)}),
                    "reasons": [reason, *best.assessment.reasons],
                }
            )
        return self._shown.stamped(best.model_copy(update=update), burst.incident_id)


def fits_in_circle(points: Array, radius_m: float) -> bool:
    """Whether a circle of `radius_m` holds every point of `points` ((n, 2), m). The bounds
    D/2 ≤ r ≤ D/√3 on the smallest enclosing radius r (D the largest distance between two
    points; Jung's theorem) answer first when they can; `enclosing_radius_m` only in between
    (fusion asks this of every pair of weak sounds within the burst gap, city-wide)."""
    diameter = float(np.max(np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)))
    if diameter / 2.0 > radius_m:
        return False
    if diameter / np.sqrt(3.0) <= radius_m:
        return True
    return enclosing_radius_m(points) <= radius_m


def enclosing_radius_m(points: Array) -> float:
    """Radius of the smallest circle holding every point of `points` ((n, 2), m): the smallest
    of the circles through two points (diameter) or three (circumcircle) that holds them all
    (the smallest enclosing circle is one of those). Above 12 points, the circle about their
    centroid (an upper bound)."""
    n = len(points)
    if n == 1:
        return 0.0
    if n > 12:
        return float(np.max(np.linalg.norm(points - points.mean(axis=0), axis=1)))
    centres = [(points[i] + points[j]) / 2 for i in range(n) for j in range(i + 1, n)]
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                centre = _circumcentre(points[i], points[j], points[k])
                if centre is not None:
                    centres.append(centre)
    radii = [float(np.max(np.linalg.norm(points - c, axis=1))) for c in centres]
    return min(radii)


def _circumcentre(p: Array, q: Array, r: Array) -> Array | None:
    """Centre of the circle through three points; None when they are (nearly) collinear.
    With b = q − p, c = r − p, d = 2 (b_x c_y − b_y c_x): centre = p + (c_y|b|² − b_y|c|²,
    b_x|c|² − c_x|b|²) / d."""
    b, c = q - p, r - p
    d = 2.0 * (b[0] * c[1] - b[1] * c[0])
    if abs(d) < 1e-9:
        return None
    bb, cc = float(b @ b), float(c @ c)
    return p + np.array([c[1] * bb - b[1] * cc, b[0] * cc - c[0] * bb]) / d


def _shot(incident: Incident) -> Shot:
    """An incident as one shot of a burst."""
    return Shot(
        incident_id=incident.incident_id,
        onset_ns=incident.onset_ns,
        status=incident.status,
        east_m=incident.east_m,
        north_m=incident.north_m,
        covariance_m2=incident.covariance_m2,
        uncertainty_m=incident.uncertainty_m,
        sensors_used=incident.sensors_used,
        report_ids=incident.report_ids,
    )
