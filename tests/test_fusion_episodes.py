"""A siren driving past sensor after sensor becomes one `area` incident, not one per sensor, and
a firework show one episode, not one incident per bang; gunshots are never folded; time gaps,
distance and another class group open new episodes."""

from __future__ import annotations

import numpy as np

from ouie.core.classes import EventClass
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S
from ouie.fusion.association import Associator
from tests.builders import make_report
from tests.test_fusion import CONFIG, FRAME, SQUARE_EN, T0, latest_revisions, reports_for, sites

STREET_EN = [(100.0 * k, 0.0) for k in range(6)]
"""Six sensors along a street, 100 m apart."""


def passing(sensor_ids: list[str], cls: str = "siren", every_s: float = 6.0, start_ns: int = T0):
    """One report per sensor, each heard `every_s` after the previous (a vehicle passing)."""
    return [
        make_report(s, seq=k, onset_ns=start_ns + round(k * every_s * NS_PER_S), class_=cls)
        for k, s in enumerate(sensor_ids)
    ]


def run(associator: Associator, reports: list[EventReport]) -> list[Incident]:
    """Stream reports (arrival 0.2 s after onset), then let every window close."""
    out: list[Incident] = []
    for report in reports:
        out += associator.add(report, report.onset_ns + NS_PER_S // 5)
    return out + associator.poll(max(r.onset_ns for r in reports) + 30 * NS_PER_S)


def test_a_siren_heard_by_six_sensors_in_turn_is_one_area_incident_that_grows() -> None:
    sensors = sites(STREET_EN)
    emitted = run(Associator(sensors, FRAME, CONFIG), passing([s.id for s in sensors]))
    (episode,) = latest_revisions(emitted)
    assert len(emitted) == 6 and [i.revision for i in emitted] == [1, 2, 3, 4, 5, 6]
    assert emitted[0].status == IncidentStatus.SINGLE
    assert episode.status == IncidentStatus.AREA and episode.n_sensors == 6
    assert len(episode.report_ids) == 6 and episode.onset_ns == T0
    # Equal levels: the centroid is the street's middle, the circle holds both ends.
    assert np.isclose(episode.east_m, 250.0, atol=0.5) and abs(episode.north_m) < 0.5
    assert np.isclose(episode.uncertainty_m, max(CONFIG.single_sensor_radius_m, 250.0), atol=0.5)


def test_the_area_leans_toward_the_loudest_sensors() -> None:
    sensors = sites(STREET_EN[:3])
    reports = [
        make_report(s.id, onset_ns=T0 + k * 6 * NS_PER_S, class_="siren", peak_dbfs=db)
        for k, (s, db) in enumerate(zip(sensors, (-40.0, -40.0, -10.0), strict=True))
    ]
    (episode,) = latest_revisions(run(Associator(sensors, FRAME, CONFIG), reports))
    assert episode.east_m > 190.0  # 1000× the energy at the third sensor (200 m)


def test_gunshots_heard_by_one_sensor_each_stay_separate_incidents() -> None:
    sensors = sites(STREET_EN)
    emitted = latest_revisions(
        run(Associator(sensors, FRAME, CONFIG), passing([s.id for s in sensors], "gunshot"))
    )
    assert len(emitted) == 6 and {i.status for i in emitted} == {IncidentStatus.SINGLE}


def test_a_firework_show_is_one_episode_and_a_siren_during_it_another() -> None:
    sensors = sites(STREET_EN)
    bangs = passing([s.id for s in sensors], "fireworks", every_s=4.0)
    siren = passing(["s0", "s1"], "siren", start_ns=T0 + NS_PER_S)
    reports = sorted([*bangs, *siren], key=lambda r: r.onset_ns)
    episodes = latest_revisions(run(Associator(sensors, FRAME, CONFIG), reports))
    assert sorted((str(i.class_), i.n_sensors) for i in episodes) == [
        ("fireworks", 6),
        ("siren", 2),
    ]
    assert {i.status for i in episodes} == {IncidentStatus.AREA}


def test_a_silence_longer_than_the_gap_or_a_distant_siren_opens_a_new_episode() -> None:
    far_en = [*STREET_EN[:2], (4000.0, 0.0), (4100.0, 0.0)]
    sensors = sites(far_en)
    gap_s = CONFIG.context_episode_gap_s
    reports = [
        *passing(["s0", "s1"]),
        *passing(["s2", "s3"], start_ns=T0 + 2 * NS_PER_S),  # 4 km away: another siren
        *passing(["s0", "s1"], start_ns=T0 + round((gap_s + 20) * NS_PER_S)),  # after the gap
    ]
    reports.sort(key=lambda r: r.onset_ns)
    episodes = latest_revisions(run(Associator(sensors, FRAME, CONFIG), reports))
    assert len(episodes) == 3
    assert sorted(sorted(i.sensors_used) for i in episodes) == [
        ["s0", "s1"],
        ["s0", "s1"],
        ["s2", "s3"],
    ]
    assert {i.status for i in episodes} == {IncidentStatus.AREA}


def test_a_siren_first_located_by_its_onsets_is_folded_with_its_later_sweep_unless_off() -> None:
    sensors = sites(SQUARE_EN)
    located = reports_for(sensors, (-20.0, 50.0), cls=EventClass.SIREN)
    later = passing(["s0", "s1"], start_ns=T0 + 10 * NS_PER_S)
    emitted = run(Associator(sensors, FRAME, CONFIG), [*located, *later])
    assert emitted[0].status == IncidentStatus.FIX  # alone, it is shown as located
    (episode,) = latest_revisions(emitted)  # then one moving sound, not a fix and fragments
    assert episode.status == IncidentStatus.AREA and len(episode.report_ids) == 7
    off = CONFIG.model_copy(update={"context_episode_gap_s": 0.0})
    singles = latest_revisions(run(Associator(sites(STREET_EN), FRAME, off), passing(["s0", "s1"])))
    assert [i.status for i in singles] == [IncidentStatus.SINGLE] * 2


def test_a_show_whose_bangs_are_located_is_placed_where_they_are_not_over_its_sensors() -> None:
    sensors = sites(SQUARE_EN)
    bangs = [
        reports_for(
            sensors, (30.0, 40.0), cls=EventClass.FIREWORKS, emission_ns=T0 + k * 5 * NS_PER_S
        )
        for k in range(3)
    ]
    (show,) = latest_revisions(
        run(Associator(sensors, FRAME, CONFIG), [r for b in bangs for r in b])
    )
    assert show.status == IncidentStatus.AREA and len(show.report_ids) == 15
    assert np.hypot(show.east_m - 30.0, show.north_m - 40.0) < 1.0
    assert show.uncertainty_m is not None and show.uncertainty_m < 5.0  # not ±150 m
