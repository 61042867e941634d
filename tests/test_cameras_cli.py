"""`ouie cue`: the plan as a table, and --execute under the cue-mode rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from ouie.cameras.commands import register
from ouie.core.geo import LocalFrame

FRAME = LocalFrame(45.4397, 4.3872, 520.0)


def lon_lat(east_m: float, north_m: float) -> list[float]:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, FRAME.origin_height_m)
    return [float(lon), float(lat)]


@pytest.fixture()
def scenario_file(tmp_path: Path) -> Path:
    """Two cameras on a street; a block hides the target from cam-east."""

    def site(name: str, east: float, north: float, heading: float) -> dict[str, object]:
        lon, lat = lon_lat(east, north)
        return {"id": name, "lat": lat, "lon": lon, "height_m": 8, "heading_deg": heading}

    block = [lon_lat(e, n) for e, n in [(60, -20), (90, -20), (90, 20), (60, 20)]]
    scenario = {
        "name": "street",
        "origin": {"lat": 45.4397, "lon": 4.3872, "height_m": 520},
        "sensors": [{"id": "s1", "lat": 45.4397, "lon": 4.3872}],
        "cameras": [site("cam-north", 0, 120, 180), site("cam-east", 150, 0, 270)],
        "buildings": [{"id": "block A", "footprint": block, "height_m": 18}],
    }
    path = tmp_path / "street.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def run(*args: str) -> tuple[int, str]:
    app = typer.Typer()

    @app.callback()
    def _group() -> None:
        """A group, so that `cue` is a subcommand as in `ouie cue`."""

    register(app)
    result = CliRunner().invoke(app, ["cue", *args], env={"COLUMNS": "220"})
    return result.exit_code, result.output


def target_args(scenario_file: Path) -> list[str]:
    lon, lat = lon_lat(10, 0)
    return ["--scenario", str(scenario_file), "--lat", str(lat), "--lon", str(lon)]


def test_cue_prints_camera_angles_onvif_units_and_mask_decision(
    scenario_file: Path, tmp_path: Path
) -> None:
    plot = tmp_path / "map.png"
    code, output = run(*target_args(scenario_file), "--radius-m", "15", "--plot", str(plot))
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert code == 0, output
    chosen = next(line for line in output.splitlines() if "◀" in line)
    assert "cam-north" in chosen and "clear" in chosen
    pan, tilt = (float(v) for v in re.findall(r"[+-]\d+\.\d(?=\s)", chosen)[:2])
    assert pan == pytest.approx(-4.8, abs=0.2)  # atan(10/120) west of south
    assert tilt == pytest.approx(-3.1, abs=0.2)  # atan(6.5/120.4) down
    assert re.search(r"[+-]0\.0\d{3}, \+0\.\d{4}, 0\.\d{4}", chosen)
    blocked = next(line for line in output.splitlines() if line.startswith("│ cam-east"))
    assert "block A" in blocked and "cue mode: off" in output


def test_execute_is_refused_when_off_and_in_suggest_without_a_person(scenario_file: Path) -> None:
    code, output = run(*target_args(scenario_file), "--execute")
    assert code == 3 and "cue mode is off" in output
    code, output = run(*target_args(scenario_file), "--execute", "--mode", "suggest")
    assert code == 3 and "--approved-by" in output
    code, output = run(*target_args(scenario_file), "--execute", "--mode", "auto")
    assert code == 2 and "legal_basis" in output and "dpia" in output


def test_execute_with_approval_moves_the_virtual_camera_and_saves_a_snapshot(
    scenario_file: Path, tmp_path: Path
) -> None:
    snapshot = tmp_path / "after.png"
    code, output = run(
        *target_args(scenario_file),
        "--execute",
        "--mode",
        "suggest",
        "--approved-by",
        "alice",
        "--snapshot",
        str(snapshot),
    )
    assert code == 0, output
    confirmed = re.search(r"confirmed cam-north: pan ([+-]\d+\.\d+)°", output)
    assert confirmed and float(confirmed.group(1)) == pytest.approx(-4.76, abs=0.1)
    assert "camera.cue_approved" in output and "alice" in output
    assert snapshot.read_bytes().startswith(b"\x89PNG")
