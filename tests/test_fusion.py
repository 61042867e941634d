"""Fusion: association of streamed reports and TDOA localization, on reports synthesised from
geometry (so that the truth is known exactly)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.recording import SensorSite
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S, iso_to_ns
from ouie.fusion.association import Associator, classes_compatible
from ouie.fusion.config import FusionConfig
from ouie.fusion.localization import sensor_positions_enu_m
from ouie.fusion.multilateration import (
    ellipse_95,
    level_consistent_fix,
    radius_95,
    subset_fix,
    travel_times_s,
)
from ouie.fusion.synthetic import SYNTHETIC_MODEL

FRAME = LocalFrame(45.4397, 4.3872, 520.0)
CONFIG = FusionConfig()
FOUR_FOR_PROVISIONAL = CONFIG.model_copy(update={"provisional_exact_max_radius_m": 0.0})
"""No provisional incident from three sensors: tests of the waiting window itself."""
C = CONFIG.speed_of_sound_mps
T0 = iso_to_ns("2026-06-21T21:00:00Z")
SQUARE_EN = [(-100.0, -100.0), (100.0, -100.0), (100.0, 100.0), (-100.0, 100.0), (0.0, 0.0)]


def sites(points_en: list[tuple[float, float]], height_m: float = 4.0) -> list[SensorSite]:
    """Sensors at (east, north) points of FRAME, named s0, s1, ..."""
    out = []
    for index, (east, north) in enumerate(points_en):
        lat, lon, _ = FRAME.to_wgs84(east, north, 0.0)
        out.append(SensorSite(id=f"s{index}", lat=float(lat), lon=float(lon), height_m=height_m))
    return out


def reports_for(
    sensors: list[SensorSite],
    source_en: tuple[float, float],
    jitter_s: float = 0.0,
    extra_delay_s: dict[str, float] | None = None,
    cls: EventClass = EventClass.GUNSHOT,
    rng: np.random.Generator | None = None,
    emission_ns: int = T0,
) -> list[EventReport]:
    """One report per sensor: onset = emission + ‖p − sᵢ‖/c (+ jitter, + extra delay)."""
    positions = sensor_positions_enu_m(sensors, FRAME)
    rng = rng or np.random.default_rng(0)
    out = []
    for seq, site in enumerate(sensors):
        delay = travel_times_s(
            np.asarray(source_en), positions[site.id][None, :], CONFIG.source_height_m, C
        )[0]
        delay += rng.normal(0.0, jitter_s) if jitter_s else 0.0
        delay += (extra_delay_s or {}).get(site.id, 0.0)
        out.append(
            EventReport(
                report_id=f"r-{site.id}-{emission_ns}",
                sensor_id=site.id,
                seq=seq,
                class_=cls,
                score=0.9,
                onset_ns=emission_ns + round(delay * NS_PER_S),
                onset_uncertainty_s=max(jitter_s, 1e-5),
                duration_s=0.2,
                peak_dbfs=-10.0,
                model=SYNTHETIC_MODEL,
            )
        )
    return out


def latest_revisions(incidents: list[Incident]) -> list[Incident]:
    """The last revision of each incident (what the store keeps), in order of first emission."""
    latest: dict[str, Incident] = {}
    for incident in incidents:
        latest[incident.incident_id] = incident
    return list(latest.values())


def fuse(sensors: list[SensorSite], reports: list[EventReport]) -> list[Incident]:
    """Stream reports into a fresh associator (arrival = onset + 0.1 s), flush, and keep the
    last revision of each incident."""
    associator = Associator(sensors, FRAME, CONFIG)
    out = []
    for report in reports:
        out += associator.add(report, report.onset_ns + NS_PER_S // 10)
    return latest_revisions(out + associator.flush())


def error_m(incident: Incident, source_en: tuple[float, float]) -> float:
    assert incident.east_m is not None and incident.north_m is not None
    return float(np.hypot(incident.east_m - source_en[0], incident.north_m - source_en[1]))


@settings(max_examples=40, deadline=None)
@given(
    east=st.floats(-95, 95),
    north=st.floats(-95, 95),
    order=st.permutations(range(len(SQUARE_EN))),
)
def test_noiseless_onsets_give_the_source_back_to_centimetres_in_any_order(
    east: float, north: float, order: list[int]
) -> None:
    sensors = sites(SQUARE_EN)
    reports = reports_for(sensors, (east, north))
    (incident,) = fuse(sensors, [reports[i] for i in order])
    (reference,) = fuse(sensors, reports)
    assert incident.status == IncidentStatus.FIX
    assert error_m(incident, (east, north)) < 0.02
    assert abs(incident.onset_ns - T0) < 20_000
    # The last revision is the same whatever the order; how many revisions led to it is not
    # (a provisional incident is emitted early only when the first reports' geometry allows).
    assert incident.model_dump(exclude={"incident_id", "revision"}) == reference.model_dump(
        exclude={"incident_id", "revision"}
    )


def test_three_sensors_give_a_fix_with_sensor_heights_taken_into_account() -> None:
    sensors = sites(SQUARE_EN[:3], height_m=12.0)
    (incident,) = fuse(sensors, reports_for(sensors, (40.0, -30.0)))
    assert incident.status == IncidentStatus.FIX and incident.n_sensors == 3
    assert error_m(incident, (40.0, -30.0)) < 0.02


def test_two_sensors_give_a_hyperbola_and_no_point() -> None:
    sensors = sites(SQUARE_EN[:2])
    (incident,) = fuse(sensors, reports_for(sensors, (-60.0, 30.0)))
    assert incident.status == IncidentStatus.HYPERBOLA
    assert incident.lat is None and incident.uncertainty_m is None
    assert incident.hyperbola is not None and incident.hyperbola.near_sensor_id == "s0"
    # every point of the branch has the measured range difference
    positions = sensor_positions_enu_m(sensors, FRAME)
    points = FRAME.to_enu(*np.array(incident.hyperbola.points).T, FRAME.origin_height_m)[:, :2]
    difference = np.linalg.norm(points - positions["s1"][:2], axis=1) - np.linalg.norm(
        points - positions["s0"][:2], axis=1
    )
    assert difference == pytest.approx(incident.hyperbola.range_difference_m, abs=0.5)
    true_difference = float(np.hypot(160, 130) - np.hypot(40, 130))  # source (-60, 30)
    assert incident.hyperbola.range_difference_m == pytest.approx(true_difference, abs=0.3)


def test_one_sensor_gives_a_single_incident_at_that_sensor() -> None:
    sensors = sites(SQUARE_EN)
    (incident,) = fuse(sensors, reports_for(sensors, (0.0, 5.0))[4:])
    assert incident.status == IncidentStatus.SINGLE
    assert incident.sensors_used == ["s4"]
    assert incident.uncertainty_m == CONFIG.single_sensor_radius_m


def test_a_late_nlos_path_is_rejected_and_named() -> None:
    sensors = sites([*SQUARE_EN, (0.0, -150.0)])
    source = (30.0, 40.0)
    reports = reports_for(
        sensors, source, jitter_s=0.0003, extra_delay_s={"s2": 0.012}, rng=np.random.default_rng(3)
    )
    (incident,) = fuse(sensors, reports)
    assert [r.sensor_id for r in incident.sensors_rejected] == ["s2"]
    assert "late" in incident.sensors_rejected[0].reason
    assert error_m(incident, source) < 0.5


def test_duplicates_are_ignored_and_out_of_order_arrivals_are_handled() -> None:
    sensors = sites(SQUARE_EN)
    reports = reports_for(sensors, (10.0, 20.0))
    associator = Associator(sensors, FRAME, CONFIG)
    arrival = max(r.onset_ns for r in reports) + NS_PER_S // 10
    out = []
    for report in [*reversed(reports), reports[0], reports[3]]:
        out += associator.add(report, arrival)
    out = latest_revisions(out + associator.flush())
    assert len(out) == 1 and out[0].n_sensors == 5
    assert associator.stats.duplicates == 2


def test_unknown_sensors_are_rejected_with_a_reason_and_counted() -> None:
    sensors = sites(SQUARE_EN)
    stranger = reports_for(sites([(0.0, 0.0)]), (0.0, 0.0))[0].model_copy(
        update={"sensor_id": "ghost", "report_id": "from-ghost"}
    )
    associator = Associator(sensors, FRAME, CONFIG)
    assert associator.add(stranger, stranger.onset_ns) == []
    assert associator.stats.rejected["unknown_sensor"] == 1
    assert associator.recent_rejections[-1] == ("from-ghost", "unknown sensor id 'ghost'")


def test_window_closes_on_poll_and_a_late_report_updates_the_incident() -> None:
    sensors = sites(SQUARE_EN)
    reports = reports_for(sensors, (-20.0, 50.0))
    associator = Associator(sensors, FRAME, FOUR_FOR_PROVISIONAL)
    for report in reports[:3]:
        assert associator.add(report, report.onset_ns + NS_PER_S // 10) == []
    closes_ns = min(r.onset_ns for r in reports[:3]) + associator.window_ns(EventClass.GUNSHOT)
    assert associator.poll(closes_ns - 1) == []
    (first,) = associator.poll(closes_ns)
    assert first.revision == 1 and first.n_sensors == 3
    (updated,) = associator.add(reports[3], T0 + 5 * NS_PER_S)
    assert updated.incident_id == first.incident_id and updated.revision == 2
    assert updated.n_sensors == 4
    assert associator.flush() == []


def test_incompatible_classes_and_impossible_delays_make_separate_incidents() -> None:
    sensors = sites(SQUARE_EN)
    gunshots = reports_for(sensors, (0.0, 0.0))
    scream = reports_for(sensors[:1], (0.0, 0.0), cls=EventClass.SCREAM, emission_ns=T0 + 1)[0]
    too_late = reports_for(sensors[1:2], (0.0, 0.0), emission_ns=T0 + NS_PER_S)[0]
    incidents = fuse(sensors, [*gunshots[2:], scream, too_late])
    sounds = [s for i in incidents for s in (i.burst.shots if i.burst else [i])]
    assert sorted(len(s.sensors_used) for s in sounds) == [1, 1, 3]
    # The gunshot 1 s later at the same sensor is a repeat: one alert, its two sounds apart.
    assert sorted(i.n_sensors for i in incidents) == [1, 3]
    assert classes_compatible(EventClass.GUNSHOT, EventClass.FIREWORKS)
    assert not classes_compatible(EventClass.GUNSHOT, EventClass.SCREAM)


def test_memory_is_bounded_and_nothing_is_lost() -> None:
    sensors = sites(SQUARE_EN)
    config = CONFIG.model_copy(update={"max_open_incidents": 4})
    associator = Associator(sensors, FRAME, config)
    out = []
    for k in range(10):
        (report,) = reports_for(sensors[:1], (0.0, 0.0), emission_ns=T0 + k * 10 * NS_PER_S)
        out += associator.add(report, T0)  # a clock that never advances: only eviction emits
    assert len(associator._candidates) <= 4
    assert len(out) + len(associator.flush()) == 10


def test_95_percent_ellipse_is_calibrated_on_noisy_onsets() -> None:
    sensors = sites(SQUARE_EN)
    rng = np.random.default_rng(11)
    inside = []
    for _ in range(300):
        source = (float(rng.uniform(-90, 90)), float(rng.uniform(-90, 90)))
        (incident,) = fuse(sensors, reports_for(sensors, source, jitter_s=0.0005, rng=rng))
        error = np.array([incident.east_m, incident.north_m]) - np.array(source)
        inverse = np.linalg.inv(np.asarray(incident.covariance_m2))
        inside.append(error @ inverse @ error <= 5.991)
    assert 0.91 <= np.mean(inside) <= 0.99


def test_radius_95_holds_95_percent_of_gaussian_draws_and_ellipse_axes_follow_eigenvectors() -> (
    None
):
    covariance = np.array([[4.0, 1.5], [1.5, 1.0]])
    draws = np.random.default_rng(5).multivariate_normal([0, 0], covariance, 200_000)
    radius = radius_95(covariance)
    assert np.mean(np.linalg.norm(draws, axis=1) <= radius) == pytest.approx(0.95, abs=0.003)
    major, minor, bearing = ellipse_95(np.diag([1.0, 9.0]))
    assert (major, minor, bearing) == pytest.approx((3 * 2.4477, 2.4477, 0.0), abs=1e-3)
    assert ellipse_95(np.diag([9.0, 1.0]))[2] == pytest.approx(90.0)


def test_three_onsets_with_two_exact_solutions_are_resolved_by_the_peak_levels() -> None:
    sensors = np.array([[-100.0, -100.0, 4.0], [100.0, -100.0, 4.0], [100.0, 100.0, 4.0]])
    source, mirror = np.array([-300.0, -150.0]), np.array([-121.3, -87.8])
    onsets = travel_times_s(source, sensors, CONFIG.source_height_m, C)
    sigmas = np.full(3, 1e-4)
    wrong = subset_fix(np.array([*mirror, 0.0]), np.ones(3, bool), sensors, onsets, sigmas, 1.5, C)
    assert np.hypot(wrong.east_m - mirror[0], wrong.north_m - mirror[1]) < 1.0
    assert np.abs(wrong.normalized_residuals).max() < 0.01  # both fit the onsets exactly

    def levels(at: np.ndarray) -> np.ndarray:
        return -20 * np.log10(np.linalg.norm(sensors - np.array([*at, 1.5]), axis=1))

    chosen = level_consistent_fix(wrong, sensors, onsets, sigmas, C, CONFIG, levels(source))
    assert np.hypot(chosen.east_m - source[0], chosen.north_m - source[1]) < 0.05
    kept = level_consistent_fix(wrong, sensors, onsets, sigmas, C, CONFIG, levels(mirror))
    assert np.hypot(kept.east_m - mirror[0], kept.north_m - mirror[1]) < 1.0


def test_an_onset_too_early_for_the_class_hearing_range_is_not_associated() -> None:
    sensors = sites([*SQUARE_EN, (700.0, 0.0)])
    glass = reports_for(sensors, (0.0, 0.0), cls=EventClass.GLASS_BREAK)
    far = glass[5].model_copy(update={"onset_ns": glass[4].onset_ns - 6 * NS_PER_S // 5})
    incidents = fuse(sensors, [*glass[:5], far])
    assert sorted(i.n_sensors for i in incidents) == [1, 5]
    assert 700 / C > 1.2 > CONFIG.range_m(EventClass.GLASS_BREAK) / C + 0.1  # the rule at work


def test_a_burst_of_shots_with_missed_detections_keeps_each_shot_located_apart() -> None:
    ring = [(500 * np.cos(a), 500 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 8, False)]
    sensors = sites([(0.0, 0.0), *ring])
    source = (300.0, 100.0)  # arrivals spread over 2 s, shots 0.25 s apart
    missed = {0: {"s4", "s5"}, 1: {"s6"}, 2: set()}
    shots = [
        [
            r
            for r in reports_for(sensors, source, jitter_s=0.0002, emission_ns=T0 + k * 250_000_000)
            if r.sensor_id not in missed[k]
        ]
        for k in range(3)
    ]
    (alert,) = fuse(sensors, [r for shot in shots for r in shot])
    assert alert.burst is not None and alert.n_sensors == 9  # placed by its best shot
    assert [len(s.sensors_used) for s in alert.burst.shots] == [7, 8, 9]
    assert len(alert.report_ids) == 24
    for k, shot in enumerate(alert.burst.shots):
        assert len(shot.report_ids) == len(shot.sensors_used)  # no report of another shot
        assert np.hypot(shot.east_m - source[0], shot.north_m - source[1]) < 0.3
        assert abs(shot.onset_ns - (T0 + k * 250_000_000)) < 1_000_000


@settings(max_examples=25, deadline=None)
@given(
    east=st.floats(-95, 95),
    north=st.floats(-95, 95),
    n_sensors=st.sampled_from([1, 2, 3, 5]),
)
def test_incidents_round_trip_through_their_json(east: float, north: float, n_sensors: int) -> None:
    sensors = sites(SQUARE_EN[:n_sensors])
    (incident,) = fuse(sensors, reports_for(sensors, (east, north), jitter_s=0.0003))
    wire = incident.to_json()
    assert Incident.from_json(wire) == incident
    assert {"class", "onset_utc", "lat", "lon", "uncertainty_m", "n_sensors"} <= set(
        json.loads(wire)
    )


def test_a_localization_failure_is_counted_and_the_incident_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ouie.fusion.association as association

    real = association.locate_reports

    def failing(reports, *args, **kwargs):  # type: ignore[no-untyped-def]
        if len(reports) > 1:
            raise np.linalg.LinAlgError("singular matrix")
        return real(reports, *args, **kwargs)

    monkeypatch.setattr(association, "locate_reports", failing)
    sensors = sites(SQUARE_EN)
    associator = Associator(sensors, FRAME, CONFIG)
    out = []
    for report in reports_for(sensors, (0.0, 0.0)):
        out += associator.add(report, report.onset_ns)
    (incident,) = latest_revisions(out + associator.flush())
    assert incident.status == IncidentStatus.SINGLE and incident.sensors_used == ["s4"]
    # Fits at three (provisional), four and five reports: each failed, each counted.
    assert associator.stats.rejected["localization_failed"] == 3
