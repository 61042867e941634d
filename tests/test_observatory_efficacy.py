"""Efficacy in three tiers on the hand-counted month (tests/observatory_store.py) plus field
outcomes: what is counted as an alert, the rates with their intervals, the warning when the
base is small, the outcome's audit row, and the same counts after retention."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ouie.core.incident import Assessment
from ouie.observatory.efficacy import MIN_MEANINGFUL_BASE, rate, wilson_interval
from ouie.observatory.figures import Period, compute_figures
from ouie.store.records import CueState, FieldEvidence, IncidentRecord
from ouie.store.repository import Store
from ouie.store.retention import NS_PER_DAY, RetentionPolicy, purge
from tests.builders import store_url
from tests.observatory_store import FIRST_DAY, LAST_DAY, at, seed_november

PERIOD = Period.model_validate({"from": FIRST_DAY, "to": LAST_DAY})


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The seeded month plus outcomes, on each backend (the outcome join must hold on both)."""
    store = Store.open(store_url(request, tmp_path, "ouie.db"))
    seed_november(store)
    # An alerting class the network did not confirm: never an alert, so in no tier's base.
    unconfirmed = Assessment(confirmed=False, heard_by=1, expected_sensors=6)
    store.save_incident(
        IncidentRecord(
            id="u1",
            class_="gunshot",
            onset_ns=at(2, 12),
            lat=45.44,
            lon=4.39,
            assessment=unconfirmed.model_dump(),
        )
    )
    store.set_outcome("u1", True, FieldEvidence.FOUND, "olga")
    store.set_outcome("g1", True, FieldEvidence.FOUND, "olga", note="casings in the yard")
    store.set_outcome("g2", True, FieldEvidence.NOTHING, "olga")
    store.set_outcome("s1", False, FieldEvidence.UNKNOWN, "olga")
    store.set_outcome("s1", True, FieldEvidence.FOUND, "sam", note="a witness called back")
    for incident_id, latency_s in (("g1", 0.4), ("g2", 0.6)):
        cue = store.add_cue(incident_id, "c1", "auto", CueState.EXECUTED)
        store.update_cue(cue.id, CueState.EXECUTED, at(1, 8), latency_s)
    yield store
    store.close()


def test_wilson_interval_matches_the_formula_by_hand() -> None:
    # 2 of 6: p = 1/3, z² = 3.8415: centre 0.3984, half-width 0.3016.
    low, high = wilson_interval(2, 6)
    assert (low, high) == pytest.approx((0.0967, 0.7000), abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_a_small_base_says_so_in_words_and_a_large_one_does_not() -> None:
    small = rate(1, 11, "alerts")
    assert not small.meaningful and "too few alerts" in small.words
    assert small.words.startswith("1 of 11 alerts (9.1 %; 95 % interval 2–38 %)")
    large = rate(91, 1000, "alerts")
    assert large.meaningful and "too few" not in large.words
    assert rate(0, 0, "alerts").value is None
    assert rate(3, MIN_MEANINGFUL_BASE, "alerts").meaningful


def test_three_tiers_count_only_the_alerts_raised(store: Store) -> None:
    efficacy = compute_figures(store, PERIOD).efficacy
    system, outcome = efficacy.system, efficacy.outcome
    # g1 g2 g3 s1 s2 gb1 raised an alert; u1 did not (unconfirmed), 'before'/'after' are outside.
    assert system.alerts == 6 and outcome.alerts == 6
    assert (system.located.count, system.located.base) == (4, 6)
    assert (system.operator_confirmed.count, system.operator_confirmed.base) == (2, 5)
    assert system.cue_latency_n == 2 and system.cue_latency_p50_s == pytest.approx(0.5)
    assert (outcome.recorded, outcome.dispatched) == (3, 3)
    assert (outcome.found, outcome.nothing, outcome.unknown) == (2, 1, 0)  # s1 corrected
    per_100 = outcome.found_per_100_alerts
    assert (per_100.count, per_100.base) == (2, 6) and per_100.value == pytest.approx(1 / 3)
    assert (per_100.low, per_100.high) == pytest.approx((0.0967, 0.7000), abs=1e-3)
    assert not per_100.meaningful and "too few alerts" in per_100.words
    assert outcome.found_of_recorded.base == 3 and outcome.reference_per_100 == 9.1
    assert "builtin/1" in efficacy.detection.models
    assert "no lab report on file for builtin/1" in efficacy.detection.words
    assert efficacy.complete


def test_outcome_counts_survive_retention(store: Store) -> None:
    before = compute_figures(store, PERIOD).efficacy
    purge(store, RetentionPolicy(reports_days=1, incidents_days=1), at(3, 12) + 40 * NS_PER_DAY)
    assert store.get_outcome("g1") is None  # gone with its incident
    after = compute_figures(store, PERIOD).efficacy
    assert after.outcome == before.outcome
    assert after.system.located == before.system.located
    assert after.system.operator_confirmed == before.system.operator_confirmed
    assert after.system.cue_latency_n == 0  # cues go with their incidents: said in the docs


def test_each_outcome_change_is_audited_with_the_previous_values(store: Store) -> None:
    rows = [e for e in store.audit.entries() if e["action"] == "incident.outcome"]
    s1 = [e for e in rows if e["subject"] == "incident:s1"]
    assert [e["actor"] for e in s1] == ["olga", "sam"]
    assert s1[1]["details"] == {
        "dispatched": True,
        "evidence": "found",
        "note": "a witness called back",
        "previous": {"dispatched": False, "evidence": "unknown"},
    }
    assert store.get_outcome("s1").evidence == "found"  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        store.set_outcome("nope", None, FieldEvidence.UNKNOWN, "olga")
    assert store.audit.verify() == []


def test_the_transparency_report_prints_the_three_tiers(store: Store) -> None:
    from ouie.observatory.deployment import Deployment
    from ouie.observatory.report import build_report, render_html

    report = build_report(
        store, Deployment(name="test", sensors=4, cameras=0, cue_mode="suggest"), PERIOD
    )
    html = render_html(report)
    assert "Efficacy, in three tiers" in html
    assert "2 of 6 alerts (33.3 %; 95 % interval 10–70 %): too few alerts" in html
    assert "9.1 % of 50,176 confirmed alerts" in html
    assert report.figures.efficacy.outcome.found == 2
