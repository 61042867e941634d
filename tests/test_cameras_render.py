"""The virtual camera's picture: masks blacked out, buildings hide what is behind them."""

from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon

from ouie.cameras.geometry import View
from ouie.cameras.planning import BuildingShape, MaskShape
from ouie.sim.cameras.render import Mark, Scene, render_view

CAMERA = np.array([0.0, 0.0, 8.0])
NORTH_DOWN = View(bearing_deg=0.0, tilt_deg=-8.0, hfov_deg=30.0)


def pixels(scene: Scene, view: View = NORTH_DOWN) -> np.ndarray:
    return np.asarray(render_view(scene, CAMERA, view, 320, 180)).astype(int)


def black(image: np.ndarray) -> int:
    return int((image.sum(axis=-1) == 0).sum())


def red(image: np.ndarray) -> int:
    return int(((image[..., 0] > 200) & (image[..., 1] < 60) & (image[..., 2] < 60)).sum())


def test_a_mask_in_view_is_blacked_out_and_one_behind_the_camera_is_not() -> None:
    ahead = MaskShape("yard", Polygon([(-5, 40), (5, 40), (5, 60), (-5, 60)]))
    behind = MaskShape("yard", Polygon([(-5, -60), (5, -60), (5, -40), (-5, -40)]))
    assert black(pixels(Scene(masks=[behind]))) == 0
    masked = black(pixels(Scene(masks=[ahead])))
    # The yard spans ±7° of the 30° view and its near/far edges sit 3.7° apart vertically.
    assert 0.02 * 320 * 180 < masked < 0.2 * 320 * 180


def test_the_source_is_marked_in_view_and_hidden_behind_a_building() -> None:
    source = Mark((0.0, 80.0, 1.5), "gunshot")
    assert red(pixels(Scene(marks=[source]))) > 30
    assert red(pixels(Scene(marks=[source]), View(90.0, -8.0, 30.0))) == 0  # looking east
    wall = BuildingShape("block", Polygon([(-20, 40), (20, 40), (20, 50), (-20, 50)]), 20.0)
    hidden = pixels(Scene(buildings=[wall], marks=[source]))
    assert red(hidden) == 0
    assert not np.array_equal(hidden, pixels(Scene(marks=[source])))
