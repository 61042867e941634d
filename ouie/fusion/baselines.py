"""Naive localization baselines, to show what multilateration gains.

Both use only report levels and sensor positions, as a system without precise timing would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ouie.core.report import EventReport
from ouie.fusion.multilateration import Array


def loudest_sensor_en_m(reports: Sequence[EventReport], positions_enu_m: dict[str, Array]) -> Array:
    """(east_m, north_m) of the sensor with the highest peak_dbfs."""
    loudest = max(reports, key=lambda r: (r.peak_dbfs, r.sensor_id))
    return positions_enu_m[loudest.sensor_id][:2].copy()


def energy_centroid_en_m(
    reports: Sequence[EventReport], positions_enu_m: dict[str, Array]
) -> Array:
    """Energy-weighted centroid Σ wᵢ sᵢ / Σ wᵢ with wᵢ = 10^(peak_dbfsᵢ/10) (linear energy)."""
    levels = np.array([r.peak_dbfs for r in reports])
    weights = 10.0 ** ((levels - levels.max()) / 10.0)
    sites = np.array([positions_enu_m[r.sensor_id][:2] for r in reports])
    return np.asarray(weights @ sites / weights.sum(), dtype=np.float64)
