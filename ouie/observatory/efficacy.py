"""Efficacy in three tiers, as an oversight body should read it (issue 15):

1. **detection** (lab): how the detector the sensors ran scores on labelled clips, cited from its
   report (`LAB_REPORTS`; the figures are the lab's, not this deployment's);
2. **system**: of the alerts raised in the period, how many were located, how fast a camera
   was commanded (cue latency, from the end of what the sensors had heard), and how many the
   operators confirmed;
3. **outcome**: of the alerts raised, how many the field verified (evidence found), per 100
   alerts: the figure the City of Chicago's Office of Inspector General published for
   ShotSpotter (`CHICAGO_OIG_FOUND_PER_100`).

Every rate comes with its count, its base and a 95 % Wilson score interval, and says in words
when the base is too small (`MIN_MEANINGFUL_BASE`) for the rate to mean anything. Counts come
from the daily rows (`ouie.store.aggregates.ALERT_FIGURES`), so they survive retention; cue
latencies come from the cues still kept (they go with their incidents).
"""

from __future__ import annotations

from math import sqrt
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ouie.store.aggregates import ALERT_FIGURES
from ouie.store.models import CueRow, DailyAggregateRow, IncidentRow, ReportRow
from ouie.store.repository import Store

MIN_MEANINGFUL_BASE = 30
"""Below this many alerts (or outcomes) a rate is published with a warning: its 95 % interval
is wider than ±15 points around a rate near 10 %."""
WILSON_Z = 1.959964
"""Two-sided 95 % normal quantile."""
CHICAGO_OIG_FOUND_PER_100 = 9.1
"""City of Chicago Office of Inspector General, 'The Chicago Police Department's Use of
ShotSpotter Technology' (August 2021): of the 50,176 confirmed ShotSpotter alerts police were
dispatched to (January 2020 – May 2021), 9.1 % led to evidence of a gun-related criminal
offence being reported."""
CHICAGO_OIG_REFERENCE = (
    "City of Chicago OIG, The Chicago Police Department's Use of ShotSpotter Technology "
    "(August 2021): 9.1 % of 50,176 confirmed alerts police were sent to found evidence of a "
    "gun-related offence"
)
LAB_REPORTS: dict[str, tuple[str, str]] = {
    "yamnet+ouie-head/6": (
        "docs/results/detection.md (bench/detection_cross_source.py, bench/detection_far.py, "
        "2026-12-07)",
        "its recipe with each source held out: macro F1 0.708 at 2.7 % false alarms on everyday "
        "clips (0.783 at 2.4 % on the December sources), fireworks called a bang 5 of 264; "
        "grouped CV 0.775 at 1.7 %; across a street (40–200 m renderings) 0.406, gunshot "
        "recall 0.02",
    ),
    "yamnet+ouie-head/5": (
        "docs/results/detection.md (bench/detection_cross_source.py, bench/detection_far.py, "
        "2026-12-06)",
        "its recipe with each source held out: macro F1 0.665 at 3.1 % false alarms on everyday "
        "clips (0.752 at 2.8 % on the December sources); grouped CV 0.779 at 1.5 %; across a "
        "street (40–200 m renderings) 0.377, gunshot recall 0.01",
    ),
    "yamnet+ouie-head/4+ouie-verifier/1": (
        "docs/results/detection.md (bench/detection_cross_source.py, 2026-12-06)",
        "leave-one-source-out macro F1 0.826 at 1.0 % false alarms on everyday clips, in-sample "
        "on the sources before December 2026; 0.579 at 3.5 % on the December sources it never "
        "heard",
    ),
    "yamnet+ouie-head/4": (
        "docs/results/detection.md (bench/detection_cross_source.py, 2026-12-06)",
        "leave-one-source-out macro F1 0.878 at 2.5 % false alarms on everyday clips, in-sample "
        "on the sources before December 2026; 0.742 at 7.0 % on the December sources it never "
        "heard",
    ),
}
"""Detector name (as sensors report it) → (where its lab figures are, what they say). One home
for the citation; a detector not listed is shown as 'no lab report on file'."""


class _Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rate(_Tier):
    """`count` of `base`, with its 95 % Wilson interval and whether the base is big enough."""

    count: int
    base: int
    value: float | None = Field(description="count / base; None when the base is 0.")
    low: float | None = Field(description="95 % Wilson interval, lower end.")
    high: float | None = Field(description="95 % Wilson interval, upper end.")
    meaningful: bool = Field(description=f"base ≥ {MIN_MEANINGFUL_BASE}.")
    words: str = Field(description="The rate for a person, with the warning when too small.")


def wilson_interval(count: int, base: int, z: float = WILSON_Z) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion p = k/n:
    (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    p = count / base
    denominator = 1 + z * z / base
    centre = (p + z * z / (2 * base)) / denominator
    half = z * sqrt(p * (1 - p) / base + z * z / (4 * base * base)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(count: int, base: int, of_what: str) -> Rate:
    """`count` of `base` `of_what` (e.g. 'alerts') as a `Rate`, in words."""
    if base == 0:
        return Rate(
            count=0,
            base=0,
            value=None,
            low=None,
            high=None,
            meaningful=False,
            words=f"no {of_what} in the period: no rate",
        )
    low, high = wilson_interval(count, base)
    meaningful = base >= MIN_MEANINGFUL_BASE
    words = (
        f"{count} of {base} {of_what} ({100 * count / base:.1f} %; 95 % interval "
        f"{100 * low:.0f}–{100 * high:.0f} %)"
    )
    if not meaningful:
        words += f": too few {of_what} (under {MIN_MEANINGFUL_BASE}) for this rate to mean anything"
    return Rate(
        count=count,
        base=base,
        value=count / base,
        low=low,
        high=high,
        meaningful=meaningful,
        words=words,
    )


class LabReport(_Tier):
    """A detector's lab figures, cited."""

    model: str
    reference: str
    summary: str


class DetectionTier(_Tier):
    """Tier 1: the detectors that wrote the period's reports, and their lab figures."""

    models: list[str] = Field(description="Detector names seen in the period's reports.")
    lab_reports: list[LabReport]
    words: str


class SystemTier(_Tier):
    """Tier 2: what the system did with the alerts it raised."""

    alerts: int = Field(description="Incidents that raised an alert (confirmed by the network).")
    located: Rate
    operator_confirmed: Rate = Field(description="Confirmed by an operator, of those decided.")
    cue_latency_n: int = Field(description="Camera commands with a measured latency.")
    cue_latency_p50_s: float | None
    cue_latency_p99_s: float | None = Field(
        description="99th percentile (linear); with fewer than 100 commands, near the maximum."
    )


class OutcomeTier(_Tier):
    """Tier 3: what the field found after the alerts."""

    alerts: int
    recorded: int = Field(description="Alerts with a field outcome recorded.")
    dispatched: int
    found: int
    nothing: int
    unknown: int
    found_per_100_alerts: Rate = Field(
        description="Evidence found, of every alert raised (an alert without an outcome counts "
        "as not verified, as in Chicago's figure)."
    )
    found_of_recorded: Rate = Field(description="Evidence found, of the outcomes recorded.")
    reference: str = Field(description="The published figure to compare with.")
    reference_per_100: float


class Efficacy(_Tier):
    """The three tiers (module docstring)."""

    detection: DetectionTier
    system: SystemTier
    outcome: OutcomeTier
    complete: bool = Field(
        description="False when some of the period's rows were aggregated before revision 0010 "
        "(their alerts are not counted in the system and outcome tiers)."
    )


def _alert_counts(rows: list[DailyAggregateRow]) -> tuple[dict[str, int], bool]:
    """Sum of the incident rows' `alert_figures`, and whether every row had them."""
    counts = dict.fromkeys(ALERT_FIGURES, 0)
    complete = True
    for row in rows:
        if row.kind != "incident":
            continue
        if row.alert_figures is None:
            complete = False
            continue
        for key in ALERT_FIGURES:
            counts[key] += int(row.alert_figures.get(key, 0))
    return counts, complete


def _cue_latencies_s(store: Store, start_ns: int, end_ns: int) -> list[float]:
    """Latencies of the camera commands for incidents with an onset in [start, end), s."""
    with store.session() as session:
        return [
            float(latency or 0.0)  # never None: filtered below
            for latency in session.scalars(
                select(CueRow.latency_s)
                .join(IncidentRow, IncidentRow.id == CueRow.incident_id)
                .where(
                    CueRow.latency_s.is_not(None),
                    IncidentRow.onset_ns >= start_ns,
                    IncidentRow.onset_ns < end_ns,
                )
            )
        ]


def _models(store: Store, start_ns: int, end_ns: int) -> list[str]:
    with store.session() as session:
        return sorted(
            set(
                session.scalars(
                    select(ReportRow.model_name).where(
                        ReportRow.onset_ns >= start_ns, ReportRow.onset_ns < end_ns
                    )
                )
            )
        )


def _detection(models: list[str]) -> DetectionTier:
    reports = [
        LabReport(model=model, reference=LAB_REPORTS[model][0], summary=LAB_REPORTS[model][1])
        for model in models
        if model in LAB_REPORTS
    ]
    missing = [model for model in models if model not in LAB_REPORTS]
    parts = [
        f"{r.model}: {r.summary} ({r.reference}; lab figures, not this deployment's)"
        for r in reports
    ]
    if missing:
        parts.append("no lab report on file for " + ", ".join(missing))
    words = "; ".join(parts)
    if not models:
        words = "no sensor reports kept for the period: the detector is not known here"
    return DetectionTier(models=models, lab_reports=reports, words=words)


def compute_efficacy(
    store: Store, rows: list[DailyAggregateRow], bounds_ns: tuple[int, int]
) -> Efficacy:
    """The three tiers over the period whose daily rows are `rows` and whose [start, end) in
    UTC ns is `bounds_ns`."""
    counts, complete = _alert_counts(rows)
    latencies = _cue_latencies_s(store, *bounds_ns)
    percentile: Any = np.percentile
    p50, p99 = (
        (float(percentile(latencies, 50)), float(percentile(latencies, 99)))
        if latencies
        else (None, None)
    )
    raised = counts["raised"]
    return Efficacy(
        detection=_detection(_models(store, *bounds_ns)),
        system=SystemTier(
            alerts=raised,
            located=rate(counts["located"], raised, "alerts"),
            operator_confirmed=rate(counts["confirmed"], counts["decided"], "decided alerts"),
            cue_latency_n=len(latencies),
            cue_latency_p50_s=p50,
            cue_latency_p99_s=p99,
        ),
        outcome=OutcomeTier(
            alerts=raised,
            recorded=counts["recorded"],
            dispatched=counts["dispatched"],
            found=counts["found"],
            nothing=counts["nothing"],
            unknown=counts["unknown"],
            found_per_100_alerts=rate(counts["found"], raised, "alerts"),
            found_of_recorded=rate(counts["found"], counts["recorded"], "recorded outcomes"),
            reference=CHICAGO_OIG_REFERENCE,
            reference_per_100=CHICAGO_OIG_FOUND_PER_100,
        ),
        complete=complete,
    )
