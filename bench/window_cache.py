"""A detector backend that remembers what YAMNet (+ head, + verifier) said about each window, so
that the sensor's decision rules (thresholds, min_windows, candidate threshold) can be varied
over a whole rendered evening in seconds instead of running YAMNet again.

Windows are keyed by a digest of their samples: the same audio gives the same key whatever the
rule that asked for it (the verifier's aligned windows included). The memory is a pickle per
(recording, backend) under ~/.cache/ouie/windows/. Used by bench/operator_view.py --rules.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np

from ouie.sensor.scoring import AlignedVerifier, WindowScorer, WindowScores


def digest(window: np.ndarray) -> bytes:
    """16-byte key of one window's samples."""
    return hashlib.blake2b(
        np.ascontiguousarray(window, np.float32).tobytes(), digest_size=16
    ).digest()


class _RememberingVerifier:
    """`AlignedVerifier` over a dict of verdicts by window digest."""

    def __init__(self, inner: AlignedVerifier, memory: dict[bytes, np.ndarray]) -> None:
        self.inner = inner
        self.memory = memory
        self.thresholds = inner.thresholds

    def verify(self, window: np.ndarray, start_sample: int) -> np.ndarray:
        key = digest(window)
        if key not in self.memory:
            self.memory[key] = self.inner.verify(window, start_sample)
        return self.memory[key]


class RememberingScorer:
    """A `WindowScorer` that asks `inner` only about windows it has not seen."""

    def __init__(self, inner: WindowScorer, path: Path) -> None:
        self.inner = inner
        self.path = path
        self.model_id = inner.model_id
        self.default_thresholds = inner.default_thresholds
        self.description = inner.description
        self.grid: dict[bytes, tuple[np.ndarray, float]] = {}
        self.verdicts: dict[bytes, np.ndarray] = {}
        if path.is_file():
            self.grid, self.verdicts = pickle.loads(path.read_bytes())
        self._verifier = (
            _RememberingVerifier(inner.verifier, self.verdicts) if inner.verifier else None
        )

    @property
    def verifier(self) -> AlignedVerifier | None:
        return self._verifier

    def score(self, windows: np.ndarray) -> WindowScores:
        keys = [digest(w) for w in windows]
        missing = [i for i, k in enumerate(keys) if k not in self.grid]
        if missing:
            fresh = self.inner.score(windows[missing])
            for j, i in enumerate(missing):
                self.grid[keys[i]] = (fresh.class_scores[j], float(fresh.speech[j]))
        return WindowScores(
            class_scores=np.stack([self.grid[k][0] for k in keys]),
            speech=np.array([self.grid[k][1] for k in keys]),
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps((self.grid, self.verdicts)))
        tmp.rename(self.path)
