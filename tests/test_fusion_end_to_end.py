"""Audio to located incidents: a small rendered scene (`ouie.sim`), the built-in detector
(`ouie.sensor`), then `ouie locate`: the whole chain, checked against the simulator's truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ouie.app import locate_commands as commands
from ouie.app.locate import frame_for
from ouie.core.geo import LocalFrame
from ouie.core.recording import RecordingFolder
from ouie.sim.render import simulate
from ouie.sim.scenario import Scenario

FRAME = LocalFrame(45.44, 4.382, 0.0)
LAYOUT_EN = [(-120, -100), (120, -100), (130, 110), (-110, 120), (0, 0), (10, -160)]
EVENTS = [(2.0, "gunshot", 20.0, 30.0), (5.0, "explosion", -50.0, -40.0)]


def wgs84(east: float, north: float) -> tuple[float, float]:
    lat, lon, _ = FRAME.to_wgs84(east, north, 0.0)
    return float(lat), float(lon)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> RecordingFolder:
    """8 s, 6 sensors on open ground, a gunshot and an explosion (synthetic sources)."""
    scenario = Scenario.model_validate(
        {
            "name": "fusion-e2e",
            "origin": {"lat": FRAME.origin_lat_deg, "lon": FRAME.origin_lon_deg},
            "duration_s": 8.0,
            "seed": 1,
            "sensors": [
                {"id": f"m{i}", "lat": wgs84(e, n)[0], "lon": wgs84(e, n)[1], "height_m": 4.0}
                for i, (e, n) in enumerate(LAYOUT_EN)
            ],
            "events": [
                {"time_s": t, "class": cls, "lat": wgs84(e, n)[0], "lon": wgs84(e, n)[1]}
                for t, cls, e, n in EVENTS
            ],
        }
    )
    out = tmp_path_factory.mktemp("scene")
    return simulate(scenario, out, progress=False)


def test_rendered_impulses_are_located_to_decimetres_by_locate(scene: RecordingFolder) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    commands.register(app)
    result = CliRunner().invoke(app, ["locate", str(scene.path), "--json", "--backend", "builtin"])
    assert result.exit_code == 0, result.output
    incidents = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    fixes = [i for i in incidents if i["status"] == "fix" and i["class"] == "gunshot"]
    assert len(fixes) == 2  # the built-in detector calls every bang a gunshot
    frame = frame_for(scene.sensors)
    for fix, truth in zip(fixes, scene.truth or [], strict=True):
        true_en = frame.to_enu(truth.lat, truth.lon, 0.0)[:2]
        got_en = frame.to_enu(fix["lat"], fix["lon"], 0.0)[:2]
        error = got_en - true_en
        assert np.hypot(*error) < 1.0
        inverse = np.linalg.inv(np.asarray(fix["covariance_m2"]))
        assert error @ inverse @ error <= 5.991  # truth inside the 95 % ellipse
        assert abs(fix["onset_ns"] - truth.onset_ns) < 5_000_000
    assert "2/2" in result.stderr
