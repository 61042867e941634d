"""Localization benchmark: fusion vs. two naive baselines on report-level simulations.

Method: take the sensors, frame and weather of a scenario (default `saint-etienne`; a generated
50-sensor layout when the scenario is not available), draw N alerting events uniformly inside
the sensors' convex hull, synthesise the reports the network would deliver
(`ouie.fusion.synthetic`: clock jitter, NLOS late paths, misses, false alarms, duplicates, late
deliveries), stream them through `ouie.fusion.association.Associator` in arrival order, and
score the incidents against the truth (`ouie.fusion.evaluation`). The baselines (loudest sensor,
energy-weighted centroid) are scored on the same report groups. Fusion time per incident is
measured by re-locating each incident's reports alone (wall clock and process CPU time: the
machine is shared, so the CPU time is the fairer figure; the 1-minute load average is printed).

End-to-end mode (`--recording DIR`): render the scenario into DIR (unless it is already
there), run the sensor pipeline on every sensor file, fuse, and score the same way.

Prints one JSON object. Examples:
    .venv/bin/python bench/localization.py --events 500 --plot /tmp/localization.png
    .venv/bin/python bench/localization.py --recording /tmp/se --duration-s 200 \\
        --audio-dir ../shared/audio --model ../shared/models/yamnet.tflite
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from rich.progress import track
from shapely.geometry import MultiPoint, Point

from ouie.core.classes import ALERTING_CLASSES
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident
from ouie.core.recording import SensorSite, TruthEvent
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S, iso_to_ns
from ouie.fusion.association import Associator
from ouie.fusion.baselines import energy_centroid_en_m, loudest_sensor_en_m
from ouie.fusion.config import FusionConfig
from ouie.fusion.evaluation import evaluate
from ouie.fusion.localization import locate_reports, sensor_positions_enu_m
from ouie.fusion.synthetic import ReportNoise, SensorClock, synthesize_deliveries, truth_event


def network(
    scenario_name: str, rng: np.random.Generator, jitter_s: float
) -> tuple[str, list[SensorSite], LocalFrame, float, dict[str, SensorClock]]:
    """(layout label, sensors, frame, air temperature °C, clocks) of the scenario, or a
    generated 50-sensor layout (≈ 80 m spacing over 800 × 600 m) with ideal clocks and
    `jitter_s` when the scenario cannot be loaded.

    Scenario clocks: each sensor's offset as the simulator draws it (`sensor_clock_offsets_s`)
    and its jitter; it reports √(jitter² + offset spread²), or √(jitter² + offset²) when it has
    its own clock model (e.g. an NTP-only sensor that knows it).
    """
    try:
        from ouie.sim.render import sensor_clock_offsets_s
        from ouie.sim.scenario import load_scenario

        scenario = load_scenario(scenario_name)
    except Exception as error:  # any failure falls back, and says why
        label = f"generated 50-sensor grid (scenario {scenario_name!r} unavailable: {error})"
    else:
        sensors = [SensorSite(**s.model_dump(exclude={"clock"})) for s in scenario.sensors]
        offsets = sensor_clock_offsets_s(scenario, scenario.seed)
        clocks = {}
        for spec, offset in zip(scenario.sensors, offsets, strict=True):
            model = spec.clock or scenario.clocks.default
            spread = abs(offset) if spec.clock else scenario.clocks.offset_spread_s
            clocks[spec.id] = SensorClock(
                float(offset), model.jitter_s, float(np.hypot(model.jitter_s, spread))
            )
        return (
            f"scenario {scenario.name} (sensors, weather and clocks)",
            sensors,
            scenario.frame,
            scenario.weather.air_temperature_c,
            clocks,
        )
    frame = LocalFrame(45.4420, 4.3930, 520.0)
    points = [
        (east + rng.uniform(-25, 25), north + rng.uniform(-25, 25))
        for east in np.linspace(-400, 400, 10)
        for north in np.linspace(-300, 300, 5)
    ]
    sensors = []
    for index, (east, north) in enumerate(points):
        lat, lon, _ = frame.to_wgs84(east, north, 0.0)
        sensors.append(SensorSite(id=f"s{index:02d}", lat=float(lat), lon=float(lon), height_m=4.0))
    ideal = SensorClock(0.0, jitter_s, jitter_s)
    return label, sensors, frame, 15.0, {s.id: ideal for s in sensors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="saint-etienne")
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument(
        "--jitter-s", type=float, default=0.0003, help="clock jitter without a scenario, s"
    )
    parser.add_argument("--nlos", type=float, default=0.1, help="fraction of NLOS paths")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", help="also write a PNG: map, ellipses, error CDFs")
    parser.add_argument(
        "--recording",
        type=Path,
        help="end-to-end instead: detect on this recording folder (rendered from --scenario "
        "first when it does not exist) and fuse",
    )
    parser.add_argument("--duration-s", type=float, help="length to render, s (end-to-end)")
    parser.add_argument("--audio-dir", type=Path, help="real recordings for rendering")
    parser.add_argument("--backend", default="auto", help="detector backend (end-to-end)")
    parser.add_argument("--model", type=Path, help="YAMNet .tflite file (end-to-end)")
    args = parser.parse_args()
    result = end_to_end(args) if args.recording else report_level(args)
    print(json.dumps(result, indent=2))


def report_level(args: argparse.Namespace) -> dict[str, object]:
    """Fusion alone, on synthesised reports streamed in arrival order."""
    rng = np.random.default_rng(args.seed)
    layout, sensors, frame, temperature_c, clocks = network(args.scenario, rng, args.jitter_s)
    config = FusionConfig(air_temperature_c=temperature_c)
    noise = ReportNoise(jitter_s=args.jitter_s, nlos_fraction=args.nlos)
    associator = Associator(sensors, frame, config)
    positions = associator.positions_enu_m
    hull = MultiPoint([tuple(p[:2]) for p in positions.values()]).convex_hull
    (min_e, min_n, max_e, max_n) = hull.bounds
    start_ns = iso_to_ns("2026-06-21T21:00:00Z")
    alerting = sorted(c.value for c in ALERTING_CLASSES)
    truth = []
    onset_ns = start_ns
    while len(truth) < args.events:
        east, north = rng.uniform(min_e, max_e), rng.uniform(min_n, max_n)
        if hull.contains(Point(east, north)):
            onset_ns += round(rng.uniform(2.0, 20.0) * NS_PER_S)
            truth.append(truth_event(frame, str(rng.choice(alerting)), onset_ns, east, north))
    deliveries = synthesize_deliveries(
        sensors,
        frame,
        truth,
        config.speed_of_sound_mps,
        noise,
        rng,
        config.source_height_m,
        span_ns=(start_ns, onset_ns + 10 * NS_PER_S),
        clocks=clocks,
    )
    incidents = []
    began = time.perf_counter()
    for delivery in track(deliveries, description="streaming reports", transient=True):
        incidents += associator.add(delivery.report, delivery.arrival_ns)
    incidents += associator.flush()
    stream_s = time.perf_counter() - began
    return {
        "benchmark": "localization, report-level simulation (fusion alone)",
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
        "layout": layout,
        "noise": noise.model_dump(exclude={"jitter_s"}),
        "clock_jitter_s": _quantiles([c.jitter_s for c in clocks.values()]),
        "clock_offset_abs_s": _quantiles([abs(c.offset_s) for c in clocks.values()]),
        "events": args.events,
        "reports_delivered": len(deliveries),
        "associator": {
            "duplicates": associator.stats.duplicates,
            "incidents_emitted": associator.stats.incidents_emitted,
            "incidents_updated": associator.stats.incidents_updated,
        },
        "stream_time_per_report_ms": stream_s * 1e3 / max(len(deliveries), 1),
        **scored(
            args,
            incidents,
            [d.report for d in deliveries],
            truth,
            sensors,
            frame,
            config,
            f"{layout.split(' (')[0]}, {args.events} events",
        ),
    }


def end_to_end(args: argparse.Namespace) -> dict[str, object]:
    """Audio → sensor pipeline → fusion on a rendered recording folder."""
    from ouie.app.locate import (
        detect_recording,
        detector_config,
        frame_for,
        fuse_reports,
        sensor_detector,
    )
    from ouie.core.recording import RecordingFolder
    from ouie.sim.render import simulate
    from ouie.sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if not (args.recording / "meta.json").is_file():
        simulate(scenario, args.recording, audio_dir=args.audio_dir, duration_s=args.duration_s)
    folder = RecordingFolder.read(args.recording)
    detect, detector = sensor_detector(detector_config(args.backend, args.model))
    cache = args.recording / f"reports-{detector.replace('/', '_')}.jsonl"
    began = time.perf_counter()
    if cache.is_file():  # detection is the slow part: reuse it (delete the file to re-run)
        reports = [EventReport.from_json(line) for line in cache.read_text().splitlines()]
    else:
        reports = detect_recording(folder, detect, lambda sensor, error: print(sensor, error))
        cache.write_text("".join(r.to_json() + "\n" for r in reports))
    detect_s = time.perf_counter() - began
    frame = frame_for(folder.sensors)
    config = FusionConfig(air_temperature_c=scenario.weather.air_temperature_c)
    incidents, _ = fuse_reports(reports, folder.sensors, frame, config)
    return {
        "benchmark": "localization, end to end (rendered audio → detector → fusion)",
        "method": f"`ouie simulate {args.scenario}` rendering (buildings, NLOS paths, clocks, "
        "background), the sensor pipeline on every sensor file, fusion in onset order, "
        "scored against truth.json; baselines on the same report groups",
        "recording": str(args.recording),
        "detector": detector,
        "detection_time_s": detect_s,
        "detection_cached": str(cache),
        "reports": len(reports),
        **scored(
            args,
            incidents,
            reports,
            folder.truth or [],
            folder.sensors,
            frame,
            config,
            f"{args.scenario}, end to end ({detector})",
        ),
    }


def scored(
    args: argparse.Namespace,
    incidents: list[Incident],
    reports: list[EventReport],
    truth: list[TruthEvent],
    sensors: list[SensorSite],
    frame: LocalFrame,
    config: FusionConfig,
    title: str,
) -> dict[str, object]:
    """Scores against truth, timing of each fix re-located alone, the plot when asked."""
    positions = sensor_positions_enu_m(sensors, frame)
    reports_by_id = {r.report_id: r for r in reports}
    result = evaluate(
        incidents,
        truth,
        frame,
        reports_by_id,
        positions,
        {"loudest_sensor": loudest_sensor_en_m, "energy_centroid": energy_centroid_en_m},
    )
    wall_ms, cpu_ms = [], []
    latest = {i.incident_id: i for i in sorted(incidents, key=lambda i: i.revision)}
    for incident in latest.values():
        if incident.status == "fix":
            group = [reports_by_id[r] for r in incident.report_ids]
            began, began_cpu = time.perf_counter(), time.process_time()
            locate_reports(group, positions, frame, config, incident.incident_id)
            wall_ms.append((time.perf_counter() - began) * 1e3)
            cpu_ms.append((time.process_time() - began_cpu) * 1e3)
    if args.plot:
        from ouie.fusion.plot import plot_incidents

        plot_incidents(args.plot, positions, list(latest.values()), frame, truth, result, title)
    fixes = [i.n_sensors for i in latest.values() if i.status == "fix"]
    return {
        "n_sensors": len(sensors),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "config": config.model_dump(mode="json"),
        "fusion": result.model_dump(exclude={"matches"}),
        "fusion_time_per_fix_ms": {
            "wall": _quantiles(wall_ms),
            "cpu": _quantiles(cpu_ms),
            "load_average_1min": os.getloadavg()[0],
        },
        "sensors_per_fix": _quantiles([float(n) for n in fixes]),
    }


def _quantiles(values: list[float]) -> dict[str, float | int | None]:
    """n, median, p95 and max of `values`."""
    if not values:
        return {"n": 0, "median": None, "p95": None, "max": None}
    return {
        "n": len(values),
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "max": float(np.max(values)),
    }


if __name__ == "__main__":
    main()
