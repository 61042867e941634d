"""ouie.video on what can be made here: the configuration's rules, the crossing geometry, and a
synthetic clip (a textured ground, a dark elliptic walker going right, then one going left) written
as an AVI and read back through PyAV by `ouie video detect`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from ouie.cli import app
from ouie.core.config import ConfigError, validate_config
from ouie.video.config import Line, TimeWindow, VideoConfig
from ouie.video.events import analyse, crosses
from ouie.video.source import read_frames
from tests.video_clips import CAMERA, DECLARED, write_walkers_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_walkers_clip(tmp_path_factory.mktemp("video") / "walkers.avi")


def test_enabling_needs_the_declaration_and_names_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="missing: legal_basis, dpia"):
        validate_config({"enabled": True, "cameras": [CAMERA]}, VideoConfig)
    with pytest.raises(ConfigError, match="missing: dpia"):
        validate_config({"enabled": True, "legal_basis": "x", "cameras": [CAMERA]}, VideoConfig)
    assert validate_config({"cameras": [CAMERA]}, VideoConfig).enabled is False


def test_density_needs_an_area_and_a_line_must_be_crossable() -> None:
    zone = {**CAMERA["zones"][0], "ground_area_m2": None}  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="density needs ground_area_m2"):
        validate_config({"cameras": [{**CAMERA, "zones": [zone]}]}, VideoConfig)
    with pytest.raises(ValueError, match="must cross the line"):
        Line(id="l", a_px=[0, 0], b_px=[10, 0], allowed_direction_px=[1, 0])


def test_crossing_direction_and_schedule_past_midnight() -> None:
    line = Line(id="l", a_px=[100, 0], b_px=[100, 200], allowed_direction_px=[1, 0])
    assert crosses((90, 50), (110, 55), line) == 1
    assert crosses((110, 50), (90, 55), line) == -1
    assert crosses((110, 50), (120, 55), line) == 0
    assert crosses((90, 250), (110, 250), line) == 0  # past the line's end
    night = TimeWindow.model_validate({"start": "22:00", "end": "06:00", "days": ["fri"]})
    assert night.contains(datetime(2026, 12, 4, 23, 0))  # Friday 23:00
    assert night.contains(datetime(2026, 12, 5, 5, 0))  # Saturday 05:00, the Friday night
    assert not night.contains(datetime(2026, 12, 5, 23, 0))  # Saturday night


def test_walkers_give_one_allowed_crossing_one_wrong_way_and_two_intrusions(clip: Path) -> None:
    config = validate_config(DECLARED, VideoConfig)
    camera = config.cameras[0]
    results = list(
        analyse(
            camera, read_frames(str(clip), camera.analysis_fps), datetime(2026, 1, 1, tzinfo=UTC)
        )
    )
    assert len(results) == 70  # 14 s at 5 frames/s
    assert [r.people for r in results if r.t_s in (1.0, 4.0, 7.0, 10.0)] == [0, 1, 0, 1]
    crossings = [c for r in results for c in r.crossings]
    # The first walker's left edge passes x = 152 (feet at 160) at 2 + 132/60 = 4.2 s; the
    # second's at 8 + 138/60 = 10.3 s; seen at the first analysed frame (0.2 s apart) past it.
    assert [(c.wrong_way, c.people) for c in crossings] == [(False, 1), (True, 1)]
    assert abs(crossings[0].t_s - 4.2) < 0.25 and abs(crossings[1].t_s - 10.3) < 0.25
    closed = [e for r in results for e in r.events if not e.ongoing]
    intrusions = [e for e in closed if e.kind == "intrusion"]
    # Feet (x + 8) inside x ≥ 200 from 2 + 172/60 = 4.9 s to 6.5 s, and from 8 s to 9.7 s.
    assert [(round(e.start_s, 1), round(e.end_s, 1)) for e in intrusions] == [
        (5.0, 6.4),
        (8.0, 9.6),
    ]
    wrong_way = [e for e in closed if e.kind == "wrong_way"]
    assert [(e.zone, e.count) for e in wrong_way] == [("mid", 1)]
    # One person in 10 m² is 0.1 /m², over the 0.05 limit: density follows the intrusions.
    density = [e for e in closed if e.kind == "density"]
    assert [round(e.peak_people_per_m2 or 0, 2) for e in density] == [0.1, 0.1]


def test_cli_refuses_an_undeclared_configuration_and_prints_events(
    clip: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump({"cameras": [CAMERA]}))
    result = runner.invoke(app, ["video", "detect", str(clip), "--camera-config", str(off)])
    assert result.exit_code == 2
    assert "enabled: false" in result.output
    half = tmp_path / "half.yaml"
    half.write_text(yaml.safe_dump({"enabled": True, "legal_basis": "x", "cameras": [CAMERA]}))
    result = runner.invoke(app, ["video", "detect", str(clip), "--camera-config", str(half)])
    assert result.exit_code == 2
    assert "missing: dpia" in result.output
    declared = tmp_path / "on.yaml"
    declared.write_text(yaml.safe_dump(DECLARED))
    result = runner.invoke(
        app,
        ["video", "detect", str(clip), "--camera-config", str(declared), "--json", "--counts"],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    counts = [line for line in lines if "t_s" in line]
    events = [line for line in lines if "kind" in line]
    assert len(counts) == 70 and max(c["people"] for c in counts) == 1
    assert sorted(e["kind"] for e in events) == [
        "density",
        "density",
        "intrusion",
        "intrusion",
        "wrong_way",
    ]
    assert {"kind", "zone", "start_s", "end_s", "count"} <= set(events[0])


def test_a_zone_drawn_on_the_ground_is_mapped_to_the_image() -> None:
    # A ground square 10 m × 10 m seen as a trapezoid: its far edge (y = 10 m) is half as wide.
    ground_points = [
        {"px": [100, 300], "m": [0, 0]},
        {"px": [300, 300], "m": [10, 0]},
        {"px": [250, 100], "m": [10, 10]},
        {"px": [150, 100], "m": [0, 10]},
    ]
    zone = {
        "id": "square",
        "polygon_m": [[0, 0], [10, 0], [10, 10], [0, 10]],
        "events": ["density"],
        "max_people_per_m2": 1.0,
    }
    camera = validate_config(
        {"cameras": [{**CAMERA, "ground_points": ground_points, "zones": [zone]}]}, VideoConfig
    ).cameras[0]
    (square,) = camera.zones
    corners = np.asarray(camera.zone_polygon_px(square))
    np.testing.assert_allclose(corners, [[100, 300], [300, 300], [250, 100], [150, 100]], atol=1e-3)
    assert camera.zone_area_m2(square) == pytest.approx(100.0)
    # The same trapezoid drawn on the image has the same ground area through H.
    drawn = {**zone, "polygon_m": None, "polygon_px": corners.tolist()}
    camera = validate_config(
        {"cameras": [{**CAMERA, "ground_points": ground_points, "zones": [drawn]}]}, VideoConfig
    ).cameras[0]
    assert camera.zone_area_m2(camera.zones[0]) == pytest.approx(100.0, rel=1e-4)
    with pytest.raises(ConfigError, match="polygon_m needs the camera's ground_points"):
        validate_config({"cameras": [{**CAMERA, "zones": [zone]}]}, VideoConfig)
    with pytest.raises(ConfigError, match="give one of polygon_px and polygon_m"):
        validate_config(
            {"cameras": [{**CAMERA, "zones": [{**zone, "polygon_px": [[0, 0], [1, 0], [0, 1]]}]}]},
            VideoConfig,
        )
