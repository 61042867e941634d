"""Checks every incoming report before it is stored: schema, known sensor, the topic's sensor,
and a sane clock. A rejected message gets a reason (a Prometheus label) and a detail (logged)."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from pydantic import ValidationError

from ouie.central.config import ValidationSettings
from ouie.core.config import describe_validation_error
from ouie.core.report import ENVELOPE_ERROR, MAX_REPORT_BYTES, EventReport
from ouie.core.timebase import NS_PER_S


class RejectReason(StrEnum):
    """Why a message was not accepted."""

    MALFORMED = "malformed"  # not JSON / not UTF-8 / nested too deep
    OVERSIZE = "oversize"  # longer than MAX_REPORT_BYTES: refused unread
    SCHEMA = "schema"  # JSON that is not a valid ouie.report/2 (or /1)
    ENVELOPE = "envelope"  # an envelope ouie.report/2 refuses (any /1 envelope: speech risk)
    UNKNOWN_SENSOR = "unknown_sensor"
    TOPIC_MISMATCH = "topic_mismatch"  # report's sensor_id differs from the topic's
    CLOCK_FUTURE = "clock_future"
    CLOCK_PAST = "clock_past"
    DUPLICATE = "duplicate"  # report_id already stored
    UNSTORABLE = "unstorable"  # valid, but the database refused its data (logged with why)


class Rejected(Exception):
    """A message that is refused, with its reason and a human-readable detail."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def validate_report(
    topic_sensor_id: str,
    payload: bytes,
    known_sensors: Collection[str],
    now_ns: int,
    settings: ValidationSettings,
) -> EventReport:
    """Parse and check one message; raises `Rejected`.

    The clock is sane when now − max_age_s ≤ onset ≤ now + max_future_s.
    """
    if len(payload) > MAX_REPORT_BYTES:
        raise Rejected(
            RejectReason.OVERSIZE, f"{len(payload)} bytes (limit {MAX_REPORT_BYTES}), not read"
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Rejected(RejectReason.MALFORMED, f"not UTF-8 ({error})") from None
    try:
        report = EventReport.from_json(text)
    except ValidationError as error:
        raise Rejected(_reason(error), describe_validation_error(error, "report")) from None
    if report.sensor_id != topic_sensor_id:
        raise Rejected(
            RejectReason.TOPIC_MISMATCH,
            f"report {report.report_id} says sensor {report.sensor_id!r} on {topic_sensor_id!r}'s "
            "topic",
        )
    if report.sensor_id not in known_sensors:
        raise Rejected(RejectReason.UNKNOWN_SENSOR, f"sensor {report.sensor_id!r} is not deployed")
    ahead_s = (report.onset_ns - now_ns) / NS_PER_S
    if ahead_s > settings.max_future_s:
        raise Rejected(
            RejectReason.CLOCK_FUTURE,
            f"report {report.report_id} from {report.sensor_id}: onset {ahead_s:.1f} s in the "
            f"future (limit {settings.max_future_s} s): sensor clock wrong?",
        )
    if -ahead_s > settings.max_age_s:
        raise Rejected(
            RejectReason.CLOCK_PAST,
            f"report {report.report_id} from {report.sensor_id}: onset {-ahead_s:.0f} s old "
            f"(limit {settings.max_age_s} s)",
        )
    return report


def _reason(error: ValidationError) -> RejectReason:
    """`malformed` for text that is not JSON, `envelope` for a refused envelope (of any
    version), else `schema`."""
    problems = error.errors()
    if any(p["type"] == "json_invalid" for p in problems):
        return RejectReason.MALFORMED
    if any(p["type"] == ENVELOPE_ERROR or p["loc"][:1] == ("envelope",) for p in problems):
        return RejectReason.ENVELOPE
    return RejectReason.SCHEMA
