"""Generator of the built-in `saint-etienne` scenario (`ouie/sim/scenarios/saint-etienne.yaml`).

Run `python -m ouie.sim.saint_etienne > ouie/sim/scenarios/saint-etienne.yaml` to regenerate it;
the YAML is the reviewable artefact, this script says how it was laid out:

- the Tarentaize–Beaubrun–Couriot area west of the centre of Saint-Étienne (around 45.440 N,
  4.382 E), modelled as an approximate street grid rotated 15° (blocks ≈ 150 m × 130 m);
- 50 sensors on facades and poles at street crossings (4–6 m high, 130–150 m apart), their
  microphones' sensitivities off by σ = 1 dB, clocks GPS-disciplined (offsets σ = 0.5 ms,
  jitter 0.4 ms) except s17, on NTP only (offset 4 ms, jitter 2 ms, drift 5 ppm);
- 6 PTZ cameras at 8 m on main crossings, pan zero along the street;
- street reverberation: a diffuse tail of T60 = 0.8 s after every arrival (critical distance
  15 m, 0.05 dB/m excess decay), standing in for the facades' reflections;
- 12 solid building blocks of 12–24 m (the other blocks are squares, the Couriot mine site,
  courtyards and low houses, left open);
- a 10-minute evening script (21 June, the Fête de la musique): gunshots (single and bursts),
  explosions, screams and glass breaks among the distractors that cause real false alarms
  (fireworks, door slams, car horns, a jackhammer, people talking, street music, traffic,
  a car alarm) and a siren driving along a street at 12 m/s.
"""

from __future__ import annotations

import numpy as np

ORIGIN_LAT, ORIGIN_LON = 45.4400, 4.3820
ROTATION_DEG = 15.0
STREET_SPACING_M = (150.0, 130.0)
GRID_SHAPE = (9, 6)  # crossings east × north
M_PER_DEG_LAT = 111_132.0
M_PER_DEG_LON = 111_320.0 * np.cos(np.radians(ORIGIN_LAT))

ALERTING_SCRIPT: list[tuple[float, str, int, float]] = [
    # time_s, class, repetitions, interval_s
    (45.0, "gunshot", 1, 0.0),
    (70.0, "scream", 1, 0.0),
    (95.0, "glass_break", 1, 0.0),
    (130.0, "gunshot", 3, 0.6),
    (160.0, "scream", 1, 0.0),
    (210.0, "explosion", 1, 0.0),
    (250.0, "glass_break", 1, 0.0),
    (300.0, "scream", 1, 0.0),
    (345.0, "glass_break", 1, 0.0),
    (380.0, "gunshot", 2, 1.1),
    (420.0, "scream", 1, 0.0),
    (470.0, "explosion", 1, 0.0),
    (505.0, "glass_break", 1, 0.0),
    (540.0, "gunshot", 1, 0.0),
    (560.0, "scream", 1, 0.0),
]

DISTRACTORS: dict[str, int] = {
    "fireworks": 4,
    "door_slam": 8,
    "car_horn": 6,
    "construction": 3,
    "people_talking": 5,
    "music": 2,
    "traffic": 8,
    "alarm": 1,
}

LEVEL_RANGE_DB_SPL: dict[str, tuple[float, float]] = {
    "gunshot": (145.0, 155.0),  # calibre and muzzle
    "explosion": (150.0, 165.0),
    "scream": (105.0, 118.0),  # a cry to a full-force scream
    "glass_break": (100.0, 112.0),  # a bottle to a shop window
}
"""Source level of each alerting incident, drawn in these ranges (dB SPL, loudest 10 ms at 1 m)."""

SOURCE_HEIGHT_M = {"glass_break": 1.0, "explosion": 0.5, "fireworks": 0.3, "traffic": 0.5}


SIREN_TIME_S = 432.0
SIREN_START = (1, 2)
"""The siren starts at this crossing and drives east along the grid at `SIREN_SPEED_MPS`."""
SIREN_SPEED_MPS = 12.0


def siren_velocity_mps() -> tuple[float, float]:
    """(east, north) velocity of the siren along the grid's east street, m/s."""
    a = np.radians(ROTATION_DEG)
    return round(SIREN_SPEED_MPS * float(np.cos(a)), 2), round(
        SIREN_SPEED_MPS * float(np.sin(a)), 2
    )


def grid_to_enu(i: float, j: float) -> tuple[float, float]:
    """Street-grid coordinates (crossing i east, j north, centred) → ENU metres."""
    x = (i - (GRID_SHAPE[0] - 1) / 2) * STREET_SPACING_M[0]
    y = (j - (GRID_SHAPE[1] - 1) / 2) * STREET_SPACING_M[1]
    a = np.radians(ROTATION_DEG)
    return float(x * np.cos(a) - y * np.sin(a)), float(x * np.sin(a) + y * np.cos(a))


def enu_to_lat_lon(east_m: float, north_m: float) -> tuple[float, float]:
    """Local tangent-plane approximation (exact to centimetres over 1 km)."""
    return (
        round(ORIGIN_LAT + north_m / M_PER_DEG_LAT, 7),
        round(ORIGIN_LON + east_m / M_PER_DEG_LON, 7),
    )


def street_point(rng: np.random.Generator) -> tuple[float, float]:
    """A random point on a street centre line (a crossing-to-crossing segment), ±4 m across."""
    i, j = rng.integers(0, GRID_SHAPE[0] - 1), rng.integers(0, GRID_SHAPE[1] - 1)
    along, across = rng.uniform(0.1, 0.9), rng.uniform(-4.0, 4.0) / min(STREET_SPACING_M)
    gi, gj = (i + along, j + across) if rng.random() < 0.5 else (i + across, j + along)
    return enu_to_lat_lon(*grid_to_enu(gi, gj))


def sensors(rng: np.random.Generator) -> list[str]:
    """50 sensors at crossings (the four corners of the 9 × 6 grid left out), on a facade a few
    metres off the crossing."""
    lines = []
    corners = {(0, 0), (0, 5), (8, 0), (8, 5)}
    crossings = [(i, j) for j in range(6) for i in range(9) if (i, j) not in corners]
    for n, (i, j) in enumerate(crossings, start=1):
        e, north = grid_to_enu(i, j)
        lat, lon = enu_to_lat_lon(e + rng.uniform(-8, 8), north + rng.uniform(-8, 8))
        height = round(float(rng.uniform(4.0, 6.0)), 1)
        lines.append(f"  - {{id: s{n:02d}, lat: {lat}, lon: {lon}, height_m: {height}}}")
    # s17 keeps time by NTP only: a 4 ms offset, 2 ms jitter and 5 ppm of drift
    lines[16] = lines[16][:-1] + ", clock: {offset_s: 0.004, jitter_s: 0.002, drift_ppm: 5.0}}"
    return lines


def cameras() -> list[str]:
    """6 PTZ cameras on main crossings, 8 m up, pan zero along the grid's north street."""
    lines = []
    heading_deg = 360.0 - ROTATION_DEG
    for n, (i, j) in enumerate([(1, 1), (4, 1), (7, 1), (1, 4), (4, 4), (7, 4)], start=1):
        lat, lon = enu_to_lat_lon(*grid_to_enu(i + 0.06, j + 0.06))
        lines.append(
            f"  - {{id: c{n}, lat: {lat}, lon: {lon}, height_m: 8.0, heading_deg: {heading_deg}}}"
        )
    return lines


SOLID_BLOCKS = [
    (0, 1), (1, 0), (1, 3), (2, 1), (3, 3), (4, 0),
    (4, 2), (5, 4), (6, 1), (6, 3), (7, 0), (2, 4),
]  # fmt: skip
"""Blocks (south-west crossing i, j) that are solid buildings; the others stay open."""


def buildings(rng: np.random.Generator) -> list[str]:
    """Solid blocks inset 12 m from the street centre lines (a 24 m wide street with pavements)."""
    lines = []
    inset_i, inset_j = 12.0 / STREET_SPACING_M[0], 12.0 / STREET_SPACING_M[1]
    for i, j in SOLID_BLOCKS:
        ring = [
            enu_to_lat_lon(*grid_to_enu(i + di, j + dj))
            for di, dj in (
                (inset_i, inset_j),
                (1 - inset_i, inset_j),
                (1 - inset_i, 1 - inset_j),
                (inset_i, 1 - inset_j),
            )
        ]
        footprint = ", ".join(f"[{lon}, {lat}]" for lat, lon in ring)
        height = float(rng.choice([12.0, 15.0, 18.0, 21.0, 24.0]))
        lines.append(f"  - {{id: block-{i}{j}, height_m: {height}, footprint: [{footprint}]}}")
    return lines


def events(rng: np.random.Generator) -> list[str]:
    """The alerting script, then distractors at random street points and times at least 2 s
    clear of any alerting onset; a siren driving past from 432 s."""
    script: list[tuple[float, str, tuple[float, float], float | None, float | None]] = []
    alerting_times = []
    for time_s, name, repeats, interval_s in ALERTING_SCRIPT:
        where = street_point(rng)
        level = round(float(rng.uniform(*LEVEL_RANGE_DB_SPL[name])), 1)
        for k in range(repeats):
            script.append((time_s + k * interval_s, name, where, None, level))
            alerting_times.append(time_s + k * interval_s)
    for name, count in DISTRACTORS.items():
        for _ in range(count):
            while True:
                time_s = round(float(rng.uniform(5.0, 590.0)), 1)
                if min(abs(time_s - t) for t in alerting_times) > 2.0:
                    break
            duration = (
                round(float(rng.uniform(6.0, 15.0)), 1)
                if name in ("music", "construction", "people_talking")
                else None
            )
            script.append((time_s, name, street_point(rng), duration, None))
    script.append((SIREN_TIME_S, "siren", enu_to_lat_lon(*grid_to_enu(*SIREN_START)), 20.0, None))
    lines = []
    for time_s, name, (lat, lon), duration_s, level_db in sorted(script):
        extra = f", duration_s: {duration_s}" if duration_s else ""
        extra += f", source_level_db_spl: {level_db}" if level_db else ""
        extra += f", velocity_mps: {list(siren_velocity_mps())}" if name == "siren" else ""
        height = SOURCE_HEIGHT_M.get(name, 1.5)
        lines.append(
            f"  - {{time_s: {time_s}, class: {name}, lat: {lat}, lon: {lon}, "
            f"height_m: {height}{extra}}}"
        )
    return lines


def scenario_yaml(seed: int = 42) -> str:
    """The whole scenario file as YAML text (one line per sensor, camera, block and event)."""
    rng = np.random.default_rng(seed)
    parts = [
        "# Generated by `python -m ouie.sim.saint_etienne` (see that module for the layout).",
        "name: saint-etienne",
        "description: >-",
        "  Tarentaize–Beaubrun–Couriot, Saint-Étienne (approximate street grid): 50 sensors,",
        "  6 PTZ cameras, 12 building blocks, a 10-minute evening of gunshots, explosions,",
        "  screams and glass breaks among fireworks, door slams, horns, works, talk, music,",
        "  traffic, a car alarm and a siren.",
        f"origin: {{lat: {ORIGIN_LAT}, lon: {ORIGIN_LON}, height_m: 520.0}}",
        'start_utc: "2026-06-21T21:30:00Z"',
        "duration_s: 600.0",
        "seed: 7",
        "weather: {air_temperature_c: 22.0, relative_humidity_pct: 55.0}",
        "background: {level_dba: 58.0}",
        "clocks:",
        "  default: {offset_s: 0.0, jitter_s: 0.0004}",
        "  offset_spread_s: 0.0005",
        "microphone:",
        "  sample_rate_hz: 16000",
        "  full_scale_db_spl: 130.0",
        "  self_noise_db_spl: 30.0",
        "  sensitivity_spread_db: 1.0",
        "propagation:",
        "  ground_reflection_gain: 0.9",
        "  street_reverb_rt60_s: 0.8",
        "  street_reverb_critical_distance_m: 15.0",
        "  street_reverb_excess_attenuation_db_per_m: 0.05",
        "sensors:",
        *sensors(rng),
        "cameras:",
        *cameras(),
        "buildings:",
        *buildings(rng),
        "events:",
        *events(rng),
    ]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(scenario_yaml(), end="")
