"""The observatory's figures for a period of UTC days: what the system raised, what operators
decided, what the cameras did, and what the audit chain holds.

Sources, chosen so that a figure is the same before and after a retention purge:

- reports and incidents: the stored `daily_aggregates` (what retention kept) plus the rows still
  kept, counted by the same function (`ouie.store.aggregates.count_daily`);
- camera cues, mask refusals and audit counts: the audit chain, which retention never purges;
- sensors online: the sensors table at the time the figures are computed.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator
from sqlalchemy import func, select

from ouie.core.classes import ALERTING_CLASSES, VideoEventKind
from ouie.core.timebase import NS_PER_S, now_ns, ns_to_iso
from ouie.observatory.efficacy import Efficacy, compute_efficacy
from ouie.store.aggregates import AggregateKey, count_daily, merge_figures, utc_day
from ouie.store.models import AuditEntryRow, DailyAggregateRow, IncidentRow, ReportRow
from ouie.store.records import DismissReason, DispositionAction
from ouie.store.repository import Store

AUDIT_KINDS: dict[str, str] = {
    "incident.view": "incident views",
    "incident.disposition": "dispositions",
    "incident.outcome": "field outcomes",
    "camera.look_requested": "camera cues",
    "profile.set": "class profile changes",
    "profile.delete": "class profile changes",
    "camera.move": "camera moves",
    "camera.cue": "camera cues",
    "camera.cue_approved": "camera cues",
    "camera.cue_rejected": "camera cues",
    "camera.cue_expired": "camera cues",
    "camera.move_failed": "camera cues",
    "camera.home": "camera returns home",
    "camera.mask_refused": "privacy-mask refusals and clips",
    "camera.mask_clipped": "privacy-mask refusals and clips",
    "auth.login": "logins",
    "auth.login_failed": "logins",
    "auth.logout": "logins",
    "config.load": "configuration changes",
    "config.change": "configuration changes",
    "camera.cueing_mode": "configuration changes",
    "user.create": "user changes",
    "user.disable": "user changes",
    "retention.purge": "retention purges",
    "observatory.report": "transparency reports downloaded",
}
"""Audit action → the kind an oversight body reads it as; any other action counts as 'other'."""

MAX_PERIOD_DAYS = 366
"""Longest period one set of figures covers (a leap year)."""


class _Figures(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class Period(_Figures):
    """Whole UTC days, both ends included."""

    first_day: date = Field(alias="from", description="First UTC day of the period.")
    last_day: date = Field(alias="to", description="Last UTC day of the period (included).")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.last_day < self.first_day:
            raise ValueError(
                f"the period ends ({self.last_day}) before it starts ({self.first_day})"
            )
        if (self.last_day - self.first_day).days + 1 > MAX_PERIOD_DAYS:
            raise ValueError(
                f"the period {self.first_day} to {self.last_day} is longer than "
                f"{MAX_PERIOD_DAYS} days; report a year or less at a time"
            )
        return self

    def days(self) -> list[str]:
        """Every day of the period, 'YYYY-MM-DD'."""
        count = (self.last_day - self.first_day).days + 1
        return [(self.first_day + timedelta(days=i)).isoformat() for i in range(count)]

    def bounds_ns(self) -> tuple[int, int]:
        """[start, end) in UTC ns: first day 00:00 to the day after the last, 00:00."""
        start = datetime.combine(self.first_day, datetime.min.time(), tzinfo=UTC)
        end = start + timedelta(days=(self.last_day - self.first_day).days + 1)
        return int(start.timestamp()) * NS_PER_S, int(end.timestamp()) * NS_PER_S


class ClassFigures(_Figures):
    """Reports, incidents and operators' decisions for one class (or 'all') on one day (or over
    the period, day 'all')."""

    day: str = Field(description="UTC day 'YYYY-MM-DD', or 'all' for the whole period.")
    class_: str = Field(alias="class", description="Event class, or 'all'.")
    reports: int = Field(default=0, description="Sensor reports accepted (by onset day).")
    incidents: int = Field(
        default=0, description="Incidents of every section: alerts, unconfirmed, context."
    )
    alerts: int | None = Field(
        default=0,
        description="Incidents that raised an alert (an alerting class the network confirmed, "
        "or a video event); None when some rows were aggregated before this was counted.",
    )
    unconfirmed: int | None = Field(
        default=0,
        description="Incidents of an alerting class the network did not confirm: shown apart, "
        "never alerted; None when some rows were aggregated before this was counted.",
    )
    located: int | None = Field(
        default=0, description="Incidents with a position; None when not recorded (old rows)."
    )
    confirmed: int = Field(default=0, description="Incidents whose latest decision is confirm.")
    dismissed: int = Field(default=0, description="Incidents whose latest decision is dismiss.")
    dismissed_by_reason: dict[str, int] = Field(
        default_factory=dict, description="Dismissals by reason: fireworks, construction, ..."
    )
    escalated: int = Field(default=0, description="Incidents whose latest decision is escalate.")
    open: int = Field(default=0, description="Incidents not decided yet.")
    decision_delays_s: list[float] = Field(
        default_factory=list,
        exclude=True,
        description="Seconds from raised to first decision (kept for medians, not exported).",
    )
    delays_complete: bool = Field(
        default=True, exclude=True, description="False when some decided rows lack delays."
    )

    @computed_field(description="Incidents decided: confirmed + dismissed + escalated.")  # type: ignore[prop-decorator]
    @property
    def decided(self) -> int:
        return self.confirmed + self.dismissed + self.escalated

    @computed_field(description="confirmed / decided; None when nothing was decided.")  # type: ignore[prop-decorator]
    @property
    def confirm_rate(self) -> float | None:
        return self.confirmed / self.decided if self.decided else None

    @computed_field(description="Median seconds from raised to first decision; None: none.")  # type: ignore[prop-decorator]
    @property
    def median_decision_s(self) -> float | None:
        return statistics.median(self.decision_delays_s) if self.decision_delays_s else None

    def add(self, row: DailyAggregateRow) -> None:
        """Count an aggregate row in."""
        if row.kind == "report":
            self.reports += row.count
            return
        self.incidents += row.count
        self._add_sections(row)
        known = self.located is not None and row.located is not None
        self.located = self.located + row.located if known else None  # type: ignore[operator]
        if row.disposition == DispositionAction.CONFIRM:
            self.confirmed += row.count
        elif row.disposition == DispositionAction.ESCALATE:
            self.escalated += row.count
        elif row.disposition == DispositionAction.DISMISS:
            self.dismissed += row.count
            reasons = row.dismiss_reasons or {"not recorded": row.count}
            for reason, count in reasons.items():
                self.dismissed_by_reason[reason] = self.dismissed_by_reason.get(reason, 0) + count
        else:
            self.open += row.count
        if row.disposition != "open":
            if row.decision_delays_s is None:
                self.delays_complete = False
            else:
                self.decision_delays_s.extend(row.decision_delays_s)

    def _add_sections(self, row: DailyAggregateRow) -> None:
        """Count an incident row's alerts (`alert_figures['raised']`) and, for an alerting
        class, its unconfirmed incidents (the rest); unknown once a row lacks them."""
        if row.alert_figures is None or self.alerts is None or self.unconfirmed is None:
            self.alerts = self.unconfirmed = None
            return
        raised = int(row.alert_figures.get("raised", 0))
        self.alerts += raised
        if row.class_ in ALERTING_CLASSES:
            self.unconfirmed += row.count - raised


class CameraDay(_Figures):
    """What the cameras did on one day (or 'all'), read from the audit chain."""

    day: str = Field(description="UTC day, or 'all'.")
    cues: int = Field(default=0, description="Cue requests planned (`camera.cue`).")
    no_camera: int = Field(default=0, description="Cues for which no camera could be used.")
    suggested: int = Field(default=0, description="Cues proposed to an operator (suggest mode).")
    approved: int = Field(default=0, description="Suggestions an operator approved.")
    declined: int = Field(default=0, description="Suggestions an operator declined.")
    expired: int = Field(default=0, description="Suggestions decided too late (expired).")
    moved_auto: int = Field(default=0, description="Camera moves made by the system (auto).")
    moved_approved: int = Field(default=0, description="Camera moves approved by a person.")
    move_failed: int = Field(default=0, description="Moves the camera did not carry out.")
    mask_refused: int = Field(
        default=0, description="Camera options refused because a privacy mask would fill the view."
    )
    mask_clipped: int = Field(
        default=0, description="Moves clipped (zoomed out or panned away) by a privacy mask."
    )

    def add(self, action: str, actor: str, details: dict[str, Any]) -> None:
        """Count one audit entry in."""
        if action == "camera.cue":
            self.cues += 1
            if details.get("plan") is None:
                self.no_camera += 1
            elif details.get("mode") == "suggest":
                self.suggested += 1
        elif action == "camera.move":
            if actor == "system":
                self.moved_auto += 1
            else:
                self.moved_approved += 1
        else:
            field = {
                "camera.cue_approved": "approved",
                "camera.cue_rejected": "declined",
                "camera.cue_expired": "expired",
                "camera.move_failed": "move_failed",
                "camera.mask_refused": "mask_refused",
                "camera.mask_clipped": "mask_clipped",
            }.get(action)
            if field is not None:
                setattr(self, field, getattr(self, field) + 1)


class PurgeRun(_Figures):
    """One retention purge that deleted something (from the audit chain)."""

    at_utc: str
    reports_deleted: int
    incidents_deleted: int
    reports_days: float | None = Field(default=None, description="Policy in force, days.")
    incidents_days: float | None = Field(default=None, description="Policy in force, days.")


class AuditFigures(_Figures):
    """The audit chain checked at the time of the figures, and its entries in the period."""

    chain_ok: bool = Field(description="True when `AuditChain.verify` found no problem.")
    problems: list[str] = Field(description="What verification found (first 20).")
    total_entries: int = Field(description="Entries in the whole chain.")
    head_seq: int = Field(description="Sequence number of the last entry.")
    head_hash: str = Field(description="Hash of the last entry: publish it to anchor the chain.")
    period_entries: int = Field(description="Entries written during the period.")
    by_kind: dict[str, int] = Field(description="Period entries by kind (see AUDIT_KINDS).")
    by_action: dict[str, int] = Field(description="Period entries by action.")


class SensorsNow(_Figures):
    """Sensors online when the figures were computed (the store keeps no history of it)."""

    total: int
    online: int
    online_share: float | None = Field(description="online / total; None without sensors.")


class ObservatoryFigures(_Figures):
    """Everything the observatory page and the transparency report show."""

    period: Period
    generated_utc: str = Field(description="When these figures were computed.")
    days: list[str]
    classes: list[str] = Field(
        description="Classes seen in the period: alerting sounds, video events, context sounds."
    )
    by_day: list[ClassFigures] = Field(description="Per day × class (days with nothing left out).")
    by_class: list[ClassFigures] = Field(description="Per class over the period.")
    total: ClassFigures = Field(description="All classes over the period.")
    video_total: ClassFigures | None = Field(
        default=None,
        description="The video events (class 'video') over the period, apart from the sounds; "
        "None when the period has none.",
    )
    cameras_by_day: list[CameraDay] = Field(description="One row per day of the period.")
    cameras_total: CameraDay
    audit: AuditFigures
    purges: list[PurgeRun] = Field(description="Retention purges that ran during the period.")
    sensors: SensorsNow
    efficacy: Efficacy = Field(description="Detection (lab), system and outcome tiers.")
    notes: list[str] = Field(description="Caveats about these figures, for a person.")


def _daily_rows(store: Store, period: Period) -> list[DailyAggregateRow]:
    """Aggregates of the period: the stored ones plus the rows still kept, merged by key."""
    days, (start_ns, end_ns) = period.days(), period.bounds_ns()
    with store.session() as session:
        stored = list(
            session.scalars(
                select(DailyAggregateRow).where(DailyAggregateRow.day.between(days[0], days[-1]))
            )
        )
        session.expunge_all()
        live = count_daily(
            session,
            ReportRow.onset_ns.between(start_ns, end_ns - 1),
            IncidentRow.onset_ns.between(start_ns, end_ns - 1),
        )
    rows: dict[AggregateKey, DailyAggregateRow] = {}
    for row in [*stored, *live]:
        key = (row.day, row.kind, row.class_, row.disposition)
        if key in rows:
            merge_figures(rows[key], row)
        else:
            rows[key] = row
    return list(rows.values())


def _class_order(classes: set[str]) -> list[str]:
    """Alerting sound classes first, then the video events (apart from sound), then context
    sound classes, each alphabetically."""
    alerting = {str(c) for c in ALERTING_CLASSES}
    video = {str(kind) for kind in VideoEventKind}
    return sorted(classes, key=lambda c: (c not in alerting, c not in video, c))


def _audit(store: Store, period: Period) -> tuple[AuditFigures, list[CameraDay], list[PurgeRun]]:
    """Audit counts, camera figures per day and purges of the period, and the chain check."""
    start_ns, end_ns = period.bounds_ns()
    cameras = {day: CameraDay(day=day) for day in period.days()}
    by_action: Counter[str] = Counter()
    purges: list[PurgeRun] = []
    with store.session() as session:
        entries = session.execute(
            select(
                AuditEntryRow.at_ns,
                AuditEntryRow.action,
                AuditEntryRow.actor,
                AuditEntryRow.details,
            )
            .where(AuditEntryRow.at_ns >= start_ns, AuditEntryRow.at_ns < end_ns)
            .order_by(AuditEntryRow.seq)
        )
        for at_ns, action, actor, details in entries:
            by_action[action] += 1
            if action.startswith("camera."):
                cameras[utc_day(at_ns)].add(action, actor, details)
            if action == "retention.purge":
                purges.append(PurgeRun(at_utc=ns_to_iso(at_ns), **_purge_details(details)))
    by_kind: Counter[str] = Counter()
    for action, count in by_action.items():
        by_kind[AUDIT_KINDS.get(action, "other")] += count
    problems = [problem.message for problem in store.audit.verify()]
    head_seq, head_hash = store.audit.head()
    audit = AuditFigures(
        chain_ok=not problems,
        problems=problems[:20],
        total_entries=store.audit.count(),
        head_seq=head_seq,
        head_hash=head_hash,
        period_entries=sum(by_action.values()),
        by_kind=dict(sorted(by_kind.items())),
        by_action=dict(sorted(by_action.items())),
    )
    return audit, list(cameras.values()), purges


def _purge_details(details: dict[str, Any]) -> dict[str, Any]:
    names = ("reports_deleted", "incidents_deleted", "reports_days", "incidents_days")
    return {name: details.get(name) for name in names if details.get(name) is not None}


def _camera_total(days: list[CameraDay]) -> CameraDay:
    total = CameraDay(day="all")
    for name in CameraDay.model_fields:
        if name != "day":
            setattr(total, name, sum(getattr(day, name) for day in days))
    return total


def latest_data_day(store: Store) -> date | None:
    """The latest UTC day with a report or an incident, kept or aggregated; None when empty."""
    with store.session() as session:
        onsets = [
            session.scalar(select(func.max(ReportRow.onset_ns))),
            session.scalar(select(func.max(IncidentRow.onset_ns))),
        ]
        aggregated = session.scalar(select(func.max(DailyAggregateRow.day)))
    days = [utc_day(onset) for onset in onsets if onset is not None]
    days += [aggregated] if aggregated else []
    return date.fromisoformat(max(days)) if days else None


def compute_figures(store: Store, period: Period, at_ns: int | None = None) -> ObservatoryFigures:
    """The observatory's figures for `period` (module docstring: where each comes from)."""
    rows = _daily_rows(store, period)
    classes = _class_order({row.class_ for row in rows})
    by_day: dict[tuple[str, str], ClassFigures] = {}
    by_class = {class_: ClassFigures(day="all", class_=class_) for class_ in classes}
    total = ClassFigures(day="all", class_="all")
    video_kinds = {str(kind) for kind in VideoEventKind}
    video_total = ClassFigures(day="all", class_="video")
    for row in sorted(rows, key=lambda r: (r.day, r.class_, r.kind, r.disposition)):
        day_figures = by_day.setdefault(
            (row.day, row.class_), ClassFigures(day=row.day, class_=row.class_)
        )
        for figures in (day_figures, by_class[row.class_], total):
            figures.add(row)
        if row.class_ in video_kinds:
            video_total.add(row)
    audit, cameras, purges = _audit(store, period)
    sensors = store.list_sensors()
    online = sum(sensor.online for sensor in sensors)
    summaries = list(by_class.values())
    efficacy = compute_efficacy(store, rows, period.bounds_ns())
    return ObservatoryFigures(
        period=period,
        generated_utc=ns_to_iso(now_ns() if at_ns is None else at_ns),
        days=period.days(),
        classes=classes,
        by_day=[by_day[key] for key in sorted(by_day)],
        by_class=summaries,
        total=total,
        video_total=video_total if video_kinds & set(classes) else None,
        cameras_by_day=cameras,
        cameras_total=_camera_total(cameras),
        audit=audit,
        purges=purges,
        sensors=SensorsNow(
            total=len(sensors),
            online=online,
            online_share=online / len(sensors) if sensors else None,
        ),
        efficacy=efficacy,
        notes=_notes([*summaries, total], efficacy),
    )


def _notes(summaries: list[ClassFigures], efficacy: Efficacy) -> list[str]:
    """Caveats a reader must know (figures that older aggregate rows do not hold)."""
    notes = []
    if not efficacy.complete:
        notes.append(
            "Some incidents were aggregated before alerts' figures were kept: the system and "
            "outcome tiers leave them out."
        )
    if any(s.located is None for s in summaries):
        notes.append(
            "Some incidents were aggregated before positions were counted: 'located' is unknown "
            "for those classes."
        )
    if any(not s.delays_complete for s in summaries):
        notes.append(
            "Some decisions were aggregated before their delays were kept: the median time to "
            "decision covers only the others."
        )
    if any("not recorded" in s.dismissed_by_reason for s in summaries):
        notes.append("Some dismissals were aggregated before reasons were kept: 'not recorded'.")
    return notes


DISMISS_REASONS = [str(reason) for reason in DismissReason]
"""Dismissal reasons, in the order tables and plots show them."""
