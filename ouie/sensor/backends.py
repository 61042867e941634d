"""Choosing the detector backend from the configuration, loudly when it falls back."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ouie.core.classes import EventClass
from ouie.sensor.builtin import BuiltinScorer
from ouie.sensor.config import (
    SHIPPED_OPERATING_POINT,
    STREET_OPERATING_POINT,
    Backend,
    DetectorConfig,
    DetectorProfile,
)
from ouie.sensor.head import (
    DEFAULT_HEAD_PATH,
    STREET_HEAD_PATH,
    STREET_VERIFIER_PATH,
    Head,
    HeadFileError,
)
from ouie.sensor.model_files import ModelUnavailableError, find_yamnet
from ouie.sensor.scoring import WindowScorer

log = logging.getLogger("ouie.sensor")

NO_MODEL_HINT = (
    "no YAMNet model file: run `ouie models pull yamnet` (downloads and checks SHA-256), "
    "or pass --model PATH / detector.model_path"
)


@dataclass(frozen=True)
class ShippedProfile:
    """What a `DetectorProfile` runs when the configuration does not say otherwise."""

    head_path: Path
    operating_point: dict[EventClass, float]
    verifies: bool


SHIPPED_PROFILES: dict[DetectorProfile, ShippedProfile] = {
    DetectorProfile.RECORDING: ShippedProfile(DEFAULT_HEAD_PATH, SHIPPED_OPERATING_POINT, False),
    DetectorProfile.STREET: ShippedProfile(STREET_HEAD_PATH, STREET_OPERATING_POINT, True),
}


def load_head(config: DetectorConfig) -> Head | None:
    """The configured head (at its file's thresholds), or the profile's shipped one at its
    operating point (`SHIPPED_PROFILES`), or None (use_head false, or none shipped)."""
    if not config.use_head:
        return None
    shipped = SHIPPED_PROFILES[config.profile]
    head = _load_artefact(
        config.head_path, shipped.head_path, "YAMNet's grouped AudioSet scores are used"
    )
    if head is None or config.head_path is not None:
        return head
    return head.retuned({**head.thresholds, **shipped.operating_point})


def verifies(config: DetectorConfig) -> bool:
    """Whether candidates get the verifier's second look: `verify` when set, else the
    profile's choice (street yes, recording no)."""
    if config.verify is not None:
        return config.verify
    return SHIPPED_PROFILES[config.profile].verifies


def load_verifier(config: DetectorConfig) -> Head | None:
    """The configured verifier or the shipped one (at STREET_OPERATING_POINT for the classes
    it decides), or None (no head, not verifying)."""
    if not (config.use_head and verifies(config)):
        return None
    verifier = _load_artefact(
        config.verifier_path, STREET_VERIFIER_PATH, "impulsive classes are decided on the grid"
    )
    if verifier is None or config.verifier_path is not None:
        return verifier
    return verifier.retuned({c: STREET_OPERATING_POINT[c] for c in verifier.thresholds})


def _load_artefact(configured: Path | None, shipped: Path, without: str) -> Head | None:
    """A configured file must exist; a missing shipped one is a warning saying what it costs."""
    path = configured or shipped
    if not path.is_file():
        if configured is not None:
            raise ModelUnavailableError(f"{path}: no such file")
        log.warning("no trained artefact at %s: %s", path, without)
        return None
    try:
        return Head.load(path)
    except HeadFileError as error:
        raise ModelUnavailableError(str(error)) from error


def build_scorer(config: DetectorConfig) -> WindowScorer:
    """YAMNet (+ head) or the built-in detector, as configured.

    backend=yamnet without a model file raises ModelUnavailableError with the way to get one;
    backend=auto falls back to the built-in detector with a warning that says what it lacks."""
    if config.backend == Backend.BUILTIN:
        scorer: WindowScorer = BuiltinScorer()
        log.warning("detector: %s", scorer.description)
        return scorer
    model_path = find_yamnet(config.model_path)
    if model_path is None:
        if config.backend == Backend.YAMNET:
            raise ModelUnavailableError(NO_MODEL_HINT)
        scorer = BuiltinScorer()
        log.warning("%s; falling back to the %s", NO_MODEL_HINT, scorer.description)
        return scorer
    from ouie.sensor.yamnet import YamnetScorer

    return YamnetScorer(model_path, load_head(config), load_verifier(config), config.input_gain_db)
