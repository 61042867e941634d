"""The repeats of one alerting sound are one alert that grows (`ouie.fusion.bursts`): the shots of
a burst, each still located on its own; shots elsewhere, later than the gap, or of another family
stay apart; the evaluation counts a burst as one true alert that answers each true shot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ouie.core.classes import EventClass
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S
from ouie.fusion.association import Associator
from ouie.fusion.bursts import enclosing_radius_m, fits_in_circle
from ouie.fusion.config import BurstConfig, FusionConfig
from ouie.fusion.evaluation import evaluate
from ouie.fusion.synthetic import truth_event
from tests.test_fusion import CONFIG, FRAME, T0, latest_revisions, reports_for, sites

GRID_EN = [(x, y) for x in (-200.0, 0.0, 200.0) for y in (-200.0, 0.0, 200.0)]
"""Nine sensors 200 m apart."""

SOURCE_EN = (30.0, 40.0)


def stream(config: FusionConfig, shots: list[tuple[float, tuple[float, float], EventClass]]):  # type: ignore[no-untyped-def]
    """Every revision emitted for shots (emission s after T0, source, class) heard by every
    sensor of GRID_EN, delivered 0.2 s after their onsets, then flushed."""
    sensors = sites(GRID_EN)
    reports = sorted(
        (
            r
            for t_s, source, cls in shots
            for r in reports_for(
                sensors, source, jitter_s=0.0002, cls=cls, emission_ns=T0 + round(t_s * NS_PER_S)
            )
        ),
        key=lambda r: r.onset_ns,
    )
    associator = Associator(sensors, FRAME, config)
    out: list[Incident] = []
    for report in reports:
        out += associator.add(report, report.onset_ns + NS_PER_S // 5)
    return out + associator.flush()


THREE_SHOTS = [(0.0, SOURCE_EN, EventClass.GUNSHOT), (0.6, SOURCE_EN, EventClass.GUNSHOT)]
THREE_SHOTS += [(1.3, SOURCE_EN, EventClass.EXPLOSION)]


def test_three_shots_from_one_place_are_one_alert_that_grows() -> None:
    emitted = stream(CONFIG, THREE_SHOTS)
    (alert,) = latest_revisions(emitted)
    assert {i.incident_id for i in emitted} == {alert.incident_id}
    revisions = [i.revision for i in emitted]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)
    shots_seen = [len(i.burst.shots) if i.burst else 1 for i in emitted]
    assert shots_seen[0] == 1 and shots_seen[-1] == 3 and shots_seen == sorted(shots_seen)
    assert alert.raises_alert and alert.status == IncidentStatus.FIX and alert.n_sensors == 9
    assert alert.burst is not None and np.isclose(alert.burst.span_s, 1.3, atol=0.01)
    assert alert.onset_ns == alert.burst.shots[0].onset_ns
    assert len(alert.report_ids) == 27
    for shot in alert.burst.shots:  # each located apart, none sharing a report
        assert shot.status == IncidentStatus.FIX and len(shot.report_ids) == 9
        assert np.hypot(shot.east_m - SOURCE_EN[0], shot.north_m - SOURCE_EN[1]) < 0.5
    assert alert.assessment is not None
    assert alert.assessment.reasons[0].startswith("3 gunshot sounds over 1.3 s from one place")
    assert alert.model_validate_json(alert.to_json()) == alert
    off = CONFIG.model_copy(update={"burst": BurstConfig(gap_s=0.0)})
    assert len(latest_revisions(stream(off, THREE_SHOTS))) == 3


def test_shots_elsewhere_later_than_the_gap_or_of_another_family_stay_apart() -> None:
    far = (SOURCE_EN[0] + 250.0, SOURCE_EN[1])  # 95 % circles of a few metres, 250 m apart
    shots = [
        (0.0, SOURCE_EN, EventClass.GUNSHOT),
        (0.8, far, EventClass.GUNSHOT),  # another shooter
        (4.0, SOURCE_EN, EventClass.GUNSHOT),  # 4 s later: beyond gap_s 2.5
        (4.6, SOURCE_EN, EventClass.GLASS_BREAK),  # a window it broke: another family
    ]
    alerts = latest_revisions(stream(CONFIG, shots))
    assert len(alerts) == 4 and all(i.burst is None for i in alerts)
    wider = CONFIG.model_copy(update={"burst": BurstConfig(gap_s=5.0)})
    assert sorted(
        len(i.burst.shots) if i.burst else 1 for i in latest_revisions(stream(wider, shots))
    ) == [1, 1, 2]


def test_a_repeat_heard_by_two_sensors_of_the_shot_joins_its_burst() -> None:
    sensors = sites(GRID_EN)
    shot = reports_for(sensors, SOURCE_EN, jitter_s=0.0002)
    repeat = reports_for(sensors, SOURCE_EN, emission_ns=T0 + 1_100_000_000)[3:5]  # a hyperbola
    associator = Associator(sensors, FRAME, CONFIG)
    out: list[Incident] = []
    for report in sorted([*shot, *repeat], key=lambda r: r.onset_ns):
        out += associator.add(report, report.onset_ns + NS_PER_S // 5)
    (alert,) = latest_revisions(out + associator.flush())
    assert alert.burst is not None
    assert [s.status for s in alert.burst.shots] == [IncidentStatus.FIX, IncidentStatus.HYPERBOLA]


def test_the_evaluation_counts_a_burst_as_one_true_alert_answering_each_true_shot() -> None:
    """Truth lists the two gunshots; the explosion 1.3 s later is the clip's own later bang."""
    truth = [
        truth_event(FRAME, "gunshot", T0 + round(t_s * NS_PER_S), *SOURCE_EN)
        for t_s, _, _ in THREE_SHOTS[:2]
    ]
    folded = evaluate(latest_revisions(stream(CONFIG, THREE_SHOTS)), truth, FRAME)
    assert (folded.detected, folded.fixed, folded.false_incidents) == (2, 2, 0)
    assert folded.errors.max_m is not None and folded.errors.max_m < 0.5
    assert folded.fixed_within_10_m == 2
    assert len({m.incident_id for m in folded.matches}) == 1
    off = CONFIG.model_copy(update={"burst": BurstConfig(gap_s=0.0)})
    apart = evaluate(latest_revisions(stream(off, THREE_SHOTS)), truth, FRAME)
    assert (apart.detected, apart.fixed, apart.false_incidents) == (2, 2, 1)


def test_a_stored_burst_comes_back_with_its_shots_for_the_demo_summary(tmp_path: Path) -> None:
    from ouie.app.demo import fusion_incident
    from ouie.store.records import IncidentRecord
    from ouie.store.repository import Store

    (alert,) = latest_revisions(stream(CONFIG, THREE_SHOTS))
    store = Store.open(f"sqlite:///{tmp_path / 'ouie.db'}")
    try:
        assert store.save_incident(IncidentRecord.from_incident(alert)) == "created"
        (row,) = store.list_incidents()
        back = fusion_incident(row, FRAME)
    finally:
        store.close()
    assert back.burst is not None and back.burst.shots == alert.burst.shots  # type: ignore[union-attr]
    assert np.isclose(back.burst.span_s, 1.3, atol=0.01)


def test_a_repeat_only_other_sensors_heard_folds_when_they_are_in_earshot_of_the_fix() -> None:
    """Six sensors fix the shot; 1.1 s later two others (not among the six) pick a later bang
    of it: a hyperbola, no sensor in common. Within the gunshot's hearing range of the fix,
    it is that sound's repeat (one alert) with in_earshot on (the default); a second alert
    with it off."""
    sensors = sites(GRID_EN)
    shot = reports_for(sensors, SOURCE_EN, jitter_s=0.0002)[:6]
    repeat = reports_for(sensors, SOURCE_EN, emission_ns=T0 + 1_100_000_000)[7:9]

    def alerts(config: FusionConfig) -> list[Incident]:
        associator = Associator(sensors, FRAME, config)
        out: list[Incident] = []
        for report in sorted([*shot, *repeat], key=lambda r: r.onset_ns):
            out += associator.add(report, report.onset_ns + NS_PER_S // 5)
        return [i for i in latest_revisions(out + associator.flush()) if i.raises_alert]

    (alert,) = alerts(CONFIG)
    assert alert.burst is not None and alert.n_sensors == 6
    assert [s.status for s in alert.burst.shots] == [IncidentStatus.FIX, IncidentStatus.HYPERBOLA]
    assert {r.sensor_id for r in repeat}.isdisjoint({r.sensor_id for r in shot})
    off = CONFIG.model_copy(update={"burst": BurstConfig(in_earshot=False)})
    assert len(alerts(off)) == 2


def test_two_weak_screams_heard_within_one_sure_range_are_one_alert() -> None:
    """A scream heard by two sensors, then its later part by two others 1 s later: two
    hyperbolas sharing no sensor and no position. Their four sensors lie within the scream's
    sure range (200 m) of one point: one alert of two shots with `one_area` (the default), two
    alerts without; a second scream whose sensors do not fit one such circle stays apart."""
    sensors = sites(GRID_EN)
    first = reports_for(sensors, SOURCE_EN, cls=EventClass.SCREAM)[4:6]  # s4, s5
    later_ns = T0 + NS_PER_S
    same = reports_for(sensors, SOURCE_EN, cls=EventClass.SCREAM, emission_ns=later_ns)[7:9]
    apart = reports_for(sensors, (-190.0, -120.0), cls=EventClass.SCREAM, emission_ns=later_ns)

    def alerts(config: FusionConfig, reports: list[EventReport]) -> list[Incident]:
        associator = Associator(sensors, FRAME, config)
        out: list[Incident] = []
        for report in sorted(reports, key=lambda r: r.onset_ns):
            out += associator.add(report, report.onset_ns + NS_PER_S // 5)
        return [i for i in latest_revisions(out + associator.flush()) if i.raises_alert]

    (alert,) = alerts(CONFIG, [*first, *same])
    assert alert.burst is not None
    assert [s.status for s in alert.burst.shots] == [IncidentStatus.HYPERBOLA] * 2
    off = CONFIG.model_copy(update={"burst": BurstConfig(one_area=False)})
    assert len(alerts(off, [*first, *same])) == 2
    assert len(alerts(CONFIG, [*first, *apart[0:2]])) == 2  # s0, s1: 223 m from one point


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-500, 500), st.floats(-500, 500)), min_size=1, max_size=12, unique=True
    ),
    st.floats(0.0, 800.0),
)
def test_the_enclosing_radius_lies_between_half_the_diameter_and_jungs_bound(
    points: list[tuple[float, float]], radius_m: float
) -> None:
    """Any circle holding the points is at least half their diameter D wide; the smallest is at
    most D/√3 (Jung's theorem in the plane), and the circle about their centroid is no smaller.
    `fits_in_circle`, which answers from those bounds when it can, agrees with the radius."""
    array = np.array(points)
    diameter = max(float(np.linalg.norm(p - q)) for p in array for q in array)
    radius = enclosing_radius_m(array)
    assert diameter / 2 - 1e-6 <= radius <= diameter / np.sqrt(3) + 1e-6
    centroid = float(np.max(np.linalg.norm(array - array.mean(axis=0), axis=1)))
    assert radius <= centroid + 1e-6
    if abs(radius - radius_m) > 1e-6:  # at the boundary, rounding decides either way
        assert fits_in_circle(array, radius_m) == (radius <= radius_m)


def test_a_weak_repeat_within_the_sure_range_of_a_three_sensor_fix_joins_it() -> None:
    """A scream fixed by three sensors 250 m away, then its later part picked 1 s later by two
    others 158 m from that fix: the five sensors need a circle wider than the scream's sure
    range (200 m), so `one_area` does not fold them, but each of the two is within that range
    of the fix: one alert of two shots with `in_earshot`, two alerts without."""
    sensors = sites([(250.0, 0.0), (0.0, 250.0), (-250.0, 0.0), (150.0, -50.0), (-150.0, -50.0)])
    first = reports_for(sensors, (0.0, 0.0), cls=EventClass.SCREAM)[:3]
    later = reports_for(sensors, (0.0, 0.0), cls=EventClass.SCREAM, emission_ns=T0 + NS_PER_S)
    positions = np.array([(250.0, 0.0), (0.0, 250.0), (-250.0, 0.0), (150.0, -50.0)])
    assert enclosing_radius_m(np.vstack([positions, [(-150.0, -50.0)]])) > 200.0

    def alerts(config: FusionConfig) -> list[Incident]:
        associator = Associator(sensors, FRAME, config)
        out: list[Incident] = []
        for report in sorted([*first, *later[3:]], key=lambda r: r.onset_ns):
            out += associator.add(report, report.onset_ns + NS_PER_S // 5)
        return [i for i in latest_revisions(out + associator.flush()) if i.raises_alert]

    (alert,) = alerts(CONFIG)
    assert alert.burst is not None
    assert [s.status for s in alert.burst.shots] == [IncidentStatus.FIX, IncidentStatus.HYPERBOLA]
    off = CONFIG.model_copy(update={"burst": BurstConfig(in_earshot=False)})
    assert len(alerts(off)) == 2
