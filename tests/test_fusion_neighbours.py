"""Fusion's neighbour lookups: the same answers as the pair-by-pair ones they replace."""

from __future__ import annotations

import numpy as np

from ouie.cluster.synthetic import TRIAL_CLASSES, TRIAL_NOISE, sensor_grid
from ouie.core.geo import LocalFrame
from ouie.core.recording import SensorSite
from ouie.fusion.association import Associator
from ouie.fusion.config import FusionConfig
from ouie.fusion.neighbours import PairDistances, SensorGrid, largest_spacing_m
from ouie.fusion.synthetic import synthesize_deliveries, truth_events


def _positions(count: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"s{k}": rng.uniform(-3000, 3000, 3) * [1, 1, 0.01] for k in range(count)}


def test_pair_distances_equal_the_norms_and_stay_bounded() -> None:
    positions = _positions(40, 1)
    distances = PairDistances(positions, max_cached=10)
    for a in positions:
        for b in positions:
            assert distances[a, b] == float(np.linalg.norm(positions[a] - positions[b]))
    assert len(distances._cache) <= 10


def test_grid_finds_every_sensor_within_the_radius_and_every_pair_within_reach() -> None:
    positions = _positions(300, 2)
    grid = SensorGrid(positions, 450.0)
    points = np.array([[0.0, 0.0], [1234.0, -987.0]])
    for radius_m in (100.0, 450.0, 1000.0):
        within = {
            s
            for s, p in positions.items()
            if np.min(np.linalg.norm(points - p[:2], axis=1)) <= radius_m
        }
        assert within <= set(grid.around(points, radius_m))
        reach = grid.reach_cells(radius_m)
        for a in positions:
            for b in positions:
                if np.linalg.norm(positions[a] - positions[b]) <= radius_m:
                    assert grid.maybe_within(a, b, reach)
    assert len(grid.around(points, 100.0)) < len(positions)


def test_largest_spacing_is_exact_below_the_cap_and_a_bound_above_it() -> None:
    positions = _positions(60, 3)
    exact = max(
        float(np.linalg.norm(p - q)) for p in positions.values() for q in positions.values()
    )
    assert largest_spacing_m(positions, cap_m=1e9) == exact
    bound = largest_spacing_m(positions, cap_m=100.0)
    assert 100.0 <= bound <= exact
    assert largest_spacing_m({"a": np.zeros(3)}, 10.0) == 0.0


def test_sensors_far_away_change_no_incident() -> None:
    """Fusion is local: the same stream fused with 400 more sensors 50 km away (beyond any
    hearing range, so the windows, pairings and confirmations cannot involve them) gives the
    same incidents, revision for revision."""
    frame = LocalFrame(45.4397, 4.3872, 520.0)
    fusion = FusionConfig()
    sensors = sensor_grid(frame, 64, 200.0)
    far = [
        SensorSite(id=f"far{s.id}", lat=s.lat + 0.45, lon=s.lon)
        for s in sensor_grid(frame, 400, 150.0)
    ]
    rng = np.random.default_rng(5)
    places = rng.uniform(-600, 600, (20, 2))
    onsets = [10**18 + k * 400_000_000 for k in range(20)]
    classes = [TRIAL_CLASSES[k % 3] for k in range(20)]
    truth = truth_events(frame, classes, onsets, places[:, 0], places[:, 1])
    stream = synthesize_deliveries(
        sensors, frame, truth, fusion.speed_of_sound_mps, TRIAL_NOISE, rng
    )

    def fused(sites: list[SensorSite]) -> list[str]:
        associator = Associator(sites, frame, fusion)
        out = [i for d in stream for i in associator.add(d.report, d.arrival_ns)]
        return [i.model_dump_json() for i in out + associator.flush()]

    alone = fused(sensors)
    assert len(alone) >= 20
    assert fused(sensors + far) == alone
