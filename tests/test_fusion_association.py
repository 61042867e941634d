"""Association emits a provisional incident as soon as its reports give a trustworthy fix, then
revises it (same id, revision + 1) while its window is open; and keeps the shots of a volley
apart. Reports are synthesised from geometry, so the truth is known exactly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ouie.core.classes import EventClass
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S
from ouie.fusion.association import Associator
from ouie.fusion.synthetic import Delivery, ReportNoise, synthesize_deliveries, truth_event
from tests.test_fusion import (
    CONFIG,
    FOUR_FOR_PROVISIONAL,
    FRAME,
    SQUARE_EN,
    T0,
    C,
    error_m,
    latest_revisions,
    reports_for,
    sites,
)

SOURCE_EN = (-20.0, 50.0)
HEXAGON_EN = [*SQUARE_EN, (0.0, 150.0)]


def stream(associator: Associator, reports, latency_ns: int = NS_PER_S // 10):  # type: ignore[no-untyped-def]
    """Per report (in the given order), what `add` returned when it arrived at onset + latency."""
    return [associator.add(r, r.onset_ns + latency_ns) for r in reports]


def test_four_consistent_reports_emit_a_provisional_incident_before_the_window_closes() -> None:
    sensors = sites(SQUARE_EN)
    reports = sorted(reports_for(sensors, SOURCE_EN, jitter_s=0.0002), key=lambda r: r.onset_ns)
    associator = Associator(sensors, FRAME, FOUR_FOR_PROVISIONAL)
    emitted = stream(associator, reports[:4])
    assert emitted[:3] == [[], [], []]  # three onsets fit exactly: nothing to check them with
    (provisional,) = emitted[3]
    closes_ns = reports[0].onset_ns + associator.window_ns(EventClass.GUNSHOT)
    assert reports[3].onset_ns + NS_PER_S // 10 < closes_ns - NS_PER_S  # > 1 s early
    assert provisional.revision == 1 and provisional.status == IncidentStatus.FIX
    assert provisional.n_sensors == 4 and error_m(provisional, SOURCE_EN) < 1.0


def test_without_provisional_incidents_nothing_is_emitted_before_the_window_closes() -> None:
    sensors = sites(SQUARE_EN)
    reports = reports_for(sensors, SOURCE_EN)
    config = CONFIG.model_copy(update={"provisional_incidents": False})
    associator = Associator(sensors, FRAME, config)
    assert stream(associator, reports) == [[]] * len(reports)
    (incident,) = associator.poll(
        min(r.onset_ns for r in reports) + associator.window_ns(EventClass.GUNSHOT)
    )
    assert incident.n_sensors == 5


def test_a_later_report_revises_the_provisional_incident_under_the_same_id() -> None:
    sensors = sites(SQUARE_EN)
    reports = sorted(reports_for(sensors, SOURCE_EN), key=lambda r: r.onset_ns)
    associator = Associator(sensors, FRAME, CONFIG)
    *_, (provisional,), (revised,) = stream(associator, reports)
    assert revised.incident_id == provisional.incident_id
    assert (revised.revision, revised.n_sensors) == (3, 5)  # emitted at 3, revised at 4, 5
    closes_ns = reports[0].onset_ns + associator.window_ns(EventClass.GUNSHOT)
    assert associator.poll(closes_ns) == []  # already emitted: the window closes silently
    assert associator.flush() == []


def test_an_inconsistent_set_of_four_waits_for_the_window() -> None:
    sensors = sites(SQUARE_EN)
    late = {"s1": 0.012}  # a non-line-of-sight path: four onsets that no single point explains
    reports = reports_for(sensors[:4], SOURCE_EN, extra_delay_s=late)
    associator = Associator(sensors, FRAME, FOUR_FOR_PROVISIONAL)
    assert stream(associator, reports) == [[]] * 4
    (incident,) = associator.flush()
    assert incident.sensors_rejected and incident.sensors_rejected[0].sensor_id == "s1"


def test_three_reports_emit_early_only_where_their_exact_fix_is_unambiguous() -> None:
    """Inside the triangle of the first three sensors the exact fix has one solution: it is
    emitted on the third report, well inside the window. Far outside it two positions fit the
    three onsets (`mirror_fix`): the incident waits for a fourth."""
    sensors = sites(SQUARE_EN)
    inside = sorted(reports_for(sensors, (30.0, -50.0)), key=lambda r: r.sensor_id)[:3]
    associator = Associator(sensors, FRAME, CONFIG)
    *before, (early,) = stream(associator, inside)
    assert before == [[], []] and early.n_sensors == 3 and error_m(early, (30.0, -50.0)) < 1.0
    assert early.uncertainty_m is not None
    assert early.uncertainty_m <= CONFIG.provisional_exact_max_radius_m
    outside = sorted(reports_for(sensors, (0.0, -400.0)), key=lambda r: r.sensor_id)[:3]
    associator = Associator(sensors, FRAME, CONFIG)
    assert stream(associator, outside) == [[]] * 3
    (waited,) = associator.flush()
    assert waited.n_sensors == 3


def test_a_late_path_among_the_first_three_is_revised_away_by_the_fourth() -> None:
    """Three onsets cannot show a non-line-of-sight delay: the early fix takes it in; the
    fourth report reveals it while the window is open, and the revision leaves it out."""
    sensors = sites(SQUARE_EN)
    reports = reports_for(sensors[:4], SOURCE_EN, extra_delay_s={"s1": 0.012})
    associator = Associator(sensors, FRAME, CONFIG)
    emitted = stream(associator, reports)
    (early,) = emitted[2]
    (revised,) = emitted[3]
    assert revised.incident_id == early.incident_id and revised.revision == 2
    assert [r.sensor_id for r in revised.sensors_rejected] == ["s1"]
    assert error_m(revised, SOURCE_EN) < error_m(early, SOURCE_EN)


@settings(max_examples=30, deadline=None)
@given(
    east=st.floats(-95, 95),
    north=st.floats(-95, 95),
    order=st.permutations(range(len(HEXAGON_EN))),
)
def test_the_last_revision_does_not_depend_on_the_arrival_order(
    east: float, north: float, order: list[int]
) -> None:
    sensors = sites(HEXAGON_EN)
    reports = reports_for(sensors, (east, north), jitter_s=0.0003)

    def final(ordered):  # type: ignore[no-untyped-def]
        associator = Associator(sensors, FRAME, CONFIG)
        emitted = [i for out in stream(associator, ordered) for i in out]
        (incident,) = latest_revisions(emitted + associator.flush())
        return incident

    shuffled, reference = final([reports[i] for i in order]), final(reports)
    assert sorted(shuffled.sensors_used) == sorted(reference.sensors_used)
    assert shuffled.east_m is not None and reference.east_m is not None
    assert np.hypot(shuffled.east_m - reference.east_m, shuffled.north_m - reference.north_m) < 1e-3


GRID_EN = [
    (x, y) for x in (-300.0, -150.0, 0.0, 150.0, 300.0) for y in (-200.0, -50.0, 100.0, 250.0)
]
"""Twenty sensors 150 m apart: a shot is heard by 6 to 12 of them (hearing range 400 m)."""

VOLLEY_NOISE = ReportNoise(
    nlos_fraction=0.15,
    hearing_range_m=400.0,
    sure_range_m=200.0,
    miss_rate=0.15,
    false_alarms_per_sensor_hour=0.0,
    duplicate_rate=0.0,
    late_rate=0.0,
)
"""Misses, late NLOS paths and network latency (arrivals out of onset order), nothing else."""


@pytest.mark.parametrize("seed", range(20))
def test_each_shot_of_a_volley_is_located_on_its_own_in_one_alert(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shooter = rng.uniform(-150.0, 150.0, 2)
    shots_s = np.cumsum([0.0, *rng.uniform(0.5, 1.0, 2)])  # three shots 0.5 to 1 s apart
    truth = [truth_event(FRAME, "gunshot", T0 + round(t * NS_PER_S), *shooter) for t in shots_s]
    sensors = sites(GRID_EN)
    deliveries = synthesize_deliveries(sensors, FRAME, truth, C, VOLLEY_NOISE, rng)
    associator = Associator(sensors, FRAME, CONFIG)
    emitted = [i for d in deliveries for i in associator.add(d.report, d.arrival_ns)]
    (alert,) = latest_revisions(emitted + associator.flush())
    assert alert.burst is not None and len(alert.burst.shots) == 3
    assert error_m(alert, tuple(shooter)) < 2.0
    for shot, emission_s in zip(alert.burst.shots, shots_s, strict=True):
        assert shot.status == IncidentStatus.FIX
        assert shot.east_m is not None and shot.north_m is not None
        assert np.hypot(shot.east_m - shooter[0], shot.north_m - shooter[1]) < 2.0
        assert abs(shot.onset_ns - T0 - emission_s * NS_PER_S) < 2_000_000


STRAY_LOOP_STREAM = Path(__file__).parent / "data" / "association_stray_loop.jsonl"
"""Deliveries (arrival ns, report) on GRID_EN that made `_place` put an expelled stray back
into the candidate that expelled it, forever (RecursionError in the demo, issue 15): shrunk
from a synthetic stream of mixed classes with false alarms and late NLOS paths."""


def test_a_stray_never_reenters_the_candidate_that_expelled_it() -> None:
    lines = STRAY_LOOP_STREAM.read_text(encoding="utf-8").splitlines()
    deliveries = [json.loads(line) for line in lines]
    reports = [EventReport.model_validate(d["report"]) for d in deliveries]
    associator = Associator(sites(GRID_EN), FRAME, CONFIG)
    emitted = [
        i
        for d, r in zip(deliveries, reports, strict=True)
        for i in associator.add(r, d["arrival_ns"])
    ]
    assert_every_report_placed_once_or_counted(associator, reports, emitted)


def assert_every_report_placed_once_or_counted(
    associator: Associator, arrived: list[EventReport], emitted: list[Incident]
) -> None:
    """After flush: each distinct report is in exactly one incident (last revisions) or was
    rejected with a counted reason; each repeat was counted as a duplicate."""
    incidents = latest_revisions(emitted + associator.flush())
    held = Counter(report_id for i in incidents for report_id in i.report_ids)
    unique = {r.report_id for r in arrived}
    assert set(held.values()) <= {1}  # no report in two incidents
    assert set(held) <= unique
    assert len(unique - set(held)) == sum(associator.stats.rejected.values())
    assert associator.stats.duplicates == len(arrived) - len(unique)


MIXED_NOISE = ReportNoise(
    jitter_s=0.002,
    nlos_fraction=0.3,
    nlos_delay_s=(0.002, 0.09),
    hearing_range_m=400.0,
    sure_range_m=200.0,
    miss_rate=0.2,
    false_alarms_per_sensor_hour=200.0,
    duplicate_rate=0.05,
    late_rate=0.05,
)
"""A hostile mix: every class, sounds 0.5 s apart, late paths, false alarms, duplicates."""


@settings(max_examples=15, deadline=None)
# Found by this test with BurstConfig.in_earshot on: a firework's candidate, shown as the
# episode named after it, turned gunshot and folded into a nearby burst; the episode's last
# revision kept its reports (one report in two incidents). `ouie.fusion.shown` fixed it.
@example(seed=20208, classes=["gunshot", "gunshot", "gunshot", "fireworks"], shuffle=False)
@example(
    seed=3182332193,
    classes=["glass_break", "gunshot", "glass_break", "fireworks", "gunshot"],
    shuffle=False,
)
@given(
    seed=st.integers(0, 2**32 - 1),
    classes=st.lists(st.sampled_from([c.value for c in EventClass]), min_size=1, max_size=8),
    shuffle=st.booleans(),
)
def test_any_order_and_mix_of_classes_ends_with_every_report_placed_once_or_counted(
    seed: int, classes: list[str], shuffle: bool
) -> None:
    rng = np.random.default_rng(seed)
    times_s = np.sort(rng.uniform(0.0, 4.0, len(classes)))
    truth = [
        truth_event(FRAME, cls, T0 + round(t * NS_PER_S), *rng.uniform(-200.0, 200.0, 2))
        for cls, t in zip(classes, times_s, strict=True)
    ]
    sensors = sites(GRID_EN)
    span_ns = (T0, T0 + 4 * NS_PER_S)
    deliveries = synthesize_deliveries(sensors, FRAME, truth, C, MIXED_NOISE, rng, span_ns=span_ns)
    if shuffle:  # any arrival order, the clock still moving forward
        clock = sorted(d.arrival_ns for d in deliveries)
        order = rng.permutation(len(deliveries))
        deliveries = [
            Delivery(now, deliveries[k].report) for now, k in zip(clock, order, strict=True)
        ]
    associator = Associator(sensors, FRAME, CONFIG)
    emitted = [i for d in deliveries for i in associator.add(d.report, d.arrival_ns)]
    assert_every_report_placed_once_or_counted(associator, [d.report for d in deliveries], emitted)
