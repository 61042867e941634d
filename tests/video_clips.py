"""A synthetic camera scene for the ouie.video tests: two walkers crossing a line and a zone."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import yaml

from ouie.app.config import CityConfig
from ouie.console.config import ConsoleConfig
from ouie.core.recording import SensorSite, sensors_geojson
from ouie.core.site import Origin

FPS = 10
WIDTH, HEIGHT = 320, 240
PERSON_W, PERSON_H = 14, 40
FEET_Y = 180

CAMERA = {
    "id": "synthetic",
    "analysis_fps": 5,
    "person_scale": {"near_y_px": 200, "near_height_px": 46, "far_y_px": 100, "far_height_px": 46},
    "zones": [
        {
            "id": "right",
            "polygon_px": [[200, 120], [320, 120], [320, 240], [200, 240]],
            "events": ["intrusion", "density"],
            "min_dwell_s": 1.0,
            "ground_area_m2": 10,
            "max_people_per_m2": 0.05,
            "min_density_s": 1.0,
        }
    ],
    "lines": [
        {"id": "mid", "a_px": [160, 100], "b_px": [160, 230], "allowed_direction_px": [1, 0]}
    ],
}
DECLARED = {"enabled": True, "legal_basis": "test", "dpia": "test", "cameras": [CAMERA]}


def walker_x(t_s: float) -> list[float]:
    """Where walkers' left edges are at t: one walks right from 2 s, one walks left from 8 s,
    both at 60 px/s."""
    xs = []
    if 2.0 <= t_s <= 6.5:
        xs.append(20 + 60 * (t_s - 2.0))
    if 8.0 <= t_s <= 12.5:
        xs.append(290 - 60 * (t_s - 8.0))
    return xs


def write_walkers_clip(path: Path) -> Path:
    """14 s of the synthetic scene at 10 frames/s, MJPEG in AVI: a textured ground, a dark
    elliptic walker going right, then one going left."""
    rng = np.random.default_rng(7)
    ground = cv2.GaussianBlur(rng.integers(90, 170, (HEIGHT, WIDTH, 3), dtype=np.uint8), (5, 5), 0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    for index in range(14 * FPS):
        image = ground.copy()
        for x in walker_x(index / FPS):
            centre = (round(x) + PERSON_W // 2, FEET_Y - PERSON_H // 2)
            cv2.ellipse(image, centre, (PERSON_W // 2, PERSON_H // 2), 0, 0, 360, (30, 30, 40), -1)
        writer.write(image)
    writer.release()
    return path


def city_with_video(tmp_path: Path, video: dict[str, object]) -> CityConfig:
    """A city with one sensor, an in-process bus, SQLite, the console, and `video` as its
    video_file."""
    sensors = tmp_path / "sensors.geojson"
    sites = [SensorSite(id="s0", lat=45.44, lon=4.39)]
    sensors.write_text(json.dumps(sensors_geojson(sites)), encoding="utf-8")
    video_file = tmp_path / "video.yaml"
    video_file.write_text(yaml.safe_dump(video), encoding="utf-8")
    return CityConfig(
        name="test-city",
        origin=Origin(lat=45.44, lon=4.39, height_m=500.0),
        database_url=f"sqlite:///{tmp_path / 'ouie.db'}",
        transport="inprocess",
        sensors_file=sensors,
        video_file=video_file,
        console=ConsoleConfig(),
    )
