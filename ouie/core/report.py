"""The event report a sensor sends to the central service: contract `ouie.report/2`.

A report carries no audio: class, score, a sample-accurate onset (UTC ns) with its uncertainty,
duration, peak level and the id of the model that produced it, plus at most one broadband level
envelope (one band, ≤ 100 frames/s, ≤ 2 s, only on a report of an alerting class and within its
event's span) that cannot be turned back into speech (docs/design.md principle 1: speech
vocoded from as few as three band envelopes is almost fully intelligible; one broadband band at
≤ 100 frames/s is not). Speech labels can never appear: `class_` only admits ouie event
classes. Every field is bounded (lengths, integers to 64 bits, no NaN or infinity anywhere) and
the wire form to `MAX_REPORT_BYTES`.

Versions. `ouie.report/2` differs from `ouie.report/1` only in the envelope: /1 admitted up to 8
bands at up to 1 kHz frames. A /1 report without an envelope says exactly what a /2 report
without one says, so it is still accepted (deployed sensors never filled the envelope); a /1
report with an envelope is refused (error type `envelope`, counted by the central as
`envelope`), as is a /2 envelope beyond its bounds.
"""

from __future__ import annotations

import uuid
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ouie.core.classes import ALERTING_CLASSES, EventClass

REPORT_SCHEMA: Literal["ouie.report/2"] = "ouie.report/2"
LEGACY_REPORT_SCHEMA: Literal["ouie.report/1"] = "ouie.report/1"
"""Still accepted, without an envelope (see the module docstring)."""
ENVELOPE_MAX_RATE_HZ = 100.0
ENVELOPE_MAX_SPAN_S = 2.0
ENVELOPE_MAX_FRAMES = round(ENVELOPE_MAX_RATE_HZ * ENVELOPE_MAX_SPAN_S)
ReportKey = tuple[str, str]
"""(sensor_id, report_id): what identifies a report (`EventReport.key`)."""
MAX_REPORT_BYTES = 16 * 1024
"""The largest wire form a report may have, bytes. Every field is bounded, so a valid report is
far smaller (about 600 bytes, 5 kB with a full envelope); a larger message is refused unread."""
ENVELOPE_ERROR = "envelope"
"""The pydantic error type of an envelope the contract refuses (the central's reject reason)."""
MAX_STORED_INT = 2**63 - 1
"""The largest integer every store takes (SQLite INTEGER, PostgreSQL BIGINT: signed 64 bits)."""
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
"""Text without control characters (PostgreSQL refuses NUL; logs must not carry line breaks)."""


def _envelope_error(message: str) -> PydanticCustomError:
    return PydanticCustomError(ENVELOPE_ERROR, message)


class ModelId(BaseModel):
    """Which detector produced the report: a name and the SHA-256 of its weights (or of the
    built-in detector's parameters)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(
        min_length=1,
        max_length=128,
        pattern=PRINTABLE,
        description="Detector name, e.g. 'yamnet+ouie-head/1' or 'builtin/1' (≤ 128 characters).",
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the model file(s).")


class Envelope(BaseModel):
    """One broadband level envelope: `bands_db[0][frame]` in dB re full scale, at `rate_hz`
    frames/s, over at most `ENVELOPE_MAX_SPAN_S` (frames / rate_hz ≤ 2 s). The shape of /1
    (a list of bands) is kept, with exactly one band."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    rate_hz: float = Field(gt=0, le=ENVELOPE_MAX_RATE_HZ, description="Frame rate, ≤ 100 Hz.")
    band_edges_hz: list[float] = Field(
        min_length=2, max_length=2, description="The band's edges [low, high] in Hz."
    )
    bands_db: list[list[float]] = Field(
        min_length=1,
        max_length=1,
        description=f"The one band's level per frame, dBFS (≤ {ENVELOPE_MAX_FRAMES} frames).",
    )

    @model_validator(mode="after")
    def _one_short_band(self) -> Self:
        low, high = self.band_edges_hz
        if not 0.0 <= low < high:
            raise _envelope_error("band edges must be 0 ≤ low < high (Hz)")
        frames = len(self.bands_db[0])
        if frames > ENVELOPE_MAX_FRAMES or frames > self.rate_hz * ENVELOPE_MAX_SPAN_S:
            raise _envelope_error(
                f"{frames} frames at {self.rate_hz:g} Hz exceed {ENVELOPE_MAX_SPAN_S:g} s"
            )
        if any(not -200.0 <= level <= 0.0 for level in self.bands_db[0]):
            raise _envelope_error("levels must be in [-200, 0] dBFS")
        return self

    @property
    def span_s(self) -> float:
        """Time the envelope covers, s."""
        return len(self.bands_db[0]) / self.rate_hz


class EventReport(BaseModel):
    """One detected sound event at one sensor (`ouie.report/2`, or /1 without an envelope)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)

    schema_: Literal["ouie.report/2", "ouie.report/1"] = Field(
        default=REPORT_SCHEMA, alias="schema", description="Contract name and version."
    )
    report_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        min_length=1,
        max_length=64,
        pattern=PRINTABLE,
        description="Globally unique id; the central service de-duplicates on it.",
    )
    sensor_id: str = Field(
        min_length=1, max_length=64, pattern=PRINTABLE, description="The reporting sensor."
    )
    seq: int = Field(
        ge=0, le=MAX_STORED_INT, description="Per-sensor sequence number, increasing by one."
    )
    class_: EventClass = Field(alias="class", description="The ouie event class.")
    score: float = Field(ge=0.0, le=1.0, description="Detector confidence in [0, 1].")
    onset_ns: int = Field(
        alias="onset", gt=0, le=MAX_STORED_INT, description="Onset, UTC ns since the epoch."
    )
    onset_uncertainty_s: float = Field(
        ge=0.0,
        le=10.0,
        description="1-σ uncertainty of the onset: picker error and clock uncertainty, s.",
    )
    duration_s: float = Field(
        ge=0.0,
        le=3600.0,
        description="Event duration as heard when the report was sent, s: from the onset to the "
        "end of the audio that confirmed the event (a sensor reports as soon as the event is "
        "confirmed, not when it ends; a sustained sound may go on after it).",
    )
    peak_dbfs: float = Field(le=0.0, ge=-200.0, description="Peak level, dB re full scale.")
    model: ModelId
    envelope: Envelope | None = Field(
        default=None,
        description="Optional broadband envelope, only on alerting classes, within duration_s.",
    )

    @model_validator(mode="after")
    def _envelope_within_an_alerting_event(self) -> Self:
        """An envelope only in /2, on an alerting class, and no longer than the event heard
        (duration_s, plus one frame for rounding)."""
        if self.envelope is None:
            return self
        if self.schema_ == LEGACY_REPORT_SCHEMA:
            raise _envelope_error(
                "ouie.report/1 envelopes (up to 8 bands at 1 kHz) can carry speech: send "
                "ouie.report/2 (one band, ≤ 100 frames/s, ≤ 2 s)"
            )
        if self.class_ not in ALERTING_CLASSES:
            raise _envelope_error(f"no envelope on a report of class {self.class_}")
        if self.envelope.span_s > self.duration_s + 1.0 / self.envelope.rate_hz:
            raise _envelope_error(
                f"envelope spans {self.envelope.span_s:.2f} s, beyond the event's "
                f"{self.duration_s:.2f} s"
            )
        return self

    @property
    def key(self) -> ReportKey:
        """What identifies the report: (sensor_id, report_id). Report ids are unique per
        sensor; the central de-duplicates on this key, so no sensor can pre-empt another's."""
        return (self.sensor_id, self.report_id)

    def to_json(self) -> str:
        """The wire form: JSON with the contract's field names (`schema`, `class`, `onset`)."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def from_json(cls, payload: str | bytes) -> EventReport:
        """Parse and validate a wire-form report (raises pydantic.ValidationError)."""
        return cls.model_validate_json(payload)
