"""The built-in scenarios' cameras: a cameras file per scenario name (`sites/{name}.yaml`), or the
scenario's camera sites with default PTZ calibration."""

from __future__ import annotations

from pathlib import Path

from ouie.cameras.config import CameraConfig, CamerasConfig, camera_from_site
from ouie.core.config import load_yaml_config, validate_config
from ouie.sim.scenario import Scenario

SITES_DIR = Path(__file__).parent / "sites"
"""Built-in cameras files, one per scenario name (`{scenario}.yaml`)."""


def cameras_from_scenario(scenario: Scenario) -> list[CameraConfig]:
    """Camera configs for every camera site of `scenario` (see `camera_from_site`)."""
    return [camera_from_site(site) for site in scenario.cameras]


def load_cameras_config(scenario: Scenario, path: str | Path | None = None) -> CamerasConfig:
    """The cameras configuration for `scenario`: the file at `path`, else the built-in
    `sites/{scenario.name}.yaml` when there is one, else cueing off. A file whose `cameras` list
    is empty takes the scenario's camera sites (see `camera_from_site`)."""
    if path is None and (SITES_DIR / f"{scenario.name}.yaml").is_file():
        path = SITES_DIR / f"{scenario.name}.yaml"
    config = load_yaml_config(path, CamerasConfig) if path is not None else CamerasConfig()
    if config.cameras:
        return config
    sites = [camera.model_dump() for camera in cameras_from_scenario(scenario)]
    return validate_config(
        config.model_dump() | {"cameras": sites}, CamerasConfig, str(path or scenario.name)
    )
