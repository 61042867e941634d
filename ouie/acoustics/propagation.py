"""Outdoor sound propagation between one source and one microphone, as small numerical functions.

Every function works in SI units in the scenario's local ENU frame (metres, seconds, Hz, Pa).
What is modelled, per source–microphone pair:

- **delay** r/c applied as an exact fractional delay in the frequency domain;
- **spherical spreading** 1/r (−6 dB per doubling of distance) relative to 1 m;
- **air absorption** from ISO 9613-1 (pure-tone attenuation coefficient, exact formula);
- **ground reflection**: one image source below a flat rigid-ish ground, with a frequency-
  independent reflection factor (asphalt and paving are acoustically hard);
- **buildings**: when a building block cuts the line of sight, the direct path is replaced by the
  shortest diffracted path, over the roofs (vertical plane) or around the corners (horizontal
  plane), attenuated by the ISO 9613-2 barrier formula (eq. 14–16);
- **street reverberation** (optional): the facades' many reflections as one diffuse tail after
  the first arrival, decaying with a reverberation time, whose energy falls as 1/r (not 1/r²).

Simplified away, on purpose: individual facade reflections (only their diffuse sum), wind and
temperature gradients (refraction), turbulence, ground impedance (phase), the ground reflection
of diffracted paths, and moving sources (no Doppler).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, Polygon

P_REF_PA = 20e-6
"""Reference sound pressure for dB SPL, Pa."""

FloatArray = NDArray[np.float64]


def db_spl_to_pa(level_db_spl: float) -> float:
    """RMS pressure of a level: p = p_ref · 10^(L/20), p_ref = 20 µPa."""
    return P_REF_PA * 10.0 ** (level_db_spl / 20.0)


def pa_to_db_spl(pressure_pa: float) -> float:
    """Level of an RMS pressure: L = 20 · log10(p / p_ref) dB SPL (−inf for silence)."""
    with np.errstate(divide="ignore"):
        return float(20.0 * np.log10(pressure_pa / P_REF_PA))


def fractional_delay_response(frequency_hz: FloatArray, delay_s: float) -> NDArray:
    """Frequency response of a pure delay: H(f) = exp(−j·2π·f·τ). On the `rfft` grid of an
    n-point FFT (f_k = k·fs/n) it delays by τ exactly, for any real τ (not rounded to a sample);
    the delay is circular, so the caller pads the signal by at least τ·fs samples."""
    return np.exp(-2j * np.pi * frequency_hz * delay_s)


def spherical_spreading_gain(distance_m: float | FloatArray) -> float | FloatArray:
    """Pressure gain of a point source relative to 1 m: g = 1/r (r clamped at 0.1 m).
    The level falls 20·log10(2) ≈ 6.02 dB per doubling of distance."""
    return 1.0 / np.maximum(distance_m, 0.1)


def air_absorption_db_per_m(
    frequency_hz: ArrayLike,
    air_temperature_c: float,
    relative_humidity_pct: float,
    pressure_kpa: float = 101.325,
) -> FloatArray:
    """Pure-tone attenuation coefficient α of air, dB/m (ISO 9613-1:1993, eq. 3–5 and B.1).

    With T in K, T0 = 293.15 K, T01 = 273.16 K, p_r = 101.325 kPa, h_r relative humidity (%):
      C = −6.8346·(T01/T)^1.261 + 4.6151,   h = h_r · 10^C · (p_a/p_r)^−1   (molar %, water)
      f_rO = (p_a/p_r)·(24 + 4.04e4·h·(0.02 + h)/(0.391 + h))
      f_rN = (p_a/p_r)·(T/T0)^−½·(9 + 280·h·exp(−4.170·((T/T0)^−⅓ − 1)))
      α = 8.686·f²·[1.84e−11·(p_a/p_r)^−1·(T/T0)^½ + (T/T0)^−5/2·(
            0.01275·e^(−2239.1/T)/(f_rO + f²/f_rO) + 0.1068·e^(−3352.0/T)/(f_rN + f²/f_rN))]
    At 20 °C, 70 % RH: about 0.005 dB/m at 1 kHz and 0.1 dB/m at 8 kHz.
    """
    f = np.asarray(frequency_hz, dtype=float)
    t_k = air_temperature_c + 273.15
    t_rel = t_k / 293.15
    p_rel = pressure_kpa / 101.325
    c_sat = -6.8346 * (273.16 / t_k) ** 1.261 + 4.6151
    h = relative_humidity_pct * 10.0**c_sat / p_rel
    fr_o = p_rel * (24.0 + 4.04e4 * h * (0.02 + h) / (0.391 + h))
    fr_n = p_rel * t_rel**-0.5 * (9.0 + 280.0 * h * np.exp(-4.170 * (t_rel ** (-1.0 / 3.0) - 1.0)))
    relax = t_rel**-2.5 * (
        0.01275 * np.exp(-2239.1 / t_k) / (fr_o + f**2 / fr_o)
        + 0.1068 * np.exp(-3352.0 / t_k) / (fr_n + f**2 / fr_n)
    )
    return np.asarray(8.686 * f**2 * (1.84e-11 / p_rel * t_rel**0.5 + relax), dtype=float)


def image_source_distance_m(source_enu: FloatArray, receiver_enu: FloatArray) -> float:
    """Length of the ground-reflected path, from the image source mirrored in the ground plane
    z = 0: r_g = sqrt(d_h² + (z_s + z_r)²), d_h the horizontal distance (heights above ground)."""
    horizontal_m = float(np.hypot(*(np.asarray(receiver_enu[:2]) - np.asarray(source_enu[:2]))))
    return float(np.hypot(horizontal_m, source_enu[2] + receiver_enu[2]))


def barrier_attenuation_db(
    path_difference_m: float,
    frequency_hz: float | FloatArray,
    speed_of_sound_mps: float,
    edge_separation_m: float = 0.0,
) -> FloatArray:
    """Barrier attenuation D_z of a diffracted path (ISO 9613-2:1996, eq. 14–16, K_met = 1):
    D_z = 10·log10(3 + (C2/λ)·C3·z),  C2 = 20,  λ = c/f,  z = diffracted − direct length.
    Single edge (e = 0): C3 = 1, D_z ≤ 20 dB.
    Two or more edges e apart: C3 = (1 + (5λ/e)²)/(⅓ + (5λ/e)²), D_z ≤ 25 dB.
    """
    f = np.maximum(np.asarray(frequency_hz, dtype=float), 1.0)
    wavelength_m = speed_of_sound_mps / f
    if edge_separation_m > 0.0:
        ratio2 = (5.0 * wavelength_m / edge_separation_m) ** 2
        c3, cap_db = (1.0 + ratio2) / (1.0 / 3.0 + ratio2), 25.0
    else:
        c3, cap_db = np.ones_like(f), 20.0
    d_z = 10.0 * np.log10(3.0 + 20.0 / wavelength_m * c3 * max(path_difference_m, 0.0))
    return np.asarray(np.minimum(d_z, cap_db), dtype=float)


@dataclass(frozen=True)
class SoundPath:
    """One way the sound gets from the source to the microphone.

    `length_m` sets the delay and the spreading; `reflection_gain` scales the pressure (1 for
    direct and diffracted paths); a diffracted path carries its extra length over the blocked
    straight line (`path_difference_m`) and the separation of its first and last edges."""

    length_m: float
    kind: str  # "direct", "ground", "roof" or "around"
    reflection_gain: float = 1.0
    path_difference_m: float = 0.0
    edge_separation_m: float = 0.0

    @property
    def diffracted(self) -> bool:
        """True when the path bends over or around a building (non-line-of-sight)."""
        return self.kind in ("roof", "around")


def _polyline_length(points: FloatArray) -> float:
    return float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))


def upper_hull_path(profile: FloatArray) -> FloatArray:
    """Shortest path over a vertical terrain profile: the upper convex hull (monotone chain) of
    points (distance_m, height_m) sorted by distance, from the first point to the last. A rubber
    band stretched from source to receiver over the roofs touches exactly these points."""
    hull: list[FloatArray] = []
    for point in profile[np.argsort(profile[:, 0], kind="stable")]:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1) >= 0.0:
                hull.pop()  # hull[-1] lies on or below the chord: not on the upper hull
            else:
                break
        hull.append(point)
    return np.array(hull)


class BuildingGeometry:
    """Building blocks in the ENU frame (footprint polygons with roof heights) and the paths
    that sound takes past them."""

    def __init__(self, footprints_enu: list[FloatArray], heights_m: list[float]) -> None:
        self.polygons = [Polygon(ring[:, :2]) for ring in footprints_enu]
        self.heights_m = np.asarray(heights_m, dtype=float)
        self._tree = shapely.STRtree(self.polygons)
        # A segment that only grazes a corner is not blocked: test against slightly shrunk blocks.
        self.blocks = shapely.union_all(self.polygons)
        shapely.prepare(self.blocks)
        self._blocker = shapely.union_all([p.buffer(-0.05) for p in self.polygons])
        shapely.prepare(self._blocker)
        corners = [np.asarray(p.exterior.coords)[:-1] for p in self.polygons]
        self.corners = np.concatenate(corners) if corners else np.zeros((0, 2))
        self._corner_graph = self._visibility(self.corners, self.corners)

    def _visibility(self, starts: FloatArray, ends: FloatArray) -> FloatArray:
        """Horizontal distances between every start and end point that see each other (0 where
        a block is in the way), shape (len(starts), len(ends))."""
        if len(starts) == 0 or len(ends) == 0:
            return np.zeros((len(starts), len(ends)))
        a = np.repeat(starts, len(ends), axis=0)
        b = np.tile(ends, (len(starts), 1))
        lines = shapely.linestrings(np.stack([a, b], axis=1))
        blocked = np.asarray(shapely.intersects(lines, self._blocker))
        distance = np.linalg.norm(b - a, axis=1)
        distance[blocked] = 0.0
        return distance.reshape(len(starts), len(ends))

    def ground_tracks_cross(self, source_xy: FloatArray, receivers_xy: FloatArray) -> NDArray:
        """For each receiver, whether the ground track from the source crosses a block (one
        vectorized test; only those pairs need the diffraction geometry)."""
        lines = shapely.linestrings(
            np.stack([np.broadcast_to(source_xy, receivers_xy.shape), receivers_xy], axis=1)
        )
        return np.asarray(shapely.intersects(lines, self._blocker), dtype=bool)

    def line_of_sight_profile(self, source: FloatArray, receiver: FloatArray) -> FloatArray:
        """Vertical profile (distance_m along the ground track, height_m) from source to receiver:
        the two end points and the entry/exit edges of every roof the ground track crosses."""
        track = LineString([source[:2], receiver[:2]])
        points = [(0.0, float(source[2])), (track.length, float(receiver[2]))]
        for index in self._tree.query(track, predicate="intersects"):
            crossing = track.intersection(self.polygons[index])
            for part in getattr(crossing, "geoms", [crossing]):
                for xy in part.coords:
                    points.append((track.project(shapely.Point(xy)), self.heights_m[index]))
        return np.array(points, dtype=float)

    def roof_path(self, source: FloatArray, receiver: FloatArray) -> SoundPath | None:
        """The shortest path over the roofs, or None when the straight line clears them all."""
        hull = upper_hull_path(self.line_of_sight_profile(source, receiver))
        if len(hull) == 2:
            return None
        direct_m = float(np.linalg.norm(receiver - source))
        length_m = _polyline_length(hull)
        return SoundPath(
            length_m=length_m,
            kind="roof",
            path_difference_m=length_m - direct_m,
            edge_separation_m=_polyline_length(hull[1:-1]),
        )

    def around_path(self, source: FloatArray, receiver: FloatArray) -> SoundPath | None:
        """The shortest path around the blocks' corners in the horizontal plane (Dijkstra on the
        corner visibility graph), with the height change spread along it; None if the horizontal
        line is clear or no way round exists."""
        ends = np.array([source[:2], receiver[:2]])
        if self._visibility(ends[:1], ends[1:])[0, 0] > 0.0 or len(self.corners) == 0:
            return None
        n = len(self.corners)
        graph = np.zeros((n + 2, n + 2))
        graph[:n, :n] = self._corner_graph
        to_ends = self._visibility(self.corners, ends)
        graph[:n, n:] = to_ends
        graph[n:, :n] = to_ends.T
        distance, predecessors = dijkstra(
            graph, directed=False, indices=n, return_predecessors=True
        )
        horizontal_m = float(distance[n + 1])
        if not np.isfinite(horizontal_m):
            return None
        route = [n + 1]
        while route[-1] != n:
            route.append(int(predecessors[route[-1]]))
        first_corner, last_corner = self.corners[route[-2]], self.corners[route[1]]
        length_m = float(np.hypot(horizontal_m, receiver[2] - source[2]))
        return SoundPath(
            length_m=length_m,
            kind="around",
            path_difference_m=length_m - float(np.linalg.norm(receiver - source)),
            edge_separation_m=float(
                horizontal_m
                - np.linalg.norm(first_corner - source[:2])
                - np.linalg.norm(receiver[:2] - last_corner)
            ),
        )

    def around_lower_bound_m(self, source: FloatArray, receiver: FloatArray) -> float:
        """A path round the blocks passes at least one corner c, so it is at least
        min_c sqrt((|S−c| + |c−R|)² + Δz²) long (horizontal distances)."""
        if len(self.corners) == 0:
            return float("inf")
        via = np.linalg.norm(self.corners - source[:2], axis=1) + np.linalg.norm(
            self.corners - receiver[:2], axis=1
        )
        return float(np.hypot(via.min(), receiver[2] - source[2]))

    def diffracted_path(self, source: FloatArray, receiver: FloatArray) -> SoundPath | None:
        """The shorter of the roof and around paths, or None when there is line of sight."""
        roof = self.roof_path(source, receiver)
        if roof is None:
            return None
        if self.around_lower_bound_m(source, receiver) >= roof.length_m:
            return roof  # no way round can be shorter: skip the graph search
        around = self.around_path(source, receiver)
        return roof if around is None or roof.length_m <= around.length_m else around


def sound_paths(
    source_enu: FloatArray,
    receiver_enu: FloatArray,
    buildings: BuildingGeometry | None,
    ground_reflection_gain: float,
) -> list[SoundPath]:
    """The paths rendered for one pair: the direct path plus its ground reflection when there is
    line of sight; otherwise the single shortest diffracted path (its ground bounce is ignored).
    Heights in the ENU vectors are above ground."""
    blocked = buildings.diffracted_path(source_enu, receiver_enu) if buildings else None
    if blocked is not None:
        return [blocked]
    paths = [SoundPath(length_m=float(np.linalg.norm(receiver_enu - source_enu)), kind="direct")]
    if ground_reflection_gain > 0.0:
        paths.append(
            SoundPath(
                length_m=image_source_distance_m(source_enu, receiver_enu),
                kind="ground",
                reflection_gain=ground_reflection_gain,
            )
        )
    return paths


def path_response(
    path: SoundPath,
    frequency_hz: FloatArray,
    speed_of_sound_mps: float,
    absorption_db_per_m: FloatArray,
) -> NDArray[np.float64]:
    """Magnitude response of one path (without its delay), relative to the source at 1 m:
      |H(f)| = Q · (1/r) · 10^(−α(f)·r/20) · 10^(−D_z(f)/20)
    with Q the reflection gain, α from `air_absorption_db_per_m`, D_z from
    `barrier_attenuation_db` for diffracted paths (0 otherwise)."""
    loss_db = absorption_db_per_m * path.length_m
    if path.diffracted:
        loss_db = loss_db + barrier_attenuation_db(
            path.path_difference_m, frequency_hz, speed_of_sound_mps, path.edge_separation_m
        )
    gain = path.reflection_gain * spherical_spreading_gain(path.length_m)
    return np.asarray(gain * 10.0 ** (-loss_db / 20.0), dtype=float)


REVERB_PREDELAY_S = 0.005
"""Gap between the first arrival and the start of the street reverberation tail, s."""
REVERB_BUILD_UP_S = 0.010
"""Time constant of the tail's build-up, s."""


def street_reverb_tail(
    sample_rate_hz: int, rt60_s: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """A diffuse reverberation tail of unit energy (Σh² = 1), T60 long (down to −60 dB):
      h(t) ∝ n(t) · (1 − exp(−t/τ_b)) · 10^(−3·t/T60) · w(t),   0 ≤ t < T60
    with n white Gaussian noise, τ_b = `REVERB_BUILD_UP_S`, and w a half-cosine fade over the
    last 10 % (so the tail does not stop on an audible edge)."""
    n = max(2, round(rt60_s * sample_rate_hz))
    t = np.arange(n) / sample_rate_hz
    fade = np.ones(n)
    k = max(1, n // 10)
    fade[n - k :] = 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, k)))
    envelope = (1.0 - np.exp(-t / REVERB_BUILD_UP_S)) * 10.0 ** (-3.0 * t / rt60_s) * fade
    h = rng.standard_normal(n) * envelope
    return np.asarray(h / np.sqrt(np.sum(h**2)), dtype=float)


def street_reverb_gain(
    distance_m: float, critical_distance_m: float, excess_attenuation_db_per_m: float
) -> float:
    """Pressure gain (re the source at 1 m) of a unit-energy tail. Its energy
      E_t = 10^(−κ·r/10) / (r_c·r)
    falls as 1/r, like a field spread along a street, with an excess attenuation of κ dB/m for
    what the crossings, open squares and absorbing facades let escape; without κ it would equal
    the direct sound's 1/r² at the critical distance r = r_c. g = sqrt(E_t)."""
    r = max(distance_m, 0.1)
    return float(
        np.sqrt(10.0 ** (-excess_attenuation_db_per_m * r / 10.0) / (critical_distance_m * r))
    )
