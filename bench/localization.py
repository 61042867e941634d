"""Localization benchmark: fusion vs. two naive baselines on report-level simulations.

Method: take the sensors, frame and weather of a scenario (default `saint-etienne`; a generated
50-sensor layout when the scenario is not available), draw N alerting events uniformly inside
the sensors' convex hull, synthesise the reports the network would deliver
(`ouie.fusion.synthetic`: clock jitter, NLOS late paths, misses, false alarms, duplicates, late
deliveries), stream them through `ouie.fusion.association.Associator` in arrival order, and
score the incidents against the truth (`ouie.fusion.evaluation`). The baselines (loudest sensor,
energy-weighted centroid) are scored on the same report groups. Fusion time per incident is
measured by re-locating each incident's reports alone.

Prints one JSON object. Example:
    .venv/bin/python bench/localization.py --events 500 --jitter-s 0.0003 --nlos 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
from rich.progress import track
from shapely.geometry import MultiPoint, Point

from ouie.core.classes import ALERTING_CLASSES
from ouie.core.geo import LocalFrame
from ouie.core.recording import SensorSite
from ouie.core.timebase import NS_PER_S, iso_to_ns
from ouie.fusion.association import Associator
from ouie.fusion.baselines import energy_centroid_en_m, loudest_sensor_en_m
from ouie.fusion.config import FusionConfig
from ouie.fusion.evaluation import evaluate
from ouie.fusion.localization import locate_reports
from ouie.fusion.synthetic import ReportNoise, synthesize_deliveries, truth_event


def network(
    scenario_name: str, rng: np.random.Generator
) -> tuple[str, list[SensorSite], LocalFrame, float]:
    """(layout label, sensors, frame, air temperature °C) of the scenario, or a generated
    50-sensor layout (≈ 80 m spacing over 800 × 600 m) when it cannot be loaded."""
    try:
        from ouie.sim.scenario import load_scenario

        scenario = load_scenario(scenario_name)
        sensors = [SensorSite(**s.model_dump(exclude={"clock"})) for s in scenario.sensors]
        return (
            f"scenario {scenario.name}",
            sensors,
            scenario.frame,
            scenario.weather.air_temperature_c,
        )
    except Exception as error:
        label = f"generated 50-sensor grid (scenario {scenario_name!r} unavailable: {error})"
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
    return label, sensors, frame, 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="saint-etienne")
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--jitter-s", type=float, default=0.0003)
    parser.add_argument("--nlos", type=float, default=0.1, help="fraction of NLOS paths")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", help="also write a PNG: map, ellipses, error CDFs")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    layout, sensors, frame, temperature_c = network(args.scenario, rng)
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
    )
    incidents = []
    began = time.perf_counter()
    for delivery in track(deliveries, description="streaming reports", transient=True):
        incidents += associator.add(delivery.report, delivery.arrival_ns)
    incidents += associator.flush()
    stream_s = time.perf_counter() - began
    reports_by_id = {d.report.report_id: d.report for d in deliveries}
    result = evaluate(
        incidents,
        truth,
        frame,
        reports_by_id,
        positions,
        {"loudest_sensor": loudest_sensor_en_m, "energy_centroid": energy_centroid_en_m},
    )
    fix_times_ms = []
    latest = {i.incident_id: i for i in sorted(incidents, key=lambda i: i.revision)}
    for incident in latest.values():
        if incident.status == "fix":
            reports = [reports_by_id[r] for r in incident.report_ids]
            began = time.perf_counter()
            locate_reports(reports, positions, frame, config, incident.incident_id)
            fix_times_ms.append((time.perf_counter() - began) * 1e3)
    if args.plot:
        from ouie.fusion.plot import plot_incidents

        plot_incidents(
            args.plot,
            positions,
            list(latest.values()),
            frame,
            truth,
            result,
            title=f"{layout.split(' (')[0]}, {args.events} events",
        )
    summary = result.model_dump(exclude={"matches"})
    print(
        json.dumps(
            {
                "benchmark": "localization (report-level simulation)",
                "method": __doc__.split("\n\n")[1].replace("\n", " "),
                "layout": layout,
                "n_sensors": len(sensors),
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "noise": noise.model_dump(),
                "config": config.model_dump(),
                "events": args.events,
                "reports_delivered": len(deliveries),
                "associator": {
                    "duplicates": associator.stats.duplicates,
                    "incidents_emitted": associator.stats.incidents_emitted,
                    "incidents_updated": associator.stats.incidents_updated,
                },
                "fusion": summary,
                "fusion_time_per_fix_ms": {
                    "n": len(fix_times_ms),
                    "median": float(np.median(fix_times_ms)) if fix_times_ms else None,
                    "p95": float(np.percentile(fix_times_ms, 95)) if fix_times_ms else None,
                    "max": float(np.max(fix_times_ms)) if fix_times_ms else None,
                },
                "stream_time_per_report_ms": stream_s * 1e3 / max(len(deliveries), 1),
                "sensors_per_fix": _sensors_per_fix(latest.values()),
            },
            indent=2,
        )
    )


def _sensors_per_fix(incidents: object) -> dict[str, float]:
    """Median and range of the sensors used per fix."""
    counts = [i.n_sensors for i in incidents if i.status == "fix"]  # type: ignore[attr-defined]
    if not counts:
        return {}
    return {"median": float(np.median(counts)), "min": min(counts), "max": max(counts)}


if __name__ == "__main__":
    main()
