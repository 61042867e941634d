"""Detector profiles: `recording` runs ouie-head/5 at SHIPPED_OPERATING_POINT without a verifier;
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
    assert head is not None and head.name == "ouie-head/5"
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
