"""Cue latency: plan + ONVIF AbsoluteMove + GetStatus confirmation, against virtual cameras.

Method: start the scenario's cameras as virtual ONVIF devices on loopback, connect one client
per camera (connection time reported apart), then for N random incidents within range of the
cameras run the production path, `CueController.cue` in `auto` mode: plan (range, sight line,
masks, ranking), AbsoluteMove over SOAP with WS-Security, GetStatus until the position is
confirmed, audit events. Each cue is timed end to end with perf_counter; the planning part is
also timed on its own. Prints JSON (p50/p99/max in ms, cores, method) and saves the snapshot
of the last cued camera as a PNG.

    .venv/bin/python bench/cue_latency.py [--scenario saint-etienne] [--cues 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np

from ouie.cameras.config import CueingConfig, CueMode
from ouie.cameras.cueing import CueController, CueStatus, OnvifMover
from ouie.cameras.geometry import camera_position_enu
from ouie.cameras.planning import CueTarget, buildings_enu
from ouie.core.audit import AuditEvent
from ouie.core.config import ConfigError
from ouie.sim.cameras.render import Mark
from ouie.sim.cameras.sites import load_cameras_config
from ouie.sim.cameras.virtual import start_virtual_cameras
from ouie.sim.scenario import Scenario, load_scenario


def street_scenario() -> Scenario:
    """A fallback street (3 cameras, 3 blocks) when the named scenario is not installed."""
    origin = {"lat": 45.4397, "lon": 4.3872, "height_m": 520.0}
    frame = Scenario.model_validate(
        {"name": "tmp", "origin": origin, "sensors": [{"id": "s", "lat": 45.4, "lon": 4.3}]}
    ).frame

    def lon_lat(east: float, north: float) -> list[float]:
        lat, lon, _ = frame.to_wgs84(east, north, origin["height_m"])
        return [float(lon), float(lat)]

    def camera(name: str, east: float, north: float, heading: float) -> dict[str, object]:
        lon, lat = lon_lat(east, north)
        return {"id": name, "lat": lat, "lon": lon, "height_m": 8.0, "heading_deg": heading}

    def block(name: str, e0: float, n0: float, e1: float, n1: float) -> dict[str, object]:
        ring = [lon_lat(e, n) for e, n in [(e0, n0), (e1, n0), (e1, n1), (e0, n1)]]
        return {"id": name, "footprint": ring, "height_m": 15.0}

    return Scenario.model_validate(
        {
            "name": "bench-street",
            "origin": origin,
            "sensors": [{"id": "s1", "lat": origin["lat"], "lon": origin["lon"]}],
            "cameras": [
                camera("cam-north", 0, 120, 180),
                camera("cam-east", 150, 0, 270),
                camera("cam-south", -20, -130, 0),
            ],
            "buildings": [
                block("A", 30, 20, 70, 60),
                block("B", -80, -60, -30, -20),
                block("C", 20, -70, 60, -40),
            ],
        }
    )


def percentile_ms(samples_s: list[float], q: float) -> float:
    """The q-th percentile of durations in s, as ms (numpy's linear interpolation)."""
    return round(float(np.percentile(samples_s, q)) * 1000.0, 2)


async def measure(scenario: Scenario, cues: int, seed: int, snapshot: Path) -> dict[str, object]:
    cameras = load_cameras_config(scenario).cameras  # with the scenario's privacy masks
    buildings = buildings_enu(scenario.buildings, scenario.frame)
    rng = np.random.default_rng(seed)
    config = CueingConfig(
        mode=CueMode.AUTO, legal_basis="benchmark on loopback", dpia="not applicable (virtual)"
    )
    positions = np.array([camera_position_enu(c, scenario.frame)[:2] for c in cameras])
    with start_virtual_cameras(cameras, scenario.frame, buildings) as fleet:
        mover = OnvifMover(lambda _camera: fleet.credentials)
        started = time.perf_counter()
        for config_of_camera in fleet.configs.values():
            await mover.client(config_of_camera)
        connect_s = time.perf_counter() - started
        audit: list[AuditEvent] = []
        controller = CueController(
            config, list(fleet.configs.values()), scenario.frame, mover, audit.append, buildings
        )
        total_s, plan_s, statuses = [], [], []
        last_camera = None
        for index in range(cues):
            anchor = positions[rng.integers(len(positions))]
            east, north = anchor + rng.uniform(-150, 150, size=2)
            lat, lon, _ = scenario.frame.to_wgs84(east, north, scenario.origin.height_m)
            target = CueTarget(
                lat=float(lat),
                lon=float(lon),
                radius_m=float(rng.uniform(3, 25)),
                incident_id=f"bench-{index}",
            )
            t0 = time.perf_counter()
            controller.plan(target)
            plan_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            outcome = await controller.cue(target)
            elapsed = time.perf_counter() - t0
            statuses.append(outcome.status.value)
            if outcome.status is CueStatus.MOVED and outcome.decision and outcome.decision.plan:
                total_s.append(elapsed)
                last_camera = outcome.decision.plan.camera_id
                fleet.set_marks([Mark((float(east), float(north), 1.5), "incident")])
        if last_camera is not None:
            client = await mover.client(fleet.configs[last_camera])
            snapshot.write_bytes(await client.snapshot())
        await mover.close()
    return {
        "benchmark": "cue_latency",
        "scenario": scenario.name,
        "cameras": len(cameras),
        "cores": os.cpu_count(),
        "method": "CueController.cue in auto mode: plan + AbsoluteMove + GetStatus confirm "
        "(SOAP/HTTP on 127.0.0.1, WS-Security digest), persistent client per camera; "
        "perf_counter per cue",
        "cues": cues,
        "moved": len(total_s),
        "outcomes": {s: statuses.count(s) for s in sorted(set(statuses))},
        "mask_decisions": {
            d: sum(
                1
                for e in audit
                if e.action == "camera.move" and e.details["plan"]["mask_decision"] == d
            )
            for d in ("clear", "clipped_zoom", "panned_away")
        },
        "connect_all_s": round(connect_s, 3),
        "cue_total_ms": {
            "p50": percentile_ms(total_s, 50),
            "p99": percentile_ms(total_s, 99),
            "max": percentile_ms(total_s, 100),
        },
        "plan_only_ms": {"p50": percentile_ms(plan_s, 50), "p99": percentile_ms(plan_s, 99)},
        "target_p99_ms": 200,
        "snapshot_png": str(snapshot),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="saint-etienne")
    parser.add_argument("--cues", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--snapshot", type=Path, default=Path("cue_latency_snapshot.png"))
    args = parser.parse_args()
    try:
        scenario = load_scenario(args.scenario)
    except ConfigError:
        scenario = street_scenario()
    print(json.dumps(asyncio.run(measure(scenario, args.cues, args.seed, args.snapshot)), indent=2))


if __name__ == "__main__":
    main()
