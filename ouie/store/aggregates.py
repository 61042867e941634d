"""Daily aggregates: what survives retention (docs/design.md principle 7), counted one way.

`count_daily(session, reports_where, incidents_where)` counts detailed rows into
`DailyAggregate` rows keyed by (UTC day of the onset, kind, class, disposition); retention
stores them before it deletes the rows (`add_daily`), and the observatory counts the rows still
kept the same way, so that a figure is the same before and after a purge.

For an incident row (kind `incident`, disposition = the latest decision or `open`):

- `count`: incidents; `located`: those with a position (lat/lon known);
- `dismiss_reasons`: {reason of the latest dismissal: count} (disposition `dismiss` only);
- `decision_delays_s`: for decided incidents, seconds from the incident being raised
  (`created_at_ns`) to its first decision, sorted (medians need the values, not a sum);
- `alert_figures`: among the incidents that raised an alert (`ouie.core.incident.raises_alert`,
  the one rule; unconfirmed and context incidents are not counted there): `raised`, `located`
  (with a position), `decided` and `confirmed` (latest decision confirm), `recorded` (with a
  field outcome), `dispatched` (a unit was sent), and `found` / `nothing` / `unknown` (what the
  field found).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ouie.core.incident import raises_alert
from ouie.core.timebase import NS_PER_S
from ouie.store.models import (
    DailyAggregateRow,
    DispositionRow,
    IncidentRow,
    OutcomeRow,
    ReportRow,
)
from ouie.store.records import FieldEvidence

ALERT_FIGURES = (
    "raised",
    "located",
    "decided",
    "confirmed",
    "recorded",
    "dispatched",
    *(str(evidence) for evidence in FieldEvidence),
)
"""The keys of `DailyAggregateRow.alert_figures`."""

AggregateKey = tuple[str, str, str, str]
"""(day 'YYYY-MM-DD', kind 'report' | 'incident', class, disposition)."""


def utc_day(t_ns: int) -> str:
    """UTC calendar day of an instant, 'YYYY-MM-DD'."""
    return datetime.fromtimestamp(t_ns // NS_PER_S, tz=UTC).strftime("%Y-%m-%d")


def _row(rows: dict[AggregateKey, DailyAggregateRow], key: AggregateKey) -> DailyAggregateRow:
    row = rows.get(key)
    if row is None:
        day, kind, class_, disposition = key
        incident = kind == "incident"
        row = rows[key] = DailyAggregateRow(
            day=day,
            kind=kind,
            class_=class_,
            disposition=disposition,
            count=0,
            located=0 if incident else None,
            dismiss_reasons={} if disposition == "dismiss" else None,
            decision_delays_s=[] if incident and disposition != "open" else None,
            alert_figures=dict.fromkeys(ALERT_FIGURES, 0) if incident else None,
        )
    return row


def _count_alert(
    row: DailyAggregateRow,
    located: bool,
    disposition: str | None,
    dispatched: bool | None,
    evidence: str | None,
) -> None:
    """Add one alert (its position, decision and field outcome) to `row.alert_figures`."""
    if row.alert_figures is None:
        return
    counts = dict(row.alert_figures)
    counts["raised"] += 1
    counts["located"] += located
    counts["decided"] += disposition is not None
    counts["confirmed"] += disposition == "confirm"
    if evidence is not None:
        counts["recorded"] += 1
        counts["dispatched"] += bool(dispatched)
        counts[evidence] = counts.get(evidence, 0) + 1
    row.alert_figures = counts


def count_daily(
    session: Session,
    reports_where: ColumnElement[bool],
    incidents_where: ColumnElement[bool],
) -> list[DailyAggregateRow]:
    """Aggregate rows (not added to the session) for the reports and incidents selected."""
    rows: dict[AggregateKey, DailyAggregateRow] = {}
    for onset_ns, class_ in session.execute(
        select(ReportRow.onset_ns, ReportRow.class_).where(reports_where)
    ):
        _row(rows, (utc_day(onset_ns), "report", class_, "")).count += 1
    decisions = (
        select(
            DispositionRow.incident_id,
            func.min(DispositionRow.at_ns).label("first_ns"),
            func.max(DispositionRow.id).label("latest_id"),
        )
        .group_by(DispositionRow.incident_id)
        .subquery()
    )
    latest = select(DispositionRow.id, DispositionRow.reason).subquery()
    query = (
        select(
            IncidentRow.onset_ns,
            IncidentRow.class_,
            IncidentRow.disposition,
            IncidentRow.lat,
            IncidentRow.lon,
            IncidentRow.created_at_ns,
            decisions.c.first_ns,
            latest.c.reason,
            IncidentRow.assessment,
            OutcomeRow.dispatched,
            OutcomeRow.evidence,
        )
        .outerjoin(decisions, decisions.c.incident_id == IncidentRow.id)
        .outerjoin(latest, latest.c.id == decisions.c.latest_id)
        .outerjoin(OutcomeRow, OutcomeRow.incident_id == IncidentRow.id)
        .where(incidents_where)
    )
    for (
        onset_ns,
        class_,
        disposition,
        lat,
        lon,
        created_ns,
        first_ns,
        reason,
        assessment,
        dispatched,
        evidence,
    ) in session.execute(query):
        row = _row(rows, (utc_day(onset_ns), "incident", class_, disposition or "open"))
        row.count += 1
        row.located = (row.located or 0) + (lat is not None and lon is not None)
        if disposition == "dismiss" and row.dismiss_reasons is not None:
            label = reason or "other"
            row.dismiss_reasons = {
                **row.dismiss_reasons,
                label: row.dismiss_reasons.get(label, 0) + 1,
            }
        if disposition and first_ns is not None and row.decision_delays_s is not None:
            row.decision_delays_s = [
                *row.decision_delays_s,
                round(max(0, first_ns - created_ns) / NS_PER_S, 3),
            ]
        if raises_alert(class_, assessment):
            located = lat is not None and lon is not None
            _count_alert(row, located, disposition, dispatched, evidence)
    for row in rows.values():
        if row.decision_delays_s is not None:
            row.decision_delays_s = sorted(row.decision_delays_s)
    return list(rows.values())


def merge_figures(into: DailyAggregateRow, other: DailyAggregateRow) -> None:
    """Add `other`'s figures to `into` (same key). A figure unknown (None) on either side stays
    unknown, so that a row aggregated before revision 0003 never passes for a complete one."""
    into.count += other.count
    into.located = (
        None if into.located is None or other.located is None else (into.located + other.located)
    )
    if into.dismiss_reasons is None or other.dismiss_reasons is None:
        into.dismiss_reasons = None
    else:
        reasons: dict[str, Any] = dict(into.dismiss_reasons)
        for reason, count in other.dismiss_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        into.dismiss_reasons = reasons
    if into.decision_delays_s is None or other.decision_delays_s is None:
        into.decision_delays_s = None
    else:
        into.decision_delays_s = sorted([*into.decision_delays_s, *other.decision_delays_s])
    if into.alert_figures is None or other.alert_figures is None:
        into.alert_figures = None
    else:
        into.alert_figures = {
            key: into.alert_figures.get(key, 0) + other.alert_figures.get(key, 0)
            for key in {*into.alert_figures, *other.alert_figures}
        }


def add_daily(session: Session, rows: Iterable[DailyAggregateRow]) -> None:
    """Store `rows`, adding their figures to the stored row of the same key when there is one."""
    for row in rows:
        key = {"day": row.day, "kind": row.kind, "class_": row.class_}
        stored = session.get(DailyAggregateRow, {**key, "disposition": row.disposition})
        if stored is None:
            session.add(row)
        else:
            merge_figures(stored, row)
