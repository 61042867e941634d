"""Detector profiles: `recording` runs ouie-head/6 at SHIPPED_OPERATING_POINT without a verifier;
`street` runs ouie-head/4 + ouie-verifier/1 at STREET_OPERATING_POINT; explicit settings win."""

from __future__ import annotations

from ouie.core.classes import EventClass
from ouie.sensor.backends import load_head, load_verifier, verifies
from ouie.sensor.config import (
    SHIPPED_OPERATING_POINT,
    STREET_OPERATING_POINT,
    DetectorConfig,
    DetectorProfile,
)


def test_each_profile_loads_its_shipped_head_at_its_operating_point() -> None:
    recording = DetectorConfig()
    head = load_head(recording)
    assert head is not None and head.name == "ouie-head/6"
    assert {c: head.thresholds[c] for c in SHIPPED_OPERATING_POINT} == SHIPPED_OPERATING_POINT
    assert not verifies(recording) and load_verifier(recording) is None

    street = DetectorConfig(profile=DetectorProfile.STREET)
    head, verifier = load_head(street), load_verifier(street)
    assert head is not None and head.name == "ouie-head/4"
    assert verifier is not None and verifier.name == "ouie-verifier/1"
    assert set(verifier.thresholds) == {
        EventClass.GUNSHOT,
        EventClass.EXPLOSION,
        EventClass.GLASS_BREAK,
    }
    decided = {**head.thresholds, **verifier.thresholds}
    assert {c: decided[c] for c in STREET_OPERATING_POINT} == STREET_OPERATING_POINT


def test_an_explicit_verify_overrides_the_profile() -> None:
    assert verifies(DetectorConfig(verify=True))
    assert not verifies(DetectorConfig(profile=DetectorProfile.STREET, verify=False))
    assert load_verifier(DetectorConfig(profile="street", verify=False)) is None


def test_a_street_sensor_confirms_a_scream_on_one_window_unless_told_otherwise() -> None:
    """Across a street a scream of about a second fills one window (the next falls under the
    release ratio): the street profile confirms it there; the recording profile keeps two, and
    an explicit min_windows wins over either."""
    recording = DetectorConfig().windows_to_confirm
    street = DetectorConfig(profile=DetectorProfile.STREET).windows_to_confirm
    assert recording[EventClass.SCREAM] == 2
    assert street.get(EventClass.SCREAM, 1) == 1
    for sustained in (EventClass.EXPLOSION, EventClass.SIREN, EventClass.ALARM):
        assert recording[sustained] == street[sustained] == 2
    explicit = DetectorConfig(profile="street", min_windows={EventClass.SCREAM: 2})
    assert explicit.windows_to_confirm == {EventClass.SCREAM: 2}
