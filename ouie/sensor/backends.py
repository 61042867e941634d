"""Choosing the detector backend from the configuration, loudly when it falls back."""

from __future__ import annotations

import logging

from ouie.sensor.builtin import BuiltinScorer
from ouie.sensor.config import Backend, DetectorConfig
from ouie.sensor.head import DEFAULT_HEAD_PATH, Head
from ouie.sensor.models import ModelUnavailableError, find_yamnet
from ouie.sensor.scoring import WindowScorer

log = logging.getLogger("ouie.sensor")

NO_MODEL_HINT = (
    "no YAMNet model file: run `ouie models pull yamnet` (downloads and checks SHA-256), "
    "or pass --model PATH / detector.model_path"
)


def load_head(config: DetectorConfig) -> Head | None:
    """The configured head, the shipped one, or None (use_head false, or none shipped)."""
    if not config.use_head:
        return None
    path = config.head_path or DEFAULT_HEAD_PATH
    if not path.is_file():
        if config.head_path is not None:
            raise ModelUnavailableError(f"{path}: no such head file")
        log.warning("no trained head at %s: YAMNet's grouped AudioSet scores are used", path)
        return None
    return Head.load(path)


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

    return YamnetScorer(model_path, load_head(config))
