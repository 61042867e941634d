"""The observatory's figures on a hand-counted month (tests/observatory_store.py): per class,
per day, the cameras from the audit chain, and the same totals after retention purged the
detailed rows (wholly, or in the middle of a day)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ouie.observatory.figures import (
    ObservatoryFigures,
    Period,
    compute_figures,
    latest_data_day,
)
from ouie.store.models import DailyAggregateRow
from ouie.store.records import IncidentRecord
from ouie.store.repository import Store
from ouie.store.retention import NS_PER_DAY, RetentionPolicy, purge
from tests.builders import store_url
from tests.observatory_store import FIRST_DAY, LAST_DAY, at, seed_november

PERIOD = Period.model_validate({"from": FIRST_DAY, "to": LAST_DAY})


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The seeded month on each backend (the queries must hold on both)."""
    store = Store.open(store_url(request, tmp_path, "ouie.db"))
    seed_november(store)
    yield store
    store.close()


def by_class(figures: ObservatoryFigures) -> dict[str, dict[str, Any]]:
    return {row.class_: row.model_dump(by_alias=False) for row in figures.by_class}


def counts(figures: ObservatoryFigures) -> dict[str, Any]:
    """Every figure that must survive retention."""
    return {
        "by_class": by_class(figures),
        "total": figures.total.model_dump(),
        "by_day": [row.model_dump() for row in figures.by_day],
    }


def test_figures_per_class_match_the_hand_count(store: Store) -> None:
    figures = compute_figures(store, PERIOD)
    assert figures.classes == ["glass_break", "gunshot", "scream", "fireworks"]
    rows = by_class(figures)
    gunshot, scream, glass = rows["gunshot"], rows["scream"], rows["glass_break"]
    assert (gunshot["reports"], gunshot["incidents"], gunshot["located"]) == (3, 3, 2)
    assert (gunshot["confirmed"], gunshot["dismissed"], gunshot["open"]) == (1, 1, 1)
    assert gunshot["dismissed_by_reason"] == {"fireworks": 1}
    assert gunshot["confirm_rate"] == pytest.approx(0.5)
    assert gunshot["median_decision_s"] == pytest.approx(60.0)  # median of 30 and 90
    # s2 was dismissed, then confirmed: counted as confirmed, timed by its first decision
    assert (scream["confirmed"], scream["escalated"], scream["dismissed"]) == (1, 1, 0)
    assert scream["median_decision_s"] == pytest.approx(35.0)  # median of 60 and 10
    assert (glass["located"], glass["dismissed_by_reason"], glass["confirm_rate"]) == (
        0,
        {"construction": 1},
        0.0,
    )
    assert (rows["fireworks"]["reports"], rows["fireworks"]["incidents"]) == (2, 0)
    assert rows["fireworks"]["confirm_rate"] is None  # nothing decided: no rate, not 0
    total = figures.total
    assert (total.reports, total.incidents, total.located, total.decided) == (7, 6, 4, 5)
    assert total.confirm_rate == pytest.approx(2 / 5)
    assert total.median_decision_s == pytest.approx(60.0)  # of 10, 30, 60, 90, 120


def test_figures_per_day_leave_out_the_days_outside_the_period(store: Store) -> None:
    figures = compute_figures(store, PERIOD)
    assert figures.days == ["2026-11-01", "2026-11-02", "2026-11-03"]
    incidents = {(r.day, r.class_): r.incidents for r in figures.by_day if r.incidents}
    assert incidents == {
        ("2026-11-01", "gunshot"): 3,
        ("2026-11-01", "scream"): 1,
        ("2026-11-02", "glass_break"): 1,
        ("2026-11-02", "scream"): 1,
    }
    reports = {(r.day, r.class_): r.reports for r in figures.by_day if r.reports}
    assert reports[("2026-11-03", "scream")] == 1 and reports[("2026-11-01", "fireworks")] == 2
    assert sum(reports.values()) == 7


def test_camera_figures_come_from_the_audit_chain(store: Store) -> None:
    figures = compute_figures(store, PERIOD)
    day1, day2, day3 = figures.cameras_by_day
    assert (day1.cues, day1.suggested, day1.no_camera) == (3, 2, 1)
    assert (day1.approved, day1.moved_approved, day1.declined) == (1, 1, 1)
    assert (day1.mask_refused, day1.mask_clipped, day1.moved_auto) == (2, 1, 0)
    assert (day2.moved_auto, day2.cues, day3.cues) == (1, 0, 0)
    assert figures.cameras_total.moved_auto == 1  # the move of 4 Nov is outside
    audit = figures.audit
    assert audit.chain_ok and audit.problems == []
    assert audit.by_kind["dispositions"] == 6  # g1, g2, s1, s2 twice, gb1
    assert audit.by_kind["incident views"] == 3
    assert audit.by_kind["camera moves"] == 2
    assert audit.by_kind["privacy-mask refusals and clips"] == 3
    assert audit.by_action["camera.cue_rejected"] == 1
    assert audit.period_entries == sum(audit.by_kind.values())
    assert audit.head_seq == audit.total_entries == store.audit.count()


def test_the_latest_day_with_data_is_the_last_onset(store: Store, tmp_path: Path) -> None:
    assert latest_data_day(store) == date(2026, 11, 4)  # the gunshot at 00:00:01 on 4 Nov
    empty = Store.open(f"sqlite:///{tmp_path / 'empty.db'}")
    assert latest_data_day(empty) is None
    empty.close()


def test_sensors_online_share_is_read_now(store: Store) -> None:
    sensors = compute_figures(store, PERIOD).sensors
    assert (sensors.total, sensors.online, sensors.online_share) == (4, 1, 0.25)


def test_the_same_figures_after_retention_purged_every_detailed_row(store: Store) -> None:
    before = compute_figures(store, PERIOD)
    result = purge(store, RetentionPolicy(reports_days=1, incidents_days=1), at(30, 0))
    assert (result.reports_deleted, result.incidents_deleted) == (9, 8)
    assert store.count_incidents() == 0 and store.count_reports() == 0
    after = compute_figures(store, PERIOD)
    assert counts(after) == counts(before)
    assert latest_data_day(store) == date(2026, 11, 4)  # from the aggregates now
    assert after.cameras_total == before.cameras_total
    assert after.notes == []


def test_the_same_figures_when_only_reports_were_purged(store: Store) -> None:
    """The default policy keeps incidents longer than reports: the month's reports come from
    the aggregates, its incidents from the rows."""
    before = compute_figures(store, PERIOD)
    result = purge(store, RetentionPolicy(reports_days=1, incidents_days=400), at(30, 0))
    assert (result.reports_deleted, result.incidents_deleted) == (9, 0)
    assert counts(compute_figures(store, PERIOD)) == counts(before)


def test_the_same_figures_when_retention_cut_a_day_in_two(store: Store) -> None:
    """Cut-off at 1 Nov 12:00: g1 (08:00) is aggregated, g2, g3 and s1 (evening) are kept; the
    day's rows are the sum of both."""
    before = compute_figures(store, PERIOD)
    noon_nov_1 = at(1, 12)
    purge(store, RetentionPolicy(reports_days=1, incidents_days=1), noon_nov_1 + NS_PER_DAY)
    assert {row.id for row in store.list_incidents()} == {"g2", "g3", "s1", "s2", "gb1", "after"}
    assert counts(compute_figures(store, PERIOD)) == counts(before)


def test_rows_aggregated_before_the_figures_existed_are_flagged_not_guessed(store: Store) -> None:
    with store.session() as session:
        session.add(
            DailyAggregateRow(
                day="2026-11-03",
                kind="incident",
                class_="explosion",
                disposition="dismiss",
                count=2,
            )
        )
    figures = compute_figures(store, PERIOD)
    explosion = next(row for row in figures.by_class if row.class_ == "explosion")
    assert (explosion.incidents, explosion.located) == (2, None)
    assert explosion.dismissed_by_reason == {"not recorded": 2}
    assert figures.total.located is None
    assert len(figures.notes) == 4 and not figures.efficacy.complete


def test_a_period_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValidationError, match="ends \\(2026-11-01\\) before it starts"):
        Period.model_validate({"from": "2026-11-03", "to": "2026-11-01"})


def test_a_period_longer_than_a_year_is_refused() -> None:
    with pytest.raises(ValidationError, match="longer than 366 days"):
        Period.model_validate({"from": "2025-01-01", "to": "2026-01-02"})  # 367 days


def test_unconfirmed_incidents_and_context_are_counted_apart_from_alerts(store: Store) -> None:
    """Two more on 2 Nov: a gunshot only one of its neighbours heard (unconfirmed, never
    alerted) and a firework show (context): neither is an alert, both are incidents."""
    unconfirmed = {"confirmed": False, "heard_by": 1, "expected_sensors": 6}
    for incident_id, class_, assessment in (
        ("g4", "gunshot", unconfirmed),
        ("f1", "fireworks", None),
    ):
        store.save_incident(
            IncidentRecord(
                id=incident_id, class_=class_, onset_ns=at(2, 12), assessment=assessment
            ),
            at_ns=at(2, 12, 0, 2),
        )
    figures = compute_figures(store, PERIOD)
    rows = by_class(figures)
    gunshot, fireworks = rows["gunshot"], rows["fireworks"]
    assert (gunshot["incidents"], gunshot["alerts"], gunshot["unconfirmed"]) == (4, 3, 1)
    assert (fireworks["incidents"], fireworks["alerts"], fireworks["unconfirmed"]) == (1, 0, 0)
    total = figures.total
    assert (total.incidents, total.alerts, total.unconfirmed) == (8, 6, 1)
    before = counts(figures)
    purge(store, RetentionPolicy(reports_days=1, incidents_days=1), at(30, 0))
    assert counts(compute_figures(store, PERIOD)) == before  # the same after retention
