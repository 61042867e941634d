"""The observatory in the console (mounted under `/api` with the rest of the API): the period's
figures as JSON for the page, and the transparency report to download. Supervisors, auditors
and admins only (`Permission.OBSERVE`); each report download is audited."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from ouie.console.api import ConsoleServices, Services, authorized
from ouie.console.auth import Permission, SessionUser
from ouie.core.audit import AuditEvent
from ouie.observatory.deployment import Deployment
from ouie.observatory.figures import (
    ObservatoryFigures,
    Period,
    compute_figures,
    latest_data_day,
)
from ouie.observatory.report import build_report, render_html, render_json
from ouie.store.models import AuditEntryRow

DEFAULT_PERIOD_DAYS = 30
"""Without `from`/`to`: the 30 UTC days up to the latest day with data (today when empty)."""

Observer = Annotated[SessionUser, Depends(authorized(Permission.OBSERVE))]
FirstDay = Annotated[date | None, Query(alias="from", description="First UTC day.")]
LastDay = Annotated[date | None, Query(alias="to", description="Last UTC day (included).")]

router = APIRouter()


def period_of(services: ConsoleServices, first_day: date | None, last_day: date | None) -> Period:
    """The period asked for; without an end, the latest day with reports or incidents (so that
    a quiet fortnight, or a demo replaying a past evening, still opens on its data), without a
    start, DEFAULT_PERIOD_DAYS before the end. 422 with the reason when it is not a period."""
    last = last_day or latest_data_day(services.store) or datetime.now(UTC).date()
    first = first_day or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    try:
        return Period(first_day=first, last_day=last)
    except ValidationError as error:
        messages = [problem["msg"].removeprefix("Value error, ") for problem in error.errors()]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "; ".join(messages)) from None


def deployment_of(services: ConsoleServices) -> Deployment:
    """The deployment as the console knows it: its sensors, cameras, cue policy and retention
    (the name from the last configuration the service recorded in the audit trail)."""
    with services.store.session() as session:
        subject = session.scalar(
            select(AuditEntryRow.subject)
            .where(AuditEntryRow.action.in_(("config.load", "config.change")))
            .order_by(AuditEntryRow.seq.desc())
            .limit(1)
        )
    name = subject.removeprefix("city:") if subject else None
    return Deployment(
        name=name,
        sensors=len(services.store.sensor_ids()),
        cameras=len(services.cameras.views()) if services.cameras else 0,
        cue_mode=services.cue_policy.mode,
        legal_basis=services.cue_policy.legal_basis,
        dpia=services.cue_policy.dpia,
        retention=services.retention,
    )


@router.get("/observatory")
def observatory(
    _user: Observer, services: Services, first_day: FirstDay = None, last_day: LastDay = None
) -> ObservatoryFigures:
    """The period's figures (the audit chain verified now)."""
    return compute_figures(services.store, period_of(services, first_day, last_day))


@router.get("/observatory/report.{extension}")
def report(
    extension: str,
    user: Observer,
    services: Services,
    first_day: FirstDay = None,
    last_day: LastDay = None,
) -> Response:
    """The transparency report of the period, as a file to download: `report.html` (one
    self-contained page) or `report.json`; the download is audited (`observatory.report`)."""
    if extension not in ("html", "json"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the report is report.html or report.json")
    period = period_of(services, first_day, last_day)
    content = build_report(services.store, deployment_of(services), period)
    days = f"{period.first_day}_{period.last_day}"
    services.store.audit(
        AuditEvent(
            action="observatory.report",
            actor=user.name,
            subject=f"period:{days}",
            details={"format": extension},
        )
    )
    filename = f"ouie-transparency-{days}.{extension}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if extension == "html":
        return HTMLResponse(render_html(content), headers=headers)
    return Response(render_json(content), media_type="application/json", headers=headers)
