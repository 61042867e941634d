"""WGS84 ↔ local east-north-up (ENU) metric frame (docs/design.md, "Coordinates").

Configuration is in WGS84 (lat_deg, lon_deg, height_m); every computation happens in a local
ENU frame (east_m, north_m, up_m) tangent to the ellipsoid at a configured origin. The exact
geodetic → ECEF → ENU rotation is delegated to pymap3d; over a city (a few km) the frame is
metric to well under a millimetre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pymap3d
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class LocalFrame:
    """A local ENU frame whose origin is (origin_lat_deg, origin_lon_deg, origin_height_m)."""

    origin_lat_deg: float
    origin_lon_deg: float
    origin_height_m: float = 0.0

    def to_enu(
        self, lat_deg: ArrayLike, lon_deg: ArrayLike, height_m: ArrayLike = 0.0
    ) -> NDArray[np.float64]:
        """WGS84 → ENU; returns an array of shape (..., 3) holding (east_m, north_m, up_m)."""
        e, n, u = pymap3d.geodetic2enu(
            np.asarray(lat_deg, dtype=float),
            np.asarray(lon_deg, dtype=float),
            np.asarray(height_m, dtype=float),
            self.origin_lat_deg,
            self.origin_lon_deg,
            self.origin_height_m,
        )
        return np.stack(np.broadcast_arrays(e, n, u), axis=-1).astype(np.float64)

    def to_wgs84(
        self, east_m: ArrayLike, north_m: ArrayLike, up_m: ArrayLike = 0.0
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """ENU → WGS84; returns (lat_deg, lon_deg, height_m) arrays."""
        lat, lon, h = pymap3d.enu2geodetic(
            np.asarray(east_m, dtype=float),
            np.asarray(north_m, dtype=float),
            np.asarray(up_m, dtype=float),
            self.origin_lat_deg,
            self.origin_lon_deg,
            self.origin_height_m,
        )
        return np.asarray(lat, float), np.asarray(lon, float), np.asarray(h, float)


EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), m."""


def great_circle_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS84 points (degrees), m:
    d = 2R·asin(√(sin²(Δφ/2) + cos φ₁ cos φ₂ sin²(Δλ/2))), R = EARTH_RADIUS_M."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def speed_of_sound_mps(air_temperature_c: float) -> float:
    """Speed of sound in dry air, c = 331.3 · sqrt(1 + T/273.15) m/s (T in °C)."""
    return 331.3 * float(np.sqrt(1.0 + air_temperature_c / 273.15))
