"""Builders shared by the store, transport and central tests."""

from __future__ import annotations

from ouie.core.report import EventReport, ModelId

MODEL = ModelId(name="builtin/1", sha256="0" * 64)


def make_report(
    sensor_id: str = "s1",
    seq: int = 0,
    onset_ns: int = 1_750_000_000 * 10**9,
    class_: str = "gunshot",
    **overrides: object,
) -> EventReport:
    """A valid report; any field can be overridden."""
    fields: dict[str, object] = {
        "sensor_id": sensor_id,
        "seq": seq,
        "class": class_,
        "score": 0.9,
        "onset": onset_ns,
        "onset_uncertainty_s": 0.0005,
        "duration_s": 0.3,
        "peak_dbfs": -6.0,
        "model": MODEL,
    }
    fields.update(overrides)
    return EventReport.model_validate(fields)
