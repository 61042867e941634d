"""Scoring incidents against truth: matching, position errors, ellipse coverage, detection rate.

Used by `ouie locate` (when truth.json is present) and by `bench/localization.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, Field

from ouie.core.classes import ALERTING_CLASSES, EventClass
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.recording import TruthEvent
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S
from ouie.fusion.association import classes_compatible
from ouie.fusion.multilateration import CHI2_95_2D, Array

MATCH_WINDOW_S = 1.5
"""An incident matches a true event when its onset is within this of the true emission, s
(an un-located incident's onset is its first arrival, up to range/c after emission)."""


LOCATED_WITHIN_M = 10.0
"""A fix this close to the truth counts as located for an operator (issue 15's figure)."""


class Match(BaseModel):
    """A true event and the incident that answered it (if any), with the errors."""

    truth_index: int
    incident_id: str | None = None
    status: IncidentStatus | None = None
    n_sensors: int | None = Field(default=None, description="Sensors used by the incident.")
    error_m: float | None = Field(default=None, description="Horizontal error of a fix, m.")
    inside_ellipse95: bool | None = None
    baseline_errors_m: dict[str, float] = Field(default_factory=dict)


class ErrorStats(BaseModel):
    """Summary of position errors, m."""

    n: int
    median_m: float | None
    p90_m: float | None
    max_m: float | None

    @classmethod
    def of(cls, errors: Sequence[float]) -> ErrorStats:
        """Median, 90th percentile and maximum of `errors` (None when empty)."""
        if not errors:
            return cls(n=0, median_m=None, p90_m=None, max_m=None)
        values = np.asarray(errors)
        return cls(
            n=len(values),
            median_m=float(np.median(values)),
            p90_m=float(np.percentile(values, 90)),
            max_m=float(values.max()),
        )


class Evaluation(BaseModel):
    """How a set of incidents compares with the truth."""

    alerting_events: int
    detected: int = Field(description="Alerting events answered by an incident of any status.")
    fixed: int = Field(description="Alerting events answered by a fix.")
    fixed_within_10_m: int = Field(
        description="Alerting events answered by a fix at most LOCATED_WITHIN_M (10 m) from "
        "the truth: what an operator can send someone to."
    )
    detection_rate: float
    fix_rate: float
    errors: ErrorStats
    coverage95: float | None = Field(description="Share of fixes whose 95 % ellipse holds truth.")
    by_sensors: dict[str, dict[str, float | int | None]] = Field(
        description="Per number of sensors used ('3', '4', '5', '6+'): fixes, median error and "
        "ellipse coverage: low redundancy is where errors and misses live."
    )
    baselines: dict[str, ErrorStats]
    false_incidents: int = Field(
        description="Incidents raising an alert (alerting, not unconfirmed) that answer no true "
        "event."
    )
    matches: list[Match]


BaselineFn = Callable[[Sequence[EventReport], dict[str, Array]], Array]


def evaluate(
    incidents: Sequence[Incident],
    truth: Sequence[TruthEvent],
    frame: LocalFrame,
    reports_by_id: dict[str, EventReport] | None = None,
    positions_enu_m: dict[str, Array] | None = None,
    baselines: dict[str, BaselineFn] | None = None,
) -> Evaluation:
    """Match each alerting true event to one sound an incident answers for (compatible class,
    onset within MATCH_WINDOW_S; a fix preferred, then the most sensors — a real sound is heard
    widely, a false alarm rarely —, then the closest onset; never by position, which would
    flatter the errors) and score it. A burst (`Incident.burst`) answers for each of its shots,
    as located on its own (`sounds`): the true shots of a burst each match a shot of the one
    alert, and the repeats the truth does not list (an explosion's later bangs) make no false
    alert. `Match.incident_id` is the incident's (the burst's) id.

    Inside-ellipse test: eᵀΣ⁻¹e ≤ χ²₂(0.95) with e the (east, north) error. Baselines, when given,
    are evaluated on the same reports as the matched fix.
    """
    latest = {i.incident_id: i for i in sorted(incidents, key=lambda i: i.revision)}
    pool = [sound for incident in latest.values() for sound in sounds(incident)]
    used: set[int] = set()
    answered: set[str] = set()
    matches = []
    for index, event in enumerate(truth):
        if event.class_ not in ALERTING_CLASSES:
            continue
        match = Match(truth_index=index)
        candidates = [
            (k, i)
            for k, i in enumerate(pool)
            if k not in used
            and isinstance(i.class_, EventClass)
            and classes_compatible(i.class_, EventClass(event.class_))
            and abs(i.onset_ns - event.onset_ns) <= MATCH_WINDOW_S * NS_PER_S
        ]
        if candidates:
            k, best = min(
                candidates,
                key=lambda ki: (
                    ki[1].status != IncidentStatus.FIX,
                    -ki[1].n_sensors,
                    abs(ki[1].onset_ns - event.onset_ns),
                ),
            )
            used.add(k)
            answered.add(best.incident_id)
            match.incident_id, match.status = best.incident_id, best.status
            match.n_sensors = best.n_sensors
            if best.status == IncidentStatus.FIX:
                _score_fix(match, best, event, frame, reports_by_id, positions_enu_m, baselines)
        matches.append(match)
    fixes = [m for m in matches if m.error_m is not None]
    n = len(matches)
    detected = sum(m.incident_id is not None for m in matches)
    return Evaluation(
        alerting_events=n,
        detected=detected,
        fixed=len(fixes),
        fixed_within_10_m=sum(
            m.error_m is not None and m.error_m <= LOCATED_WITHIN_M for m in fixes
        ),
        detection_rate=detected / n if n else 0.0,
        fix_rate=len(fixes) / n if n else 0.0,
        errors=ErrorStats.of([m.error_m for m in fixes if m.error_m is not None]),
        coverage95=(sum(bool(m.inside_ellipse95) for m in fixes) / len(fixes) if fixes else None),
        by_sensors=_by_sensors(fixes),
        baselines={
            name: ErrorStats.of([m.baseline_errors_m[name] for m in fixes])
            for name in (baselines or {})
        },
        false_incidents=sum(
            i.incident_id not in answered and i.raises_alert for i in latest.values()
        ),
        matches=matches,
    )


def sounds(incident: Incident) -> list[Incident]:
    """The sounds an incident answers for: itself, or each shot of its burst as located on its
    own (with the burst's id, class and assessment)."""
    if incident.burst is None:
        return [incident]
    return [
        incident.model_copy(
            update={
                "onset_ns": shot.onset_ns,
                "status": shot.status,
                "east_m": shot.east_m,
                "north_m": shot.north_m,
                "covariance_m2": shot.covariance_m2,
                "uncertainty_m": shot.uncertainty_m,
                "sensors_used": shot.sensors_used,
                "report_ids": shot.report_ids,
                "burst": None,
            }
        )
        for shot in incident.burst.shots
    ]


def _by_sensors(fixes: list[Match]) -> dict[str, dict[str, float | int | None]]:
    """Fixes grouped by sensors used (3, 4, 5, 6+): count, median error, ellipse coverage."""
    groups: dict[str, list[Match]] = {}
    for match in fixes:
        key = str(match.n_sensors) if (match.n_sensors or 0) < 6 else "6+"
        groups.setdefault(key, []).append(match)
    return {
        key: {
            "fixes": len(group),
            "median_m": ErrorStats.of([m.error_m for m in group if m.error_m is not None]).median_m,
            "coverage95": sum(bool(m.inside_ellipse95) for m in group) / len(group),
        }
        for key, group in sorted(groups.items())
    }


def _score_fix(
    match: Match,
    incident: Incident,
    event: TruthEvent,
    frame: LocalFrame,
    reports_by_id: dict[str, EventReport] | None,
    positions_enu_m: dict[str, Array] | None,
    baselines: dict[str, BaselineFn] | None,
) -> None:
    """Fill the error, ellipse coverage and baseline errors of a matched fix."""
    assert incident.east_m is not None and incident.north_m is not None
    true_en = frame.to_enu(event.lat, event.lon, frame.origin_height_m)[:2]
    error = np.array([incident.east_m, incident.north_m]) - true_en
    match.error_m = float(np.linalg.norm(error))
    if incident.covariance_m2 is not None:
        inverse = np.linalg.pinv(np.asarray(incident.covariance_m2))
        match.inside_ellipse95 = bool(error @ inverse @ error <= CHI2_95_2D)
    if baselines and reports_by_id is not None and positions_enu_m is not None:
        reports = [reports_by_id[r] for r in incident.report_ids if r in reports_by_id]
        for name, baseline in baselines.items():
            estimate = baseline(reports, positions_enu_m)
            match.baseline_errors_m[name] = float(np.linalg.norm(estimate - true_en))
