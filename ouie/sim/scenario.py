"""Scenario files: a neighbourhood of sensors and cameras, buildings, weather, background noise,
sensor clocks and a script of sound events with known truth (YAML, validated by pydantic).

Positions are WGS84 (lat, lon in degrees); computation happens in the ENU frame of `origin`
(see `Scenario.frame`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ouie.core.classes import ALERTING_CLASSES
from ouie.core.config import StrictModel, load_yaml_config, resolve_against_config_dir
from ouie.core.geo import LocalFrame, speed_of_sound_mps
from ouie.core.recording import SensorSite, read_sensors_geojson
from ouie.core.site import Building, CameraSite, Origin
from ouie.sim.sources import DEFAULT_LEVEL_DB_SPL, SOURCE_NAMES

BUILTIN_DIR = Path(__file__).parent / "scenarios"


class ClockModel(StrictModel):
    """A sensor clock's error at true time t after the start: offset + drift·t, plus Gaussian
    jitter drawn per timestamped event."""

    offset_s: float = Field(
        default=0.0, description="Clock offset at the start (sensor − true), s."
    )
    jitter_s: float = Field(default=0.0003, ge=0, description="1-σ timestamp jitter, s.")
    drift_ppm: float = Field(
        default=0.0,
        ge=-1000.0,
        le=1000.0,
        description="Rate error of the clock between synchronizations, parts per million "
        "(a free-running crystal: 1–50 ppm).",
    )


class SensorSpec(SensorSite):
    """A sensor in a scenario: its site plus, optionally, its own clock model."""

    clock: ClockModel | None = Field(default=None, description="Overrides `clocks.default`.")


class Clocks(StrictModel):
    """Sensor clocks: a default model, and a random offset spread drawn per sensor."""

    default: ClockModel = Field(
        default_factory=ClockModel, description="Clock model of sensors without their own."
    )
    offset_spread_s: float = Field(
        default=0.0, ge=0, description="1-σ of a random per-sensor offset added to the default."
    )


class Weather(StrictModel):
    """Air conditions that set the speed of sound and air absorption."""

    air_temperature_c: float = Field(default=15.0, ge=-40, le=50, description="Air temperature.")
    relative_humidity_pct: float = Field(default=70.0, ge=0, le=100, description="Humidity, %.")

    @property
    def speed_of_sound_mps(self) -> float:
        """c from the air temperature (see `ouie.core.geo.speed_of_sound_mps`)."""
        return speed_of_sound_mps(self.air_temperature_c)


class Background(StrictModel):
    """Street background noise at every sensor."""

    level_dba: float = Field(default=55.0, description="Background level, dB(A) SPL.")
    recordings_dir: Path | None = Field(
        default=None,
        description="Folder of real background recordings to loop (relative to the YAML file).",
    )
    audio_folders: list[str] = Field(
        default=["traffic", "background_noise"],
        description="Folders of `--audio-dir` whose recordings are looped as background when an "
        "audio directory is given and `recordings_dir` is not set.",
    )

    @field_validator("recordings_dir")
    @classmethod
    def _relative_to_yaml(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        return resolve_against_config_dir(path, info)


class Microphone(StrictModel):
    """The sensors' microphone and converter (one model for every sensor)."""

    sample_rate_hz: int = Field(default=16000, ge=8000, le=96000, description="WAV sample rate.")
    full_scale_db_spl: float = Field(
        default=130.0,
        description="SPL of a full-scale sine (0 dBFS RMS); louder sound clips, dB SPL.",
    )
    self_noise_db_spl: float = Field(
        default=30.0, description="Equivalent input noise (white), dB SPL."
    )
    sensitivity_spread_db: float = Field(
        default=0.0,
        ge=0.0,
        le=10.0,
        description="1-σ of each sensor's sensitivity error (fixed per sensor), dB: real "
        "microphones of one model differ by ±1–3 dB.",
    )


class Propagation(StrictModel):
    """Which propagation effects are rendered (see `ouie.acoustics.propagation`)."""

    ground_reflection_gain: float = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        description="Pressure reflection factor of the ground (0: off).",
    )
    air_absorption: bool = Field(default=True, description="ISO 9613-1 air absorption.")
    buildings: bool = Field(default=True, description="Diffraction by the building blocks.")
    street_reverb_rt60_s: float = Field(
        default=0.0,
        ge=0.0,
        le=5.0,
        description="Reverberation time of the streets' diffuse tail after each arrival, s "
        "(0: off; 0.5–1.5 s in street canyons).",
    )
    street_reverb_critical_distance_m: float = Field(
        default=15.0,
        gt=0.0,
        description="Distance at which the tail carries as much energy as the direct sound, m.",
    )
    street_reverb_excess_attenuation_db_per_m: float = Field(
        default=0.05,
        ge=0.0,
        description="Extra decay of the tail's level with distance (crossings, squares, "
        "absorption), dB/m.",
    )


class ScriptedEvent(StrictModel):
    """One sound in the script, at a known time and place."""

    time_s: float = Field(ge=0, description="Emission time after the scenario start, s.")
    lat: float = Field(ge=-90, le=90, description="Source latitude, degrees WGS84.")
    lon: float = Field(ge=-180, le=180, description="Source longitude, degrees WGS84.")
    height_m: float = Field(default=1.5, description="Source height above ground, m.")
    class_: str = Field(
        alias="class",
        description="An ouie class (gunshot, explosion, ...) or a distractor (door_slam, ...).",
    )
    source_level_db_spl: float | None = Field(
        default=None, description="Level at 1 m, dB SPL; a per-class default when absent."
    )
    source: str = Field(
        default="auto",
        description="'auto' (a recording of the class from --audio-dir when given, else the "
        "built-in generator), 'synthetic' (always the generator), or a recording file / folder "
        "to pick from (relative to the YAML file or to --audio-dir).",
    )
    duration_s: float | None = Field(
        default=None, gt=0, description="Length of a sustained synthetic source, s (siren, ...)."
    )
    velocity_mps: tuple[float, float] = Field(
        default=(0.0, 0.0),
        description="Source velocity (east, north), m/s: a moving source (a siren, a car) goes "
        "in a straight line from its position at `time_s` (Doppler, changing paths).",
    )

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("source")
    @classmethod
    def _source_path(cls, source: str, info: ValidationInfo) -> str:
        if source in ("auto", "synthetic"):
            return source
        resolved = resolve_against_config_dir(Path(source), info)
        return str(resolved) if resolved is not None and resolved.exists() else source

    @field_validator("velocity_mps")
    @classmethod
    def _slower_than_sound(cls, velocity: tuple[float, float]) -> tuple[float, float]:
        if float(np.hypot(*velocity)) >= 100.0:
            raise ValueError("a source faster than 100 m/s is not a street sound")
        return velocity

    @model_validator(mode="after")
    def _known_class(self) -> ScriptedEvent:
        if self.source in ("auto", "synthetic") and self.class_ not in SOURCE_NAMES:
            raise ValueError(
                f"class {self.class_!r} has no built-in source; use one of "
                f"{', '.join(SOURCE_NAMES)} or give a recording as `source`"
            )
        if self.source_level_db_spl is None and self.class_ not in DEFAULT_LEVEL_DB_SPL:
            raise ValueError(f"class {self.class_!r} has no default level; set source_level_db_spl")
        return self

    @property
    def level_db_spl(self) -> float:
        """Source level (loudest 10 ms RMS at 1 m), dB SPL: the given one or the class default."""
        if self.source_level_db_spl is not None:
            return self.source_level_db_spl
        return DEFAULT_LEVEL_DB_SPL[self.class_]

    @property
    def moving(self) -> bool:
        """True when the source has a velocity."""
        return self.velocity_mps != (0.0, 0.0)

    @property
    def alerting(self) -> bool:
        """True for classes that raise incidents (gunshot, explosion, scream, glass_break)."""
        return self.class_ in ALERTING_CLASSES


class Scenario(StrictModel):
    """A complete simulated neighbourhood with its event script."""

    name: str = Field(description="Short name.")
    description: str = Field(default="", description="What the scenario shows.")
    origin: Origin = Field(description="Origin of the local ENU frame (ground at the origin).")
    start_utc: str = Field(default="2026-06-21T21:00:00Z", description="UTC of sample 0.")
    duration_s: float = Field(default=60.0, gt=0, description="Length of the recording, s.")
    seed: int = Field(default=0, description="Random seed: the same seed gives the same files.")
    sensors: list[SensorSpec] = Field(default_factory=list, description="Inline sensors.")
    sensors_file: Path | None = Field(default=None, description="Or a sensors GeoJSON file.")
    cameras: list[CameraSite] = Field(default_factory=list, description="PTZ cameras.")
    buildings: list[Building] = Field(
        default_factory=list, description="Building blocks that block and diffract sound."
    )
    weather: Weather = Field(default_factory=Weather, description="Air temperature, humidity.")
    background: Background = Field(
        default_factory=Background, description="Street background noise."
    )
    clocks: Clocks = Field(default_factory=Clocks, description="Sensor clock errors.")
    events: list[ScriptedEvent] = Field(default_factory=list, description="The event script.")
    microphone: Microphone = Field(
        default_factory=Microphone, description="The sensors' microphone and converter."
    )
    propagation: Propagation = Field(
        default_factory=Propagation, description="Which propagation effects are rendered."
    )

    @field_validator("sensors_file")
    @classmethod
    def _relative_to_yaml(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        return resolve_against_config_dir(path, info)

    @model_validator(mode="after")
    def _sensors_from_file(self) -> Scenario:
        if self.sensors_file is not None:
            self.sensors.extend(
                SensorSpec(**s.model_dump()) for s in read_sensors_geojson(self.sensors_file)
            )
            self.sensors_file = None
        if not self.sensors:
            raise ValueError("a scenario needs sensors (inline `sensors` or `sensors_file`)")
        return self

    @property
    def frame(self) -> LocalFrame:
        """The local ENU frame of this scenario."""
        return self.origin.frame


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with ouie."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name (e.g. 'saint-etienne') or a scenario YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix and (BUILTIN_DIR / f"{name_or_path}.yaml").is_file():
        path = BUILTIN_DIR / f"{name_or_path}.yaml"
    return load_yaml_config(path, Scenario)
