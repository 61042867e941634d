"""`ouie cue`: the plan as a table, and --execute under the cue-mode rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from ouie.app.cue_commands import register
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


def test_cue_json_is_the_planner_decision(scenario_file: Path) -> None:
    from ouie.cameras.planning import CueDecision

    code, output = run(*target_args(scenario_file), "--json")
    assert code == 0, output
    decision = CueDecision.model_validate_json(output)
    assert decision.plan is not None and decision.plan.camera_id == "cam-north"
    assert {o.camera_id: o.usable for o in decision.options} == {
        "cam-north": True,
        "cam-east": False,
    }


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


def test_executed_cues_go_into_the_hash_chained_audit_trail(
    scenario_file: Path, tmp_path: Path
) -> None:
    from ouie.store.audit import AuditChain
    from ouie.store.database import make_engine

    url = f"sqlite:///{tmp_path / 'ouie.db'}"
    args = [*target_args(scenario_file), "--execute", "--mode", "suggest", "--approved-by", "eve"]
    code, output = run(*args, "--db", url)
    assert code == 0, output
    chain = AuditChain(make_engine(url))
    assert chain.verify() == []
    actions = [(entry["action"], entry["actor"]) for entry in chain.entries()]
    assert ("camera.cue_approved", "eve") in actions and ("camera.move", "eve") in actions
    code, output = run(*args, "--real")
    assert code == 3 and "--db" in output


def test_virtual_cameras_serve_a_scenario_that_cue_reaches_as_real_cameras(
    scenario_file: Path, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys
    import time

    config, secret = tmp_path / "served.yaml", tmp_path / "served.secret"
    command = "from ouie.cli import main; main()"
    options = ["--write-config", str(config), "--secret-file", str(secret), "--for-s", "60"]
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            command,
            "virtual-cameras",
            "--scenario",
            str(scenario_file),
            *options,
        ],
        stdout=subprocess.DEVNULL,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        deadline = time.monotonic() + 60
        while not config.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert config.exists(), "the virtual cameras did not start"
        assert secret.stat().st_mode & 0o077 == 0
        assert secret.read_text().strip() not in config.read_text()
        url = f"sqlite:///{tmp_path / 'ouie.db'}"
        code, output = run(
            *target_args(scenario_file),
            "--cameras",
            str(config),
            "--real",
            "--db",
            url,
            "--execute",
            "--mode",
            "suggest",
            "--approved-by",
            "zoe",
        )
        assert code == 0, output
        assert "confirmed cam-north" in output
    finally:
        server.terminate()
        server.wait(timeout=10)
