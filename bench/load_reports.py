"""The synthetic report the load benchmarks send (`mqtt_throughput.py`, `store_add_reports.py`):
a valid `ouie.report/2` gunshot stamped now, from a bench model id."""

from __future__ import annotations

import time

from ouie.core.report import EventReport, ModelId

BENCH_MODEL = ModelId(name="bench/1", sha256="0" * 64)


def load_report(sensor_id: str, seq: int) -> EventReport:
    """A gunshot report from `sensor_id` with sequence number `seq`, onset now."""
    return EventReport.model_validate(
        {
            "sensor_id": sensor_id,
            "seq": seq,
            "class": "gunshot",
            "score": 0.9,
            "onset": time.time_ns(),
            "onset_uncertainty_s": 0.0005,
            "duration_s": 0.2,
            "peak_dbfs": -10.0,
            "model": BENCH_MODEL,
        }
    )
