"""The recording folder contract (docs/design.md): what the simulator writes and replay/locate read.

```
DIR/sensors.geojson   FeatureCollection of Points, properties.id, optional properties.height_m
DIR/{sensor_id}.wav   mono audio, any common rate (resampled to 16 kHz on read)
DIR/meta.json         {"start_utc": "..."}: nominal UTC instant of sample 0 on every sensor
DIR/truth.json        optional: [{"class", "onset_utc", "lat", "lon"}, ...]
```
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ouie.core.classes import EventClass
from ouie.core.timebase import iso_to_ns


class SensorSite(BaseModel):
    """Where a sensor is: WGS84 position and microphone height above ground."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, description="Sensor id.")
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees WGS84.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees WGS84.")
    height_m: float = Field(default=4.0, description="Microphone height above ground, m.")


class TruthEvent(BaseModel):
    """A true event in a simulated recording (what a fix is scored against)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    class_: EventClass | str = Field(alias="class", description="Event class or distractor.")
    onset_utc: str = Field(description="Emission instant at the source, ISO 8601 UTC.")
    lat: float
    lon: float

    @property
    def onset_ns(self) -> int:
        """Emission instant as UTC ns."""
        return iso_to_ns(self.onset_utc)


class RecordingFormatError(ValueError):
    """A recording folder that does not follow the contract; the message says what and where."""


def read_sensors_geojson(path: Path) -> list[SensorSite]:
    """Parse a sensors GeoJSON file (Points; coordinates are [lon, lat(, height)])."""
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
        features = collection["features"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RecordingFormatError(f"{path}: not a GeoJSON FeatureCollection ({error})") from None
    sites = []
    for index, feature in enumerate(features):
        try:
            geometry, props = feature["geometry"], feature.get("properties") or {}
            if geometry["type"] != "Point":
                raise ValueError(f"geometry is {geometry['type']}, not Point")
            lon, lat = geometry["coordinates"][:2]
            extra = {"height_m": props["height_m"]} if "height_m" in props else {}
            sites.append(SensorSite(id=str(props["id"]), lat=lat, lon=lon, **extra))
        except (KeyError, TypeError, ValueError) as error:
            raise RecordingFormatError(f"{path}: feature {index}: {error}") from None
    return sites


def sensors_geojson(sites: list[SensorSite]) -> dict[str, object]:
    """Sensors as a GeoJSON FeatureCollection (the inverse of `read_sensors_geojson`)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
                "properties": {"id": s.id, "height_m": s.height_m},
            }
            for s in sites
        ],
    }


class RecordingFolder(BaseModel):
    """A parsed recording folder: its sensors, the UTC ns of sample 0, and optional truth."""

    path: Path
    sensors: list[SensorSite]
    start_ns: int
    truth: list[TruthEvent] | None = None

    def wav_path(self, sensor_id: str) -> Path:
        """The audio file of one sensor."""
        return self.path / f"{sensor_id}.wav"

    @classmethod
    def read(cls, path: str | Path) -> RecordingFolder:
        """Read and check a recording folder; raises RecordingFormatError naming the problem."""
        path = Path(path)
        if not path.is_dir():
            raise RecordingFormatError(f"{path}: not a folder")
        sensors = read_sensors_geojson(path / "sensors.geojson")
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
            start_ns = iso_to_ns(meta["start_utc"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RecordingFormatError(f"{path / 'meta.json'}: {error}") from None
        missing = [s.id for s in sensors if not (path / f"{s.id}.wav").is_file()]
        if missing:
            raise RecordingFormatError(f"{path}: no audio for sensors {', '.join(missing)}")
        truth = None
        truth_path = path / "truth.json"
        if truth_path.is_file():
            try:
                truth = [TruthEvent.model_validate(e) for e in json.loads(truth_path.read_text())]
            except ValueError as error:
                raise RecordingFormatError(f"{truth_path}: {error}") from None
        return cls(path=path, sensors=sensors, start_ns=start_ns, truth=truth)
