"""Which sensors are near which, without a table of every pair: fusion's cost per report must
follow the sensors around a sound, not the city (10,000 sensors make 10⁸ pairs, ~10 GB).

- `PairDistances`: ‖p_a − p_b‖ (ENU, m) of a pair when asked, kept for the pairs asked (at most
  `max_cached`, then forgotten and computed again: same numbers, bounded memory).
- `SensorGrid`: sensors bucketed in square cells of side `cell_m` (east/north). Two sensors
  within d of each other are at most ⌈d / cell_m⌉ cells apart on each axis (|Δe| ≤ ‖Δp‖ and
  ⌊x/c⌋ moves by at most ⌈d/c⌉ over an interval of length d), so `maybe_within` is a
  necessary condition for ‖p_a − p_b‖ ≤ d and `around` a superset of the sensors within r of
  a point: callers keep their exact test and skip only what cannot pass it.
- `largest_spacing_m`: the largest sensor-to-sensor distance, or a lower bound of it that is
  already ≥ `cap_m` (all a window needs: min(spacing, range)), in O(n) for a city.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ouie.fusion.multilateration import Array


class PairDistances:
    """Sensor-to-sensor distances, m, computed on demand (module docstring)."""

    def __init__(self, positions_enu_m: dict[str, Array], max_cached: int = 1_000_000) -> None:
        self.positions_enu_m = positions_enu_m
        self.max_cached = max_cached
        self._cache: dict[tuple[str, str], float] = {}

    def __getitem__(self, pair: tuple[str, str]) -> float:
        distance_m = self._cache.get(pair)
        if distance_m is None:
            a, b = pair
            distance_m = float(np.linalg.norm(self.positions_enu_m[a] - self.positions_enu_m[b]))
            if len(self._cache) >= self.max_cached:
                self._cache.clear()
            self._cache[pair] = distance_m
        return distance_m


class SensorGrid:
    """Sensors in square east/north cells of side `cell_m` (module docstring)."""

    def __init__(self, positions_enu_m: dict[str, Array], cell_m: float) -> None:
        self.positions_enu_m, self.cell_m = positions_enu_m, cell_m
        self.cell_of: dict[str, tuple[int, int]] = {
            sensor_id: self._cell(float(p[0]), float(p[1]))
            for sensor_id, p in positions_enu_m.items()
        }
        self._members: dict[tuple[int, int], list[str]] = defaultdict(list)
        for sensor_id, cell in self.cell_of.items():
            self._members[cell].append(sensor_id)

    def _cell(self, east_m: float, north_m: float) -> tuple[int, int]:
        return math.floor(east_m / self.cell_m), math.floor(north_m / self.cell_m)

    def reach_cells(self, distance_m: float) -> int:
        """⌈distance_m / cell_m⌉: how many cells apart two sensors that far apart can be."""
        return math.ceil(distance_m / self.cell_m)

    def maybe_within(self, a: str, b: str, reach_cells: int) -> bool:
        """Whether sensors a and b are at most `reach_cells` cells apart on both axes: False
        means they are farther apart than any d with `reach_cells(d)` ≤ reach_cells."""
        (ea, na), (eb, nb) = self.cell_of[a], self.cell_of[b]
        return abs(ea - eb) <= reach_cells and abs(na - nb) <= reach_cells

    def around(self, points_en_m: Array, radius_m: float) -> dict[str, Array]:
        """Positions of the sensors in the cells within `radius_m` of any of `points_en_m`
        ((n, 2) east/north): every sensor within `radius_m` of a point, and some beyond."""
        reach = self.reach_cells(radius_m)
        cells: set[tuple[int, int]] = set()
        for east_m, north_m in points_en_m:
            ce, cn = self._cell(float(east_m), float(north_m))
            cells.update(
                (e, n)
                for e in range(ce - reach, ce + reach + 1)
                for n in range(cn - reach, cn + reach + 1)
            )
        return {
            sensor_id: self.positions_enu_m[sensor_id]
            for cell in cells
            for sensor_id in self._members.get(cell, ())
        }


def largest_spacing_m(positions_enu_m: dict[str, Array], cap_m: float) -> float:
    """max ‖p_a − p_b‖ over the sensors, m, exactly when it is below `cap_m`; otherwise some
    distance ≥ cap_m between two sensors (a lower bound of the largest). The farthest sensor
    from the first one gives such a bound in O(n) for any real city; only a site narrower than
    `cap_m` is compared pair by pair (in rows, so its memory stays O(n))."""
    if len(positions_enu_m) < 2:
        return 0.0
    points = np.array(list(positions_enu_m.values()), dtype=np.float64)
    from_first_m = float(np.max(np.linalg.norm(points - points[0], axis=1)))
    if from_first_m >= cap_m:
        return from_first_m
    return max(
        float(np.linalg.norm(points[i] - points[j]))
        for i in range(len(points))
        for j in range(i + 1, len(points))
    )
