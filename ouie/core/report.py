"""The event report a sensor sends to the central service: contract `ouie.report/1`.

A report carries no audio: class, score, a sample-accurate onset (UTC ns) with its uncertainty,
duration, peak level and the id of the model that produced it, plus at most a coarse band-energy
envelope (≤ 1 kHz frame rate, ≤ 8 bands) that cannot be turned back into speech (docs/design.md
principle 1). Speech labels can never appear: `class_` only admits ouie event classes.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ouie.core.classes import EventClass

REPORT_SCHEMA: Literal["ouie.report/1"] = "ouie.report/1"
MAX_ENVELOPE_RATE_HZ = 1000.0
MAX_ENVELOPE_BANDS = 8


class ModelId(BaseModel):
    """Which detector produced the report: a name and the SHA-256 of its weights (or of the
    built-in detector's parameters)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Detector name, e.g. 'yamnet+ouie-head/1' or 'builtin/1'.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the model file(s).")


class Envelope(BaseModel):
    """A coarse band-energy envelope: `bands_db[band][frame]` in dB, at `rate_hz` frames/s."""

    model_config = ConfigDict(extra="forbid")

    rate_hz: float = Field(gt=0, le=MAX_ENVELOPE_RATE_HZ, description="Frame rate, ≤ 1 kHz.")
    band_edges_hz: list[float] = Field(description="Band edges in Hz (n_bands + 1 values).")
    bands_db: list[list[float]] = Field(description="Energy per band per frame, dB.")

    @field_validator("bands_db")
    @classmethod
    def _few_bands(cls, bands: list[list[float]]) -> list[list[float]]:
        if len(bands) > MAX_ENVELOPE_BANDS:
            raise ValueError(f"at most {MAX_ENVELOPE_BANDS} bands (got {len(bands)})")
        return bands


class EventReport(BaseModel):
    """One detected sound event at one sensor (`ouie.report/1`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["ouie.report/1"] = Field(
        default=REPORT_SCHEMA, alias="schema", description="Contract name and version."
    )
    report_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        min_length=1,
        max_length=64,
        description="Globally unique id; the central service de-duplicates on it.",
    )
    sensor_id: str = Field(min_length=1, max_length=64, description="The reporting sensor.")
    seq: int = Field(ge=0, description="Per-sensor sequence number, increasing by one.")
    class_: EventClass = Field(alias="class", description="The ouie event class.")
    score: float = Field(ge=0.0, le=1.0, description="Detector confidence in [0, 1].")
    onset_ns: int = Field(alias="onset", gt=0, description="Onset, UTC ns since the epoch.")
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
    envelope: Envelope | None = Field(default=None, description="Optional coarse envelope.")

    def to_json(self) -> str:
        """The wire form: JSON with the contract's field names (`schema`, `class`, `onset`)."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def from_json(cls, payload: str | bytes) -> EventReport:
        """Parse and validate a wire-form report (raises pydantic.ValidationError)."""
        return cls.model_validate_json(payload)
