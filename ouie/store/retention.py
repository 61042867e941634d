"""Retention enforced by the software (docs/design.md principle 7).

Reports older than `reports_days` and incidents older than `incidents_days` (by their onset) are
deleted; before deletion they are counted into `daily_aggregates` (UTC day × kind × class ×
disposition, with the figures of `ouie.store.aggregates`), which is all that survives. Cues,
dispositions and the images operators saved go with their incident (the images deleted
explicitly, not left to the database's cascade, and counted). The audit chain is kept whole
(it is what an oversight body verifies) and records each purge that deleted something.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from ouie.core.audit import AuditEvent
from ouie.core.config import StrictModel
from ouie.core.timebase import NS_PER_S
from ouie.store.aggregates import add_daily, count_daily
from ouie.store.models import IncidentImageRow, IncidentRow, ReportRow
from ouie.store.repository import Store

NS_PER_DAY = 86_400 * NS_PER_S


class RetentionPolicy(StrictModel):
    """How long detailed records are kept before only aggregates remain."""

    reports_days: float = Field(default=30.0, gt=0, description="Keep reports this long, days.")
    incidents_days: float = Field(default=90.0, gt=0, description="Keep incidents this long, days.")
    purge_interval_s: float = Field(
        default=3600.0, gt=0, description="How often the service runs the purge, s."
    )


class PurgeResult(BaseModel):
    """What one purge deleted."""

    reports_deleted: int
    incidents_deleted: int
    images_deleted: int = 0


def purge(store: Store, policy: RetentionPolicy, now_ns: int) -> PurgeResult:
    """Aggregate then delete expired reports and incidents, in one transaction, and audit it."""
    reports_cutoff_ns = now_ns - int(policy.reports_days * NS_PER_DAY)
    incidents_cutoff_ns = now_ns - int(policy.incidents_days * NS_PER_DAY)
    with store.session() as session:
        add_daily(
            session,
            count_daily(
                session,
                ReportRow.onset_ns < reports_cutoff_ns,
                IncidentRow.onset_ns < incidents_cutoff_ns,
            ),
        )
        reports = session.execute(delete(ReportRow).where(ReportRow.onset_ns < reports_cutoff_ns))
        expired = select(IncidentRow.id).where(IncidentRow.onset_ns < incidents_cutoff_ns)
        images = session.execute(
            delete(IncidentImageRow).where(IncidentImageRow.incident_id.in_(expired))
        )
        incidents = session.execute(
            delete(IncidentRow).where(IncidentRow.onset_ns < incidents_cutoff_ns)
        )
        result = PurgeResult(
            reports_deleted=reports.rowcount,  # type: ignore[attr-defined]
            incidents_deleted=incidents.rowcount,  # type: ignore[attr-defined]
            images_deleted=images.rowcount,  # type: ignore[attr-defined]
        )
        if result.reports_deleted or result.incidents_deleted:
            store.audit.append(
                AuditEvent(
                    action="retention.purge",
                    actor="system",
                    subject="store",
                    details={**result.model_dump(), **policy.model_dump(), "now_ns": now_ns},
                ),
                session,
            )
    return result
