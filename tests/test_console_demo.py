"""`ouie demo`'s chain on a small scenario: a simulated gunshot is heard by the sensors'
detectors, located by the central service, cued to a virtual camera (suggest: only after an
operator approves in the console; auto: at once) and scored against the truth."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from ouie.console.auth import CSRF_HEADER
from ouie.console.demo import DemoOptions, DemoRun, running_demo
from ouie.core.geo import LocalFrame
from ouie.sensor.config import Backend, DetectorConfig

FRAME = LocalFrame(45.4397, 4.3872, 520.0)
SENSORS_ENU_M = [(-90, -60), (80, -70), (95, 60), (-70, 85), (5, 120), (10, -120)]
GUNSHOT_ENU_M = (20.0, 15.0)


def wgs84(east_m: float, north_m: float) -> dict[str, float]:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, FRAME.origin_height_m)
    return {"lat": round(float(lat), 7), "lon": round(float(lon), 7)}


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six sensors around a square, one camera, one gunshot 2 s in."""
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
    path = tmp_path_factory.mktemp("scenario") / "square.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return path


def options(scenario_path: Path, auto_cue: bool) -> DemoOptions:
    return DemoOptions(
        scenario=str(scenario_path),
        speed=10.0,
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


def test_suggest_demo_locates_the_gunshot_and_moves_the_camera_only_when_approved(
    scenario_path: Path, tmp_path: Path
) -> None:
    with running_demo(options(scenario_path, auto_cue=False), tmp_path) as (run, replay):
        replay.run()
        summary = replay.summary()
        assert (summary.alerting_true_events, summary.detected, summary.fixed) == (1, 1, 1)
        [located] = [o for o in summary.incident_outcomes if o.truth_class == "gunshot"]
        assert located.error_m is not None and located.error_m < 10.0
        assert summary.cue_states == {"suggested": 1}  # no camera moved on its own
        assert summary.reports_stored == summary.reports_published >= 3

        client, headers = operator_client(run)
        [incident] = [i for i in client.get("api/incidents").json() if i["id"] == located.id]
        assert incident["class"] == "gunshot" and incident["lat"] is not None
        [cue] = client.get(f"api/incidents/{located.id}").json()["cues"]
        assert cue["state"] == "suggested"
        approved = client.post(
            f"api/incidents/{located.id}/cues/{cue['id']}/approve", headers=headers
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["cues"][0]["state"] == "executed"
        [camera] = client.get("api/cameras").json()
        assert camera["state"] == "cued"
        snapshot = client.get(f"api/cameras/{camera['id']}/snapshot")
        assert snapshot.status_code == 200 and len(snapshot.content) > 1000
        actions = [(e["action"], e["actor"]) for e in run.store.audit.entries()]
        assert ("camera.cue_approved", "operator") in actions
        assert ("camera.move", "operator") in actions
        assert run.store.audit.verify() == []


def test_auto_demo_cues_at_once_declared_as_a_demonstration(
    scenario_path: Path, tmp_path: Path
) -> None:
    with running_demo(options(scenario_path, auto_cue=True), tmp_path) as (run, replay):
        replay.run()
        summary = replay.summary()
        assert summary.cue_mode == "auto"
        assert summary.cue_states == {"executed": 1}
        assert summary.cue_latency.n == 1
        assert summary.cue_latency.p50_s is not None and 0.0 < summary.cue_latency.p50_s < 10.0
        [mode] = [e for e in run.store.audit.entries() if e["action"] == "camera.cueing_mode"]
        assert "demonstration only" in mode["details"]["legal_basis"]
        client, _ = operator_client(run)
        overview = client.get("api/overview").json()
        assert overview["cue"]["mode"] == "auto"
        assert "demonstration only" in overview["cue"]["dpia"]
