"""What every detector backend gives the pipeline: per-window scores for the ouie classes and a
speech score used only to suppress windows (never reported), and optionally a verifier that
takes a second look at an impulsive candidate on a window aligned on its onset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ouie.core.classes import EventClass
from ouie.core.report import ModelId

EVENT_CLASSES: tuple[EventClass, ...] = tuple(EventClass)
"""Column order of `WindowScores.class_scores`."""

WINDOW_SAMPLES = 15_600
"""Analysis window: 0.975 s at 16 kHz (YAMNet's input length; the built-in uses it too)."""


@dataclass(frozen=True)
class WindowScores:
    """Scores of n windows: `class_scores[i, j]` for window i and class EVENT_CLASSES[j], and
    `speech[i]`, all in [0, 1]."""

    class_scores: np.ndarray
    speech: np.ndarray


class AlignedVerifier(Protocol):
    """A second look at a candidate event: the class scores of one window that starts
    `ouie.sensor.impulse.ALIGN_LEAD_S` before the candidate's strongest leading edge."""

    thresholds: dict[EventClass, float]
    """The classes it decides, each with the score that confirms it."""

    def verify(self, window: np.ndarray, start_sample: int) -> np.ndarray:
        """Scores of one (WINDOW_SAMPLES,) float32 16 kHz window for EVENT_CLASSES, (7,);
        `start_sample`: its first sample's index in the run (a model ignores it, a replay of
        precomputed verdicts looks them up by it)."""
        ...


class WindowScorer(Protocol):
    """A detector backend."""

    model_id: ModelId
    default_thresholds: dict[EventClass, float]
    description: str

    @property
    def verifier(self) -> AlignedVerifier | None:
        """None: every class is decided on the window grid alone."""
        ...

    def score(self, windows: np.ndarray) -> WindowScores:
        """Score a (n, WINDOW_SAMPLES) float32 array of 16 kHz windows."""
        ...
