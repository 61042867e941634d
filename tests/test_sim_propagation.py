"""Propagation functions: each checked against its formula, a published table or geometry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouie.acoustics.propagation import (
    BuildingGeometry,
    air_absorption_db_per_m,
    barrier_attenuation_db,
    fractional_delay_response,
    image_source_distance_m,
    sound_paths,
    spherical_spreading_gain,
    upper_hull_path,
)

FS = 16000


def gaussian_pulse(n: int, centre: float, width: float = 3.0) -> np.ndarray:
    """A smooth (effectively band-limited) pulse centred at a fractional sample."""
    t = np.arange(n)
    return np.exp(-0.5 * ((t - centre) / width) ** 2) * np.cos(0.9 * (t - centre))


@given(delay=st.floats(0.0, 400.0))
def test_fractional_delay_moves_a_pulse_by_exactly_the_delay(delay: float) -> None:
    n = 1024
    pulse = gaussian_pulse(n, 100.0)
    delayed = np.fft.irfft(
        np.fft.rfft(pulse) * fractional_delay_response(np.fft.rfftfreq(n, 1 / FS), delay / FS), n
    )
    assert np.max(np.abs(delayed - gaussian_pulse(n, 100.0 + delay))) < 1e-6


def test_spreading_loses_six_db_per_doubling() -> None:
    gains = spherical_spreading_gain(np.array([10.0, 20.0, 40.0, 80.0]))
    assert 20 * np.log10(gains[:-1] / gains[1:]) == pytest.approx([6.0206] * 3, abs=1e-4)


@pytest.mark.parametrize(
    ("frequency_hz", "expected_db_per_km"),
    [(250.0, 1.1), (500.0, 2.8), (1000.0, 5.0), (2000.0, 9.0), (4000.0, 22.9), (8000.0, 76.6)],
)
def test_air_absorption_matches_the_iso_9613_2_table_at_20c_70pct(
    frequency_hz: float, expected_db_per_km: float
) -> None:
    alpha = air_absorption_db_per_m(frequency_hz, 20.0, 70.0) * 1000.0
    assert alpha == pytest.approx(expected_db_per_km, rel=0.03)


def test_drier_air_absorbs_high_frequencies_more() -> None:
    assert air_absorption_db_per_m(4000.0, 20.0, 20.0) > air_absorption_db_per_m(4000.0, 20.0, 70.0)


@given(
    d=st.floats(1.0, 2000.0),
    hs=st.floats(0.0, 30.0),
    hr=st.floats(0.0, 30.0),
)
def test_image_source_path_is_the_mirror_distance_and_never_shorter(
    d: float, hs: float, hr: float
) -> None:
    source, receiver = np.array([0.0, 0.0, hs]), np.array([d, 0.0, hr])
    reflected = image_source_distance_m(source, receiver)
    assert reflected == pytest.approx(np.hypot(d, hs + hr))
    assert reflected >= np.linalg.norm(receiver - source) - 1e-9


def test_barrier_attenuation_follows_iso_9613_2() -> None:
    c = 340.0
    # grazing incidence (z = 0): 10·log10(3) ≈ 4.8 dB at every frequency
    assert barrier_attenuation_db(0.0, [125.0, 4000.0], c) == pytest.approx([4.77, 4.77], abs=0.01)
    # z = 1 m at 1 kHz, single edge: 10·log10(3 + 20·1000/340)
    assert float(barrier_attenuation_db(1.0, 1000.0, c)) == pytest.approx(
        10 * np.log10(3 + 20 * 1000 / 340), abs=1e-9
    )
    # capped at 20 dB (single edge) and 25 dB (thick barrier)
    assert float(barrier_attenuation_db(100.0, 8000.0, c)) == 20.0
    assert float(barrier_attenuation_db(100.0, 8000.0, c, edge_separation_m=20.0)) == 25.0


@given(z=st.floats(0.0, 50.0), f1=st.floats(20.0, 8000.0), f2=st.floats(20.0, 8000.0))
def test_barrier_attenuation_grows_with_frequency(z: float, f1: float, f2: float) -> None:
    low, high = sorted((f1, f2))
    a = barrier_attenuation_db(z, [low, high], 343.0)
    assert a[0] <= a[1] + 1e-12
    assert 4.77 - 1e-6 <= a[0] <= 20.0


def test_upper_hull_rises_over_a_wall_and_skips_a_lower_one() -> None:
    profile = np.array([[0.0, 1.5], [100.0, 5.0], [40.0, 20.0], [60.0, 20.0], [80.0, 2.0]])
    hull = upper_hull_path(profile)
    assert hull.tolist() == [[0.0, 1.5], [40.0, 20.0], [60.0, 20.0], [100.0, 5.0]]


SQUARE = np.array([[40.0, -30.0], [60.0, -30.0], [60.0, 30.0], [40.0, 30.0]])


def test_a_roof_path_goes_over_the_block_with_two_edges() -> None:
    geometry = BuildingGeometry([SQUARE], [20.0])
    source, receiver = np.array([0.0, 0.0, 2.0]), np.array([100.0, 0.0, 5.0])
    path = geometry.diffracted_path(source, receiver)
    assert path is not None and path.kind == "roof"
    expected = np.hypot(40.0, 18.0) + 20.0 + np.hypot(40.0, 15.0)
    assert path.length_m == pytest.approx(expected)
    assert path.edge_separation_m == pytest.approx(20.0)
    assert path.path_difference_m == pytest.approx(expected - np.hypot(100.0, 3.0))


def test_a_tall_thin_block_is_passed_around_its_corner() -> None:
    tower = np.array([[45.0, -5.0], [55.0, -5.0], [55.0, 5.0], [45.0, 5.0]])
    geometry = BuildingGeometry([tower], [200.0])
    source, receiver = np.array([0.0, 0.0, 2.0]), np.array([100.0, 0.0, 2.0])
    path = geometry.diffracted_path(source, receiver)
    assert path is not None and path.kind == "around"
    assert path.length_m == pytest.approx(2 * np.hypot(45.0, 5.0) + 10.0)


def test_sensors_above_the_roofs_see_over_them() -> None:
    geometry = BuildingGeometry([SQUARE], [10.0])
    assert sound_paths(np.array([0.0, 0, 30]), np.array([100.0, 0, 30]), geometry, 0.9)[0].kind == (
        "direct"
    )


@settings(max_examples=60, deadline=None)
@given(
    sx=st.floats(-200, 30),
    sy=st.floats(-200, 200),
    rx=st.floats(70, 300),
    ry=st.floats(-200, 200),
    height=st.floats(3.0, 40.0),
)
def test_a_diffracted_path_is_never_shorter_than_the_straight_line(
    sx: float, sy: float, rx: float, ry: float, height: float
) -> None:
    geometry = BuildingGeometry([SQUARE], [height])
    source, receiver = np.array([sx, sy, 1.5]), np.array([rx, ry, 5.0])
    paths = sound_paths(source, receiver, geometry, 0.9)
    straight = float(np.linalg.norm(receiver - source))
    assert min(p.length_m for p in paths) >= straight - 1e-6
    if paths[0].diffracted:
        assert len(paths) == 1 and paths[0].path_difference_m >= -1e-6
