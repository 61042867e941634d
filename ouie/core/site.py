"""The site: where a deployment is, in production and in the simulator alike: the origin of the
local frame, the cameras' mountings and the buildings that block sight lines and sound.

Positions are WGS84 (lat, lon in degrees, heights in m above ground); computation happens in the
local east-north-up frame of `Origin` (`ouie.core.geo.LocalFrame`). A buildings file is a GeoJSON
FeatureCollection of Polygons, `properties.height_m` the roof height (default 15 m) and
`properties.id` an optional name.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field

from ouie.core.config import ConfigError, StrictModel
from ouie.core.geo import LocalFrame

DEFAULT_BUILDING_HEIGHT_M = 15.0


class Origin(StrictModel):
    """Origin of the local ENU frame."""

    lat: float = Field(ge=-90, le=90, description="Latitude, degrees WGS84.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees WGS84.")
    height_m: float = Field(default=0.0, description="Ground height at the origin, m.")

    @property
    def frame(self) -> LocalFrame:
        """The local ENU frame around this origin."""
        return LocalFrame(self.lat, self.lon, self.height_m)


class CameraSite(StrictModel):
    """A PTZ camera's mounting (the cameras concern adds PTZ calibration and ONVIF details)."""

    id: str = Field(min_length=1, description="Camera id.")
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees WGS84.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees WGS84.")
    height_m: float = Field(default=6.0, gt=0, description="Mount height above ground, m.")
    heading_deg: float = Field(
        default=0.0, ge=0, lt=360, description="Bearing of pan zero, degrees from north, clockwise."
    )


class Building(StrictModel):
    """A building block: ground footprint (closed ring of [lon, lat]) and roof height."""

    id: str = Field(default="", description="Optional name.")
    footprint: list[tuple[float, float]] = Field(
        min_length=3, description="Polygon ring as [lon, lat] pairs, degrees WGS84."
    )
    height_m: float = Field(
        default=DEFAULT_BUILDING_HEIGHT_M, gt=0, description="Roof height above ground, m."
    )


def read_buildings_geojson(path: Path) -> list[Building]:
    """The buildings of a GeoJSON FeatureCollection of Polygons (outer rings only); raises
    ConfigError naming the file and the feature that cannot be used."""
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: not a GeoJSON file ({error})") from None
    features = collection.get("features") if isinstance(collection, dict) else None
    if not isinstance(features, list):
        raise ConfigError(f"{path}: not a GeoJSON FeatureCollection")
    buildings = []
    for index, feature in enumerate(features):
        geometry = (feature or {}).get("geometry") or {}
        properties = (feature or {}).get("properties") or {}
        if geometry.get("type") != "Polygon":
            raise ConfigError(f"{path}: feature {index}: geometry must be a Polygon")
        try:
            buildings.append(
                Building(
                    id=str(properties.get("id", "")),
                    footprint=[tuple(point[:2]) for point in geometry["coordinates"][0]],
                    height_m=properties.get("height_m", DEFAULT_BUILDING_HEIGHT_M),
                )
            )
        except (ValueError, TypeError, KeyError, IndexError) as error:
            raise ConfigError(f"{path}: feature {index}: {error}") from None
    return buildings


def write_buildings_geojson(buildings: list[Building], path: Path) -> Path:
    """Write `buildings` as the GeoJSON FeatureCollection `read_buildings_geojson` reads."""
    features = [
        {
            "type": "Feature",
            "properties": {"id": building.id, "height_m": building.height_m},
            "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in building.footprint]]},
        }
        for building in buildings
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path
