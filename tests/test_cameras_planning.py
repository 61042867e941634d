"""Camera configuration, PTZ geometry and cue planning: numbers and behaviour, with properties."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from ouie.cameras.config import (
    CameraConfig,
    CamerasConfig,
    CueingConfig,
    CueMode,
    PrivacyMask,
)
from ouie.cameras.geometry import (
    View,
    aim_at,
    camera_position_enu,
    ground_footprint,
    hfov_for_zoom,
    onvif_to_pan,
    onvif_to_tilt,
    pan_to_onvif,
    pixel_rays,
    project_points,
    tilt_to_onvif,
    zoom_for_hfov,
)
from ouie.cameras.planning import (
    MASK_TOLERANCE_M2,
    CameraHold,
    CueTarget,
    MaskDecision,
    buildings_enu,
    plan_camera,
    plan_cue,
)
from ouie.core.config import ConfigError, load_yaml_config, validate_config
from ouie.core.geo import LocalFrame
from ouie.sim.cameras.sites import cameras_from_scenario, load_cameras_config
from ouie.sim.scenario import Scenario, builtin_scenarios, load_scenario

FRAME = LocalFrame(45.4397, 4.3872, 500.0)

MARGIN = CueingConfig().frame_margin
"""The configured framing margin (one home: `CueingConfig.frame_margin`)."""


def at(east_m: float, north_m: float) -> tuple[float, float]:
    """WGS84 (lat, lon) of an ENU ground point of FRAME."""
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, FRAME.origin_height_m)
    return float(lat), float(lon)


def camera_at(east_m: float = 0.0, north_m: float = 0.0, **fields: object) -> CameraConfig:
    lat, lon = at(east_m, north_m)
    return CameraConfig.model_validate({"id": "c1", "lat": lat, "lon": lon} | fields)


def target_at(east_m: float, north_m: float, **fields: object) -> CueTarget:
    lat, lon = at(east_m, north_m)
    return CueTarget.model_validate({"lat": lat, "lon": lon} | fields)


def mask_rect(east0: float, north0: float, east1: float, north1: float, name: str) -> PrivacyMask:
    corners = [(east0, north0), (east1, north0), (east1, north1), (east0, north1), (east0, north0)]
    ring = [list(reversed(at(e, n))) for e, n in corners]
    return PrivacyMask(id=name, polygon={"type": "Polygon", "coordinates": [ring]})


def small_scenario() -> Scenario:
    """A street with two cameras and one 20 m block between the first camera and the square."""
    lat_c1, lon_c1 = at(0, 0)
    lat_c2, lon_c2 = at(200, 60)
    block = [list(reversed(at(e, n))) for e, n in [(40, -10), (60, -10), (60, 10), (40, 10)]]
    return Scenario.model_validate(
        {
            "name": "street",
            "origin": {"lat": FRAME.origin_lat_deg, "lon": FRAME.origin_lon_deg, "height_m": 500},
            "sensors": [{"id": "s1", "lat": lat_c1, "lon": lon_c1}],
            "cameras": [
                {"id": "c1", "lat": lat_c1, "lon": lon_c1, "heading_deg": 90},
                {"id": "c2", "lat": lat_c2, "lon": lon_c2, "heading_deg": 270},
            ],
            "buildings": [{"id": "block A", "footprint": block, "height_m": 20}],
        }
    )


# --- configuration -------------------------------------------------------------------------


def test_auto_without_legal_basis_and_dpia_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError) as refused:
        validate_config({"cueing": {"mode": "auto"}}, CamerasConfig, "cameras.yaml")
    message = str(refused.value)
    assert "cameras.yaml: cueing" in message
    assert "legal_basis" in message and "dpia" in message


def test_auto_with_only_a_legal_basis_names_the_missing_dpia() -> None:
    with pytest.raises(ConfigError) as refused:
        validate_config({"mode": "auto", "legal_basis": "arrêté 2026-12"}, CueingConfig)
    assert "missing: dpia" in str(refused.value)
    assert "legal_basis" not in str(refused.value).split("missing:")[1]


def test_cueing_is_off_by_default_and_auto_accepted_with_both() -> None:
    assert CueingConfig().mode is CueMode.OFF
    accepted = CueingConfig(mode=CueMode.AUTO, legal_basis="loi X art. 1", dpia="AIPD-2026-04")
    assert accepted.mode is CueMode.AUTO


def test_credentials_in_yaml_are_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        validate_config(
            {"cameras": [{"id": "c1", "lat": 45, "lon": 4, "password": "hunter2"}]}, CamerasConfig
        )
    assert "cameras.0" in str(refused.value) and "password" in str(refused.value)


def test_credentials_come_from_the_environment_and_never_show(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    camera = camera_at(username_env="CAM_USER", password_env="CAM_PASS")
    with pytest.raises(ConfigError, match="CAM_USER"):
        camera.credentials()
    monkeypatch.setenv("CAM_USER", "operator")
    monkeypatch.setenv("CAM_PASS", "s3cret-pw")
    credentials = camera.credentials()
    assert credentials.username == "operator"
    assert credentials.password.get_secret_value() == "s3cret-pw"
    assert "s3cret-pw" not in repr(credentials) and "s3cret-pw" not in str(credentials)


def test_credentials_from_a_secret_file(tmp_path: pytest.TempPathFactory) -> None:
    secret = tmp_path / "c1.secret"  # type: ignore[operator]
    secret.write_text("admin:pa:ss\n")
    credentials = camera_at(secret_file=secret).credentials()
    assert (credentials.username, credentials.password.get_secret_value()) == ("admin", "pa:ss")


def test_shared_masks_apply_to_every_camera_once() -> None:
    yard = mask_rect(0, 0, 10, 10, "yard").model_dump()
    own = mask_rect(50, 50, 60, 60, "own").model_dump()
    config = validate_config(
        {
            "masks": [yard],
            "cameras": [
                {"id": "a", "lat": 45, "lon": 4, "masks": [own]},
                {"id": "b", "lat": 45, "lon": 4, "masks": [yard]},
            ],
        },
        CamerasConfig,
    )
    assert [m.id for m in config.cameras[0].masks] == ["own", "yard"]
    assert [m.id for m in config.cameras[1].masks] == ["yard"]


@settings(max_examples=30, deadline=None)
@given(
    heading=st.floats(0, 359.9),
    height=st.floats(2, 30),
    mode=st.sampled_from(["off", "suggest"]),
    corners=st.lists(st.tuples(st.floats(-300, 300), st.floats(-300, 300)), min_size=0, max_size=3),
)
def test_a_cameras_file_round_trips_through_yaml(
    tmp_path_factory: pytest.TempPathFactory,
    heading: float,
    height: float,
    mode: str,
    corners: list[tuple[float, float]],
) -> None:
    masks = [
        mask_rect(e, n, e + 5, n + 5, f"m{i}").model_dump() for i, (e, n) in enumerate(corners)
    ]
    config = validate_config(
        {
            "cueing": {"mode": mode},
            "masks": masks[:1],
            "cameras": [
                {
                    "id": "c1",
                    "lat": 45.44,
                    "lon": 4.38,
                    "heading_deg": heading,
                    "height_m": height,
                    "masks": masks[1:],
                    "password_env": "P",
                    "username_env": "U",
                }
            ],
        },
        CamerasConfig,
    )
    path = tmp_path_factory.mktemp("yaml") / "cameras.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    again = load_yaml_config(path, CamerasConfig)
    assert again == config
    assert len(again.cameras[0].masks) == len(masks)  # the shared mask is not added twice


def test_a_cameras_file_without_cameras_takes_the_scenario_sites(tmp_path: Path) -> None:
    path = tmp_path / "cameras.yaml"
    path.write_text(
        yaml.safe_dump(
            {"cueing": {"mode": "suggest"}, "masks": [mask_rect(0, 0, 5, 5, "yard").model_dump()]}
        )
    )
    config = load_cameras_config(small_scenario(), path)
    assert config.cueing.mode is CueMode.SUGGEST
    assert [(c.id, [m.id for m in c.masks]) for c in config.cameras] == [
        ("c1", ["yard"]),
        ("c2", ["yard"]),
    ]
    assert load_cameras_config(small_scenario()).cueing.mode is CueMode.OFF


def test_saint_etienne_ships_masks_for_every_camera_and_cueing_off() -> None:
    if "saint-etienne" not in builtin_scenarios():
        pytest.skip("the saint-etienne scenario is not in this checkout")
    scenario = load_scenario("saint-etienne")
    config = load_cameras_config(scenario)
    assert config.cueing.mode is CueMode.OFF
    assert {c.id for c in config.cameras} == {c.id for c in scenario.cameras}
    blocks = buildings_enu(scenario.buildings, scenario.frame)
    for camera in config.cameras:
        assert len(camera.masks) == len(config.masks) >= 3
    for mask in config.masks:  # each band lies along a block's facade
        polygon = mask.enu_polygon(scenario.frame)
        assert min(block.polygon.distance(polygon) for block in blocks) < 0.5


def test_cameras_from_scenario_keep_site_and_heading() -> None:
    cameras = cameras_from_scenario(small_scenario())
    assert [c.id for c in cameras] == ["c1", "c2"]
    assert cameras[1].heading_deg == 270 and cameras[1].max_range_m == 400


# --- geometry --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    heading=st.floats(0, 359.99),
    distance=st.floats(5, 240),
    east0=st.floats(-500, 500),
    north0=st.floats(-500, 500),
)
def test_target_straight_along_heading_gives_pan_zero(
    heading: float, distance: float, east0: float, north0: float
) -> None:
    camera = camera_at(east0, north0, heading_deg=heading)
    bearing = np.radians(heading)
    target = target_at(east0 + distance * np.sin(bearing), north0 + distance * np.cos(bearing))
    option = plan_camera(camera, target, FRAME, margin=MARGIN)
    assert option.plan is not None
    assert abs(option.plan.pan_deg) < 1e-3
    assert abs(option.plan.onvif_pan) < 1e-5


@settings(max_examples=40, deadline=None)
@given(
    heading=st.floats(0, 359.99),
    distance=st.floats(10, 240),
    offsets=st.lists(st.integers(-1790, 1790), min_size=2, max_size=8, unique=True),
)
def test_moving_the_target_around_the_camera_moves_pan_monotonically(
    heading: float, distance: float, offsets: list[int]
) -> None:
    camera = camera_at(heading_deg=heading)
    offsets_deg = sorted(o / 10.0 for o in offsets)  # 0.1° apart at least
    pans = []
    for offset in offsets_deg:
        bearing = np.radians(heading + offset)
        option = plan_camera(
            camera,
            target_at(distance * np.sin(bearing), distance * np.cos(bearing)),
            FRAME,
            margin=MARGIN,
        )
        assert option.plan is not None
        pans.append(option.plan.pan_deg)
    assert all(b > a for a, b in itertools.pairwise(pans)), (offsets_deg, pans)
    assert np.allclose(pans, offsets_deg, atol=1e-3)


@settings(max_examples=60, deadline=None)
@given(pan=st.floats(-180, 180), tilt=st.floats(-90, 20), zoom=st.floats(0, 1))
def test_onvif_units_round_trip(pan: float, tilt: float, zoom: float) -> None:
    camera = camera_at()
    assert onvif_to_pan(camera, pan_to_onvif(camera, pan)) == pytest.approx(pan, abs=1e-9)
    assert onvif_to_tilt(camera, tilt_to_onvif(camera, tilt)) == pytest.approx(tilt, abs=1e-9)
    assert zoom_for_hfov(camera, hfov_for_zoom(camera, zoom)) == pytest.approx(zoom, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    bearing=st.floats(0, 359.9),
    tilt=st.floats(-60, 10),
    hfov=st.floats(2, 60),
    col=st.floats(0, 640),
    row=st.floats(0, 360),
    depth=st.floats(1, 300),
)
def test_projection_inverts_pixel_rays(
    bearing: float, tilt: float, hfov: float, col: float, row: float, depth: float
) -> None:
    view, origin = View(bearing, tilt, hfov), np.array([3.0, -2.0, 6.0])
    ray = pixel_rays(view, 640, 360, np.array([col]), np.array([row]))[0]
    pixels, in_front = project_points(origin + depth * ray, origin, view, 640, 360)
    assert in_front.all()
    assert pixels[0] == pytest.approx([col, row], abs=1e-6)


def test_framing_widens_for_a_larger_uncertainty_and_narrows_with_distance() -> None:
    camera = camera_at()
    origin = camera_position_enu(camera, FRAME)
    near, _ = aim_at(camera, origin, np.array([0.0, 80.0, 1.5]), 10.0, 1.3)
    wide, _ = aim_at(camera, origin, np.array([0.0, 80.0, 1.5]), 25.0, 1.3)
    far, _ = aim_at(camera, origin, np.array([0.0, 200.0, 1.5]), 10.0, 1.3)
    assert near.hfov_deg == pytest.approx(2 * np.degrees(np.arctan(13 / 80)))
    assert wide.hfov_deg > near.hfov_deg > far.hfov_deg
    assert near.tilt_deg == pytest.approx(-np.degrees(np.arctan(4.5 / 80)))


def test_footprint_of_a_downward_view_is_where_the_border_rays_land() -> None:
    origin = np.array([0.0, 0.0, 10.0])
    footprint = ground_footprint(origin, View(0.0, -45.0, 40.0), 400, 400, 1000.0)
    near_row = 10.0 / np.tan(np.radians(45 + 20))  # bottom edge hits the ground there (north)
    far_row = 10.0 / np.tan(np.radians(45 - 20))
    north = [y for _, y in footprint.exterior.coords]
    assert min(north) == pytest.approx(near_row, rel=0.02)
    assert max(north) == pytest.approx(far_row, rel=0.02)
    assert footprint.contains(Point(0.0, 10.0))


# --- planning --------------------------------------------------------------------------------


def test_a_building_blocks_the_sight_line_only_where_it_is_taller() -> None:
    scenario = small_scenario()
    buildings = buildings_enu(scenario.buildings, scenario.frame)
    cameras = cameras_from_scenario(scenario)
    decision = plan_cue(cameras, target_at(100, 0), scenario.frame, buildings, margin=MARGIN)
    verdicts = {o.camera_id: o for o in decision.options}
    assert not verdicts["c1"].usable and "block A" in verdicts["c1"].reason
    assert decision.plan is not None and decision.plan.camera_id == "c2"
    low = [b.__class__(b.id, b.polygon, 3.0) for b in buildings]  # a 3 m wall at 40–60 m
    assert plan_camera(cameras[0], target_at(100, 0), scenario.frame, low, margin=MARGIN).usable


def test_a_building_hiding_part_of_the_region_lowers_coverage_and_quality() -> None:
    from shapely.geometry import box

    from ouie.cameras.planning import BuildingShape

    camera, target = camera_at(), target_at(0, 100, radius_m=20)
    wall = BuildingShape("wall", box(3, 60, 40, 70), 30.0)  # east of the sight line to the centre
    clear = plan_camera(camera, target, FRAME, margin=MARGIN).plan
    partly = plan_camera(camera, target, FRAME, [wall], margin=MARGIN).plan
    assert clear is not None and partly is not None
    assert clear.coverage == pytest.approx(1.0)
    # Sample points east of x ≈ 3/0.7 … 3/0.6 m are behind the wall: about a third of the disc.
    assert 0.5 < partly.coverage < 0.8
    assert partly.quality < clear.quality


def test_out_of_range_and_busy_cameras_are_passed_over() -> None:
    scenario = small_scenario()
    cameras = cameras_from_scenario(scenario)
    far = plan_camera(cameras[0], target_at(0, 520), scenario.frame, margin=MARGIN)
    assert not far.usable and "out of range" in far.reason
    target = target_at(120, 40, incident_id="i2", severity=2)
    serious = {"c2": CameraHold("i1", severity=4)}
    assert not plan_camera(cameras[1], target, scenario.frame, holds=serious, margin=MARGIN).usable
    minor = {"c2": CameraHold("i1", severity=1)}
    assert plan_camera(cameras[1], target, scenario.frame, holds=minor, margin=MARGIN).usable


def test_the_nearer_camera_with_more_detail_is_chosen() -> None:
    scenario = small_scenario()
    cameras = cameras_from_scenario(scenario)
    decision = plan_cue(cameras, target_at(10, 80, radius_m=2), scenario.frame, margin=MARGIN)
    assert decision.plan is not None and decision.plan.camera_id == "c1"
    by_id = {o.camera_id: o.plan for o in decision.options if o.plan}
    assert by_id["c1"].px_per_m > by_id["c2"].px_per_m


def test_mask_behind_the_target_clips_zoom_then_pans_then_refuses() -> None:
    # Camera looks north at a target 60 m away, 4 m below and up to 250 m visible.
    camera = camera_at(max_range_m=250)
    target = target_at(0, 60, radius_m=8)
    side = camera.model_copy(update={"masks": [mask_rect(8, 90, 30, 110, "side yard")]})
    clipped = plan_camera(side, target, FRAME, margin=MARGIN)
    framed = plan_camera(camera, target, FRAME, margin=MARGIN)
    assert clipped.mask_decision in {MaskDecision.CLIPPED_ZOOM, MaskDecision.PANNED_AWAY}
    assert clipped.plan is not None and framed.plan is not None
    assert framed.mask_decision is MaskDecision.CLEAR
    assert clipped.plan.hfov_deg < framed.plan.hfov_deg or clipped.plan.pan_deg != 0
    behind = camera.model_copy(update={"masks": [mask_rect(-3, 70, 3, 80, "courtyard")]})
    refused = plan_camera(behind, target, FRAME, margin=MARGIN)
    assert not refused.usable and refused.mask_decision is MaskDecision.REFUSED
    inside = camera.model_copy(update={"masks": [mask_rect(-5, 55, 5, 65, "garden")]})
    assert "inside privacy mask garden" in plan_camera(inside, target, FRAME, margin=MARGIN).reason


@settings(max_examples=50, deadline=None)
@given(
    target_e=st.floats(-150, 150),
    target_n=st.floats(-150, 150),
    radius=st.floats(0, 30),
    masks=st.lists(
        st.tuples(st.floats(-200, 200), st.floats(-200, 200), st.floats(2, 40), st.floats(2, 40)),
        min_size=1,
        max_size=4,
    ),
)
def test_no_accepted_cue_footprint_covers_a_mask(
    target_e: float,
    target_n: float,
    radius: float,
    masks: list[tuple[float, float, float, float]],
) -> None:
    camera = camera_at(
        heading_deg=30.0,
        masks=[mask_rect(e, n, e + w, n + h, f"m{i}") for i, (e, n, w, h) in enumerate(masks)],
    )
    option = plan_camera(
        camera, target_at(target_e, target_n, radius_m=radius), FRAME, margin=MARGIN
    )
    if option.plan is None:
        return
    plan = option.plan
    footprint = ground_footprint(
        camera_position_enu(camera, FRAME),
        View(plan.bearing_deg, plan.tilt_deg, plan.hfov_deg),
        camera.image_width_px,
        camera.image_height_px,
        camera.max_range_m,
    )
    masked = sum(
        footprint.intersection(Polygon([(e, n), (e + w, n), (e + w, n + h), (e, n + h)])).area
        for e, n, w, h in masks
    )
    assert masked <= MASK_TOLERANCE_M2 * len(masks)
