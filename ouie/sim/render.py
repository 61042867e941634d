"""Render a scenario into a recording folder (docs/design.md): one WAV per sensor, the sensors file,
meta.json and truth.json.

For every sensor the renderer takes its background (`ouie.sim.background`), adds every
scripted event as heard through its propagation paths (`ouie.acoustics.propagation`) and the
street's reverberation tail, shifted by the sensor's clock error, then converts to 16-bit codes
with the sensor's sensitivity error and clipping. Each event is rendered on its own short
segment, in the frequency domain:

  Y_j(f) = S(f)·A(f) · [ Σ_p |H_p(f)|·e^(−j2πf(d_p − b)/fs)
                        + g_t·|H_a(f)|·R_j(f)·e^(−j2πf(d_0 + δ − b)/fs) ],
  d_p = (t_e + L_p/c + ε_j)·fs

with S the source spectrum (Pa at 1 m), A the converter's anti-aliasing taper, H_p the path
responses (spreading, air absorption, diffraction), L_p the path lengths, ε_j the clock error of
sensor j (offset + jitter), b the integer sample where the segment starts, and R_j the sensor's
unit-energy reverberation tail of gain g_t, coloured by the first path's air absorption H_a,
starting δ after the first arrival d_0. Delays are
exact to a fraction of a sample and only event segments cost FFTs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
import soundfile
from numpy.typing import ArrayLike, NDArray
from scipy import fft

from ouie.acoustics.propagation import (
    REVERB_PREDELAY_S,
    BuildingGeometry,
    SoundPath,
    air_absorption_db_per_m,
    db_spl_to_pa,
    fractional_delay_response,
    pa_to_db_spl,
    path_response,
    sound_paths,
    street_reverb_gain,
    street_reverb_tail,
)
from ouie.core.recording import RecordingFolder, SensorSite, sensors_geojson
from ouie.core.timebase import NS_PER_S, iso_to_ns, ns_to_iso
from ouie.sim.background import background_for
from ouie.sim.scenario import Scenario, ScriptedEvent
from ouie.sim.sources import (
    loudest_rms,
    recording_source,
    recordings_for,
    synthesize,
)

FloatArray = NDArray[np.float64]
log = logging.getLogger(__name__)

PRE_ROLL_SAMPLES = 128
"""Samples kept before the earliest arrival of a segment (room for the delay filter's ringing)."""
POST_ROLL_SAMPLES = 256
"""Samples kept after the end of a segment."""

RNG_CLOCKS, RNG_JITTER, RNG_SOURCE, RNG_BACKGROUND, RNG_REVERB, RNG_SENSITIVITY = range(6)
"""Independent random streams, seeded (seed, stream, index): results do not depend on order."""


def stream(seed: int, kind: int, index: int = 0) -> np.random.Generator:
    """The random generator of one stream (see `RNG_*`)."""
    return np.random.default_rng([seed, kind, index])


@dataclass
class PairPlan:
    """One event heard at one sensor: its paths and the sensor's clock error for it."""

    paths: list[SoundPath]
    clock_error_s: float


def event_source(
    event: ScriptedEvent, sample_rate_hz: int, rng: np.random.Generator, audio_dir: Path | None
) -> tuple[FloatArray, str]:
    """The event's source signal (normalized, see `ouie.sim.sources`) and where it came from:
    'synthetic' or the recording's path. A recording that cannot be used is skipped with a
    warning and another one drawn; `auto` falls back to the built-in generator."""
    if event.source == "synthetic":
        candidates: list[Path] = []
    elif event.source == "auto":
        candidates = recordings_for(event.class_, audio_dir) if audio_dir else []
    else:
        given = Path(event.source)
        if not given.exists() and audio_dir is not None:
            given = audio_dir / given
        if given.is_dir():
            candidates = sorted(p for p in given.iterdir() if p.suffix.lower() in (".flac", ".wav"))
        elif given.is_file():
            candidates = [given]
        else:
            raise FileNotFoundError(f"event at {event.time_s} s: source {event.source!r} not found")
    while candidates:
        chosen = candidates.pop(int(rng.integers(len(candidates))))
        try:
            signal_1m = recording_source(event.class_, chosen, sample_rate_hz)
        except (RuntimeError, OSError, ValueError) as error:  # unreadable, silent, broken
            log.warning("event at %s s: skipping recording %s: %s", event.time_s, chosen, error)
            continue
        name = (
            str(chosen.relative_to(audio_dir))
            if audio_dir and chosen.is_relative_to(audio_dir)
            else str(chosen)
        )
        return signal_1m, name
    if event.source not in ("auto", "synthetic"):
        raise ValueError(f"event at {event.time_s} s: no usable recording in {event.source!r}")
    if event.source == "auto" and audio_dir is not None:
        log.info("no recording of %s in %s: synthetic source", event.class_, audio_dir)
    return synthesize(event.class_, sample_rate_hz, rng, event.duration_s), "synthetic"


def sensor_clock_offsets_s(scenario: Scenario, seed: int) -> FloatArray:
    """Each sensor's constant clock offset (sensor − true), s: its own `clock.offset_s`, or the
    default offset plus a Gaussian draw of σ = `clocks.offset_spread_s`."""
    spread = stream(seed, RNG_CLOCKS).normal(0.0, 1.0, len(scenario.sensors))
    default = scenario.clocks.default
    return np.array(
        [
            s.clock.offset_s if s.clock else default.offset_s + scenario.clocks.offset_spread_s * z
            for s, z in zip(scenario.sensors, spread, strict=True)
        ]
    )


def building_geometry(scenario: Scenario) -> BuildingGeometry | None:
    """The scenario's buildings in its ENU frame (None when there are none or they are off)."""
    if not scenario.buildings or not scenario.propagation.buildings:
        return None
    frame = scenario.frame
    footprints = [
        frame.to_enu(
            [p[1] for p in b.footprint], [p[0] for p in b.footprint], frame.origin_height_m
        )
        for b in scenario.buildings
    ]
    return BuildingGeometry(
        [f[:, :2] for f in footprints], [b.height_m for b in scenario.buildings]
    )


def enu_positions(scenario: Scenario, items: list, heights_m: list[float]) -> FloatArray:
    """ENU (east_m, north_m, height above ground_m) of items with lat/lon."""
    frame = scenario.frame
    enu = frame.to_enu([i.lat for i in items], [i.lon for i in items], frame.origin_height_m)
    enu = np.atleast_2d(enu)
    enu[:, 2] = heights_m
    return enu


ANTI_ALIASING_START = 0.4
"""The converter's anti-aliasing roll-off starts at this fraction of the sample rate."""


def anti_aliasing_taper(frequency_hz: ArrayLike, sample_rate_hz: int) -> FloatArray:
    """The converter's anti-aliasing filter, zero-phase (it adds no delay): 1 up to
    f₀ = 0.4·fs, then cos²(π/2 · (f − f₀)/(fs/2 − f₀)) down to 0 at Nyquist. Without it a
    source with energy up to Nyquist (a blast wave's step) rings before its onset after a
    fractional delay (−40 dB 1 ms ahead); with it the ringing is below −60 dB."""
    f = np.asarray(frequency_hz, dtype=float)
    start_hz = ANTI_ALIASING_START * sample_rate_hz
    ramp = np.clip((f - start_hz) / (0.5 * sample_rate_hz - start_hz), 0.0, 1.0)
    return np.asarray(np.cos(0.5 * np.pi * ramp) ** 2, dtype=float)


@dataclass
class EventSpectrum:
    """An event's source spectrum on an FFT grid long enough for any sensor's segment, with the
    air absorption coefficient on the same grid (computed once per event)."""

    n_samples: int
    n_fft: int
    sample_rate_hz: int
    frequency_hz: FloatArray
    spectrum: NDArray[np.complex128]
    absorption_db_per_m: FloatArray

    @classmethod
    def build(
        cls,
        pressure_pa: FloatArray,
        max_spread_samples: float,
        sample_rate_hz: int,
        scenario: Scenario,
    ) -> EventSpectrum:
        """Segment length = signal + pre-roll + the largest spread between one sensor's paths
        (or the reverberation tail when longer) + post-roll."""
        settings = scenario.propagation
        tail_samples = (
            np.ceil((settings.street_reverb_rt60_s + REVERB_PREDELAY_S) * sample_rate_hz)
            if settings.street_reverb_rt60_s > 0.0
            else 0
        )
        n = (
            pressure_pa.size
            + PRE_ROLL_SAMPLES
            + int(np.ceil(max(max_spread_samples, tail_samples)))
            + POST_ROLL_SAMPLES
        )
        n_fft = fft.next_fast_len(n, real=True)
        frequency_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz)
        weather = scenario.weather
        absorption = (
            air_absorption_db_per_m(
                frequency_hz, weather.air_temperature_c, weather.relative_humidity_pct
            )
            if scenario.propagation.air_absorption
            else np.zeros_like(frequency_hz)
        )
        spectrum = fft.rfft(pressure_pa, n_fft) * anti_aliasing_taper(frequency_hz, sample_rate_hz)
        grid_hz: FloatArray = np.asarray(frequency_hz, dtype=np.float64)
        return cls(n, n_fft, sample_rate_hz, grid_hz, spectrum, absorption)

    def render(
        self,
        paths: list[SoundPath],
        arrival_samples: list[float],
        speed_of_sound_mps: float,
        reverb: ReverbTail | None = None,
    ) -> tuple[int, FloatArray]:
        """One event at one sensor: (first sample index b, pressure segment from b). Path p
        arrives at fractional sample `arrival_samples[p]` of the file (delay + clock error) and
        is filtered by `path_response`; a reverberation tail follows the first arrival by
        `REVERB_PREDELAY_S`, coloured by the air absorption of the first path; the sum is
        synthesized by one inverse FFT."""
        first = int(np.floor(min(arrival_samples))) - PRE_ROLL_SAMPLES
        fs = self.sample_rate_hz
        response = np.zeros(self.frequency_hz.size, dtype=complex)
        for path, arrival in zip(paths, arrival_samples, strict=True):
            magnitude = path_response(
                path, self.frequency_hz, speed_of_sound_mps, self.absorption_db_per_m
            )
            response += magnitude * fractional_delay_response(
                self.frequency_hz, (arrival - first) / fs
            )
        if reverb is not None:
            start = min(arrival_samples) + reverb.predelay_samples - first
            first_path_m = min(p.length_m for p in paths)
            colour = 10.0 ** (-self.absorption_db_per_m * first_path_m / 20.0)
            response += (
                reverb.gain(first_path_m)
                * colour
                * fft.rfft(reverb.impulse_response, self.n_fft)
                * fractional_delay_response(self.frequency_hz, start / fs)
            )
        return first, fft.irfft(self.spectrum * response, self.n_fft)[: self.n_samples]


@dataclass
class ReverbTail:
    """A sensor's street reverberation: its unit-energy tail and how loud it is with distance."""

    impulse_response: FloatArray
    critical_distance_m: float
    excess_attenuation_db_per_m: float
    predelay_samples: float

    def gain(self, distance_m: float) -> float:
        """See `ouie.acoustics.propagation.street_reverb_gain`."""
        return street_reverb_gain(
            distance_m, self.critical_distance_m, self.excess_attenuation_db_per_m
        )


def reverb_tail(scenario: Scenario, sensor_index: int, seed: int) -> ReverbTail | None:
    """The street reverberation of one sensor (None when `street_reverb_rt60_s` is 0)."""
    settings, fs = scenario.propagation, scenario.microphone.sample_rate_hz
    if settings.street_reverb_rt60_s <= 0.0:
        return None
    tail = street_reverb_tail(
        fs, settings.street_reverb_rt60_s, stream(seed, RNG_REVERB, sensor_index)
    )
    return ReverbTail(
        tail,
        settings.street_reverb_critical_distance_m,
        settings.street_reverb_excess_attenuation_db_per_m,
        REVERB_PREDELAY_S * fs,
    )


MOVING_PATH_STEP_S = 0.25
"""Step at which a moving source's paths round buildings are recomputed (then interpolated), s."""


@dataclass
class MovingSource:
    """A source going in a straight line: rendered in the time domain, because its delay changes
    while it sounds (the Doppler effect).

    A sample emitted at τ (s after `time_s`) from P(τ) = P₀ + v·τ reaches sensor j at
      t(τ) = t_e + τ + L_j(τ)/c + ε_j
    with gain g_j(τ). L_j is the straight distance (exact, per sample) plus the extra length of
    the diffracted path when a block is in the way, and g_j the first path's response at 1 kHz
    (spreading, air absorption, diffraction), both taken every `MOVING_PATH_STEP_S` and
    interpolated. The received signal on the file's sample grid is y(t) = s(τ(t))·g(τ(t)), with
    τ(t) found by inverting the monotonic t(τ) (|v| < c) and s read by linear interpolation.
    Simplified: no ground reflection, no reverberation tail, broadband path gains.
    """

    pressure_pa: FloatArray
    time_s: float
    start_enu: FloatArray
    velocity_enu: FloatArray
    sample_rate_hz: int

    def render(
        self,
        sensor_enu: FloatArray,
        clock_error_s: float,
        buildings: BuildingGeometry | None,
        scenario: Scenario,
    ) -> tuple[int, FloatArray]:
        """(first sample index, pressure segment) of this source at one sensor."""
        fs, c = self.sample_rate_hz, scenario.weather.speed_of_sound_mps
        tau = np.arange(self.pressure_pa.size) / fs
        straight_m = np.linalg.norm(
            self.start_enu + tau[:, None] * self.velocity_enu - sensor_enu, axis=1
        )
        coarse_tau = np.arange(0.0, tau[-1] + MOVING_PATH_STEP_S, MOVING_PATH_STEP_S)
        extra_m, gain = [], []
        weather = scenario.weather
        alpha_1k = (
            float(
                air_absorption_db_per_m(
                    1000.0, weather.air_temperature_c, weather.relative_humidity_pct
                )
            )
            if scenario.propagation.air_absorption
            else 0.0
        )
        positions = self.start_enu + coarse_tau[:, None] * self.velocity_enu
        crossing = (
            buildings.ground_tracks_cross(sensor_enu[:2], positions[:, :2])
            if buildings
            else np.zeros(coarse_tau.size, dtype=bool)
        )
        for position, crosses in zip(positions, crossing, strict=True):
            paths = sound_paths(position, sensor_enu, buildings if crosses else None, 0.0)
            path = min(paths, key=lambda p: p.length_m)
            extra_m.append(path.length_m - float(np.linalg.norm(position - sensor_enu)))
            response = path_response(path, np.array([1000.0]), c, np.array([alpha_1k]))
            gain.append(float(response[0]))
        length_m = straight_m + np.interp(tau, coarse_tau, extra_m)
        arrival_s = self.time_s + tau + length_m / c + clock_error_s
        first = int(np.ceil(arrival_s[0] * fs))
        grid_s = np.arange(first, int(np.floor(arrival_s[-1] * fs)) + 1) / fs
        emitted = np.interp(grid_s, arrival_s, tau)
        samples = np.interp(emitted * fs, np.arange(self.pressure_pa.size), self.pressure_pa)
        return first, samples * np.interp(emitted, coarse_tau, gain)


def add_into(buffer: NDArray[np.float32], first: int, segment: FloatArray) -> None:
    """buffer[first : first + len(segment)] += segment, cropped to the buffer."""
    lo, hi = max(first, 0), min(first + segment.size, buffer.size)
    if hi > lo:
        buffer[lo:hi] += segment[lo - first : hi - first]


def to_pcm16(pressure_pa: NDArray[np.float32], full_scale_db_spl: float) -> NDArray[np.int16]:
    """Pressure → 16-bit converter codes: x = round(32768 · p / (√2·p_FS)), p_FS = 20 µPa ·
    10^(FS/20) the RMS of a full-scale sine, clipped to [−32768, 32767] (overwrites the input)."""
    pressure_pa *= 32768.0 / (np.sqrt(2.0) * db_spl_to_pa(full_scale_db_spl))
    np.rint(pressure_pa, out=pressure_pa)
    np.clip(pressure_pa, -32768.0, 32767.0, out=pressure_pa)
    return pressure_pa.astype(np.int16)


def plan_pairs(
    scenario: Scenario,
    events_enu: FloatArray,
    sensors_enu: FloatArray,
    event_times_s: list[float],
    clock_offsets_s: FloatArray,
    seed: int,
) -> list[list[PairPlan]]:
    """Paths and clock error of every (event, sensor) pair: plans[event][sensor]. The clock error
    of a sensor for an event is its offset, plus its drift times the true arrival time (after
    the start), plus a Gaussian jitter draw of its `jitter_s`."""
    buildings = building_geometry(scenario)
    jitter_rng = stream(seed, RNG_JITTER)
    clocks = [s.clock or scenario.clocks.default for s in scenario.sensors]
    jitter_s = np.array([clock.jitter_s for clock in clocks])
    drift = np.array([clock.drift_ppm * 1e-6 for clock in clocks])
    c = scenario.weather.speed_of_sound_mps
    plans = []
    gain = scenario.propagation.ground_reflection_gain
    for source, time_s in zip(events_enu, event_times_s, strict=True):
        jitter = jitter_rng.standard_normal(len(sensors_enu)) * jitter_s
        crossing = (
            buildings.ground_tracks_cross(source[:2], sensors_enu[:, :2])
            if buildings
            else np.zeros(len(sensors_enu), dtype=bool)
        )
        row = []
        for j, (sensor, crosses) in enumerate(zip(sensors_enu, crossing, strict=True)):
            paths = sound_paths(source, sensor, buildings if crosses else None, gain)
            arrival_s = time_s + min(p.length_m for p in paths) / c
            error_s = clock_offsets_s[j] + drift[j] * arrival_s + jitter[j]
            row.append(PairPlan(paths, float(error_s)))
        plans.append(row)
    return plans


def simulate(
    scenario: Scenario,
    out_dir: Path,
    *,
    audio_dir: Path | None = None,
    duration_s: float | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> RecordingFolder:
    """Render `scenario` into the recording folder `out_dir` (created; existing files of the same
    names are replaced) and return it as read back by `RecordingFolder.read`.

    `audio_dir`: a folder-per-class audio directory (e.g. ../shared/audio) from which events
    with `source: auto` take real recordings and the background loops real street sound.
    `duration_s`, `seed`: override the scenario's. The same seed gives byte-identical files.
    """
    from rich.progress import Progress

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fs = scenario.microphone.sample_rate_hz
    seed = scenario.seed if seed is None else seed
    duration_s = scenario.duration_s if duration_s is None else duration_s
    n_samples = round(duration_s * fs)
    start_ns = iso_to_ns(scenario.start_utc)
    c = scenario.weather.speed_of_sound_mps

    for problem in scenario_problems(scenario):
        log.warning("%s: %s", scenario.name, problem)
    events = [e for e in scenario.events if e.time_s < duration_s]
    sensors_enu = enu_positions(scenario, scenario.sensors, [s.height_m for s in scenario.sensors])
    events_enu = (
        enu_positions(scenario, events, [e.height_m for e in events])
        if events
        else np.zeros((0, 3))
    )
    offsets_s = sensor_clock_offsets_s(scenario, seed)
    sensitivity_db = stream(seed, RNG_SENSITIVITY).normal(
        0.0, scenario.microphone.sensitivity_spread_db, len(scenario.sensors)
    )
    plans = plan_pairs(
        scenario, events_enu, sensors_enu, [e.time_s for e in events], offsets_s, seed
    )

    sources: list[tuple[FloatArray, str]] = [
        event_source(e, fs, stream(seed, RNG_SOURCE, i), audio_dir) for i, e in enumerate(events)
    ]
    renderers: list[EventSpectrum | MovingSource] = []
    for (signal_1m, _), event, pair_plans, position in zip(
        sources, events, plans, events_enu, strict=True
    ):
        at_1m_pa = signal_1m * db_spl_to_pa(event.level_db_spl)
        if event.moving:
            velocity = np.array([*event.velocity_mps, 0.0])
            renderers.append(MovingSource(at_1m_pa, event.time_s, position, velocity, fs))
            continue
        spread_s = max(
            (max(p.length_m for p in pp.paths) - min(p.length_m for p in pp.paths)) / c
            for pp in pair_plans
        )
        renderers.append(EventSpectrum.build(at_1m_pa, spread_s * fs, fs, scenario))
    buildings = building_geometry(scenario)

    background = background_for(scenario, audio_dir)
    arrivals: list[dict[str, dict[str, object]]] = [{} for _ in events]
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"simulating {scenario.name}", total=len(scenario.sensors))
        for j, sensor in enumerate(scenario.sensors):
            pressure = background.render(n_samples, stream(seed, RNG_BACKGROUND, j))
            reverb = reverb_tail(scenario, j, seed)
            # a more sensitive microphone reaches full scale at a lower SPL
            full_scale_db_spl = scenario.microphone.full_scale_db_spl - float(sensitivity_db[j])
            for i, (event, renderer) in enumerate(zip(events, renderers, strict=True)):
                plan = plans[i][j]
                if isinstance(renderer, MovingSource):
                    first, segment = renderer.render(
                        sensors_enu[j], plan.clock_error_s, buildings, scenario
                    )
                else:
                    arrival_samples = [
                        (event.time_s + p.length_m / c + plan.clock_error_s) * fs
                        for p in plan.paths
                    ]
                    first, segment = renderer.render(plan.paths, arrival_samples, c, reverb)
                add_into(pressure, first, segment)
                arrivals[i][sensor.id] = arrival_record(
                    event, plan, segment, start_ns, c, fs, scenario, full_scale_db_spl
                )
            codes = to_pcm16(pressure, full_scale_db_spl)
            soundfile.write(out_dir / f"{sensor.id}.wav", codes, fs, subtype="PCM_16")
            bar.advance(task)

    write_json(
        out_dir / "sensors.geojson",
        sensors_geojson(
            [
                SensorSite(id=s.id, lat=s.lat, lon=s.lon, height_m=s.height_m)
                for s in scenario.sensors
            ]
        ),
    )
    write_json(
        out_dir / "meta.json",
        {
            "start_utc": ns_to_iso(start_ns),
            "scenario": scenario.name,
            "seed": seed,
            "duration_s": duration_s,
            "sample_rate_hz": fs,
            "speed_of_sound_mps": c,
            "clock_offsets_s": {
                s.id: float(o) for s, o in zip(scenario.sensors, offsets_s, strict=True)
            },
            "sensitivity_error_db": {
                s.id: round(float(g), 3)
                for s, g in zip(scenario.sensors, sensitivity_db, strict=True)
            },
        },
    )
    write_json(
        out_dir / "truth.json",
        [
            truth_record(event, name, arrivals[i], start_ns)
            for i, (event, (_, name)) in enumerate(zip(events, sources, strict=True))
        ],
    )
    return RecordingFolder.read(out_dir)


def arrival_record(
    event: ScriptedEvent,
    plan: PairPlan,
    segment: FloatArray,
    start_ns: int,
    speed_of_sound_mps: float,
    sample_rate_hz: int,
    scenario: Scenario,
    full_scale_db_spl: float,
) -> dict[str, object]:
    """What one sensor should have heard of one event: the true UTC arrival of the first path,
    the instant the sensor's clock stamps it (`recorded_utc`: true + clock error), whether that
    path is diffracted (non-line-of-sight), its length, and the received level (loudest 10 ms RMS,
    dB SPL) with its margin over the background level (`snr_db`, unweighted vs dB(A)), and
    whether the converter clipped it."""
    first_path = min(plan.paths, key=lambda p: p.length_m)
    travel_s = first_path.length_m / speed_of_sound_mps
    arrival_ns = start_ns + round((event.time_s + travel_s) * NS_PER_S)
    level = pa_to_db_spl(loudest_rms(segment, sample_rate_hz))
    full_scale_peak_pa = np.sqrt(2.0) * db_spl_to_pa(full_scale_db_spl)
    return {
        "arrival_utc": ns_to_iso(arrival_ns),
        "recorded_utc": ns_to_iso(arrival_ns + round(plan.clock_error_s * NS_PER_S)),
        "clock_error_s": round(plan.clock_error_s, 9),
        "path": first_path.kind,
        "nlos": first_path.diffracted,
        "distance_m": round(first_path.length_m, 3),
        "level_db_spl": round(level, 2),
        "snr_db": round(level - scenario.background.level_dba, 2),
        "clipped": bool(np.max(np.abs(segment)) >= full_scale_peak_pa),
    }


def truth_record(
    event: ScriptedEvent, source_name: str, arrivals: dict[str, dict[str, object]], start_ns: int
) -> dict[str, object]:
    """One truth.json entry (docs/design.md `class`, `onset_utc`, `lat`, `lon`, plus details)."""
    return {
        "class": event.class_,
        "onset_utc": ns_to_iso(start_ns + round(event.time_s * NS_PER_S)),
        "lat": event.lat,
        "lon": event.lon,
        "height_m": event.height_m,
        "alerting": event.alerting,
        "source_level_db_spl": event.level_db_spl,
        "source": source_name,
        **({"velocity_mps": list(event.velocity_mps)} if event.moving else {}),
        "arrivals": arrivals,
    }


def write_json(path: Path, payload: object) -> None:
    """Indented UTF-8 JSON with a final newline."""
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def scenario_problems(scenario: Scenario) -> list[str]:
    """What looks wrong in a scenario without making it unusable: sources or sensors inside a
    building block (everything they emit or hear is diffracted), events after the end."""
    problems = [
        f"event {i} ({e.class_} at {e.time_s} s) starts after the end ({scenario.duration_s} s)"
        for i, e in enumerate(scenario.events)
        if e.time_s >= scenario.duration_s
    ]
    geometry = building_geometry(scenario)
    if geometry is None:
        return problems
    labelled = [
        (f"event {i} ({e.class_} at {e.time_s} s)", e.lat, e.lon)
        for i, e in enumerate(scenario.events)
    ] + [(f"sensor {s.id}", s.lat, s.lon) for s in scenario.sensors]
    enu = scenario.frame.to_enu([lat for _, lat, _ in labelled], [lon for _, _, lon in labelled])
    inside = shapely.contains_xy(geometry.blocks, enu[:, 0], enu[:, 1])
    problems += [
        f"{label} at {lat:.6f}, {lon:.6f} is inside a building block"
        for (label, lat, lon), hit in zip(labelled, inside, strict=True)
        if hit
    ]
    return problems


def nlos_fractions(scenario: Scenario, near_m: float = 300.0) -> tuple[float, float]:
    """Fractions of (event, sensor) pairs whose first path is diffracted by a building: among
    all pairs, and among the pairs closer than `near_m`; (0, 0) without events."""
    if not scenario.events:
        return 0.0, 0.0
    sensors_enu = enu_positions(scenario, scenario.sensors, [s.height_m for s in scenario.sensors])
    events_enu = enu_positions(scenario, scenario.events, [e.height_m for e in scenario.events])
    times_s = [e.time_s for e in scenario.events]
    offsets = np.zeros(len(sensors_enu))
    plans = plan_pairs(scenario, events_enu, sensors_enu, times_s, offsets, scenario.seed)
    diffracted = np.array(
        [min(pp.paths, key=lambda p: p.length_m).diffracted for row in plans for pp in row]
    )
    direct_m = np.linalg.norm(events_enu[:, None, :] - sensors_enu[None, :, :], axis=2).ravel()
    near = direct_m <= near_m
    return float(diffracted.mean()), float(diffracted[near].mean()) if near.any() else 0.0
