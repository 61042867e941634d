"""A small scenario and helpers shared by the demo tests and the browser tests."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from ouie.app.demo import DemoOptions, DemoRun
from ouie.console.auth import CSRF_HEADER
from ouie.core.geo import LocalFrame
from ouie.sensor.config import Backend, DetectorConfig

FRAME = LocalFrame(45.4397, 4.3872, 520.0)
SENSORS_ENU_M = [(-90, -60), (80, -70), (95, 60), (-70, 85), (5, 120), (10, -120)]
GUNSHOT_ENU_M = (20.0, 15.0)


def wgs84(east_m: float, north_m: float) -> dict[str, float]:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, FRAME.origin_height_m)
    return {"lat": round(float(lat), 7), "lon": round(float(lon), 7)}


def write_square_scenario(folder: Path) -> Path:
    """A scenario file: six sensors around a square, one camera, one gunshot 2 s in."""
    scenario = {
        "name": "square",
        "origin": {"lat": FRAME.origin_lat_deg, "lon": FRAME.origin_lon_deg, "height_m": 520.0},
        "start_utc": "2026-06-21T21:30:00Z",
        "duration_s": 6.0,
        "seed": 3,
        "sensors": [
            {"id": f"s{i}", **wgs84(e, n), "height_m": 4.5}
            for i, (e, n) in enumerate(SENSORS_ENU_M)
        ],
        "cameras": [{"id": "cam-1", **wgs84(-40, -40), "height_m": 6.0, "heading_deg": 45.0}],
        "events": [{"time_s": 2.0, "class": "gunshot", **wgs84(*GUNSHOT_ENU_M)}],
    }
    path = folder / "square.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return path


def demo_options(scenario_path: Path, auto_cue: bool, speed: float = 10.0) -> DemoOptions:
    """Demo options for the scenario file: built-in detector (fast), any free port."""
    return DemoOptions(
        scenario=str(scenario_path),
        speed=speed,
        auto_cue=auto_cue,
        port=0,
        detector=DetectorConfig(backend=Backend.BUILTIN),
        cache_dir=scenario_path.parent / "cache",
    )


def operator_client(run: DemoRun) -> tuple[httpx.Client, dict[str, str]]:
    """A logged-in operator session on the demo's console."""
    client = httpx.Client(base_url=run.url, timeout=10)
    operator = next(login for login in run.logins if login.role == "operator")
    token = client.get("api/session").json()["csrf"]
    answer = client.post(
        "api/login",
        json={"name": operator.name, "password": operator.password},
        headers={CSRF_HEADER: token},
    )
    assert answer.status_code == 200, answer.text
    return client, {CSRF_HEADER: answer.json()["csrf"]}
