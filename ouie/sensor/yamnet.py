"""YAMNet (AudioSet, Apache-2.0) run with ai-edge-litert: one invocation per 0.975 s window gives
both the 521 AudioSet scores and the 1,024-d embedding (the `global_average_pooling2d` tensor,
kept readable by `experimental_preserve_all_tensors`)."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from ouie.core.classes import AUDIOSET_LABELS, SPEECH_LABELS, EventClass
from ouie.core.report import ModelId
from ouie.sensor.head import N_EMBEDDING, Head, head_features
from ouie.sensor.impulse import impulse_features
from ouie.sensor.scoring import EVENT_CLASSES, WindowScores

EMBEDDING_TENSOR_MARK = "global_average_pooling2d/Mean;"
N_AUDIOSET = 521

YAMNET_DEFAULT_THRESHOLDS: dict[EventClass, float] = dict.fromkeys(EventClass, 0.3)
"""Plain YAMNet grouped scores: the single threshold of shared/audio/README's baseline."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


HEADROOM_KNEE = 0.5
"""The input gain never lifts a window's peak above this (−6 dBFS): `headroom_gains`."""


def headroom_gains(windows: np.ndarray, max_gain: float, knee: float = HEADROOM_KNEE) -> np.ndarray:
    """Per-window gain gᵢ = clip(knee / peakᵢ, 1, max_gain), peakᵢ = max |xᵢ|: a quiet window
    (a scream across the street) gets the whole input gain, a loud one (a gunshot 50 m away)
    only what lifts its peak to the knee, and one already past it none. The sound YAMNet hears
    is then never bent or clipped: the soft limiter this replaces (tanh above ±0.5) turned near
    gunshots and explosions into shapes the verifier rejected (docs/results/operator.md,
    2026-12-07)."""
    peaks = np.abs(np.asarray(windows, np.float32)).max(axis=-1)
    wanted = knee / np.maximum(peaks, 1e-30)  # a silent window: the whole gain after the clip
    return np.clip(wanted, 1.0, max(1.0, max_gain)).astype(np.float32)


class YamnetModel:
    """The bare YAMNet TFLite model on one CPU thread; `input_gain_db` amplifies what it hears,
    at most up to the headroom knee (`headroom_gains`)."""

    def __init__(self, model_path: Path, input_gain_db: float = 0.0) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.input_gain = float(10.0 ** (input_gain_db / 20.0))
        self.path = Path(model_path)
        self.sha256 = file_sha256(self.path)
        with warnings.catch_warnings():  # the "debugging only" note on preserve_all_tensors
            warnings.simplefilter("ignore", UserWarning)
            self._interpreter = Interpreter(
                model_path=str(self.path), num_threads=1, experimental_preserve_all_tensors=True
            )
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._scores = self._interpreter.get_output_details()[0]["index"]
        matches = [
            d["index"]
            for d in self._interpreter.get_tensor_details()
            if EMBEDDING_TENSOR_MARK in d["name"]
        ]
        if not matches:
            raise ValueError(f"{self.path}: no global_average_pooling2d tensor: not YAMNet?")
        self._embedding = matches[0]

    def run(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores (n, 521) and embeddings (n, 1024) of n windows of WINDOW_SAMPLES samples."""
        n = len(windows)
        if self.input_gain != 1.0:
            gains = headroom_gains(windows, self.input_gain)
            windows = np.asarray(windows, np.float32) * gains[:, None]
        scores = np.empty((n, N_AUDIOSET), np.float32)
        embeddings = np.empty((n, N_EMBEDDING), np.float32)
        for i, window in enumerate(windows):
            self._interpreter.set_tensor(self._input, np.ascontiguousarray(window, np.float32))
            self._interpreter.invoke()
            scores[i] = self._interpreter.get_tensor(self._scores)[0]
            embeddings[i] = self._interpreter.get_tensor(self._embedding)[0]
        return scores, embeddings


def grouped_scores(audioset_scores: np.ndarray) -> np.ndarray:
    """ouie class score = max over the class's AudioSet labels, (n, 521) → (n, 7)."""
    columns = [list(AUDIOSET_LABELS[c]) for c in EVENT_CLASSES]
    return np.stack([audioset_scores[:, idx].max(axis=1) for idx in columns], axis=1)


def speech_scores(audioset_scores: np.ndarray) -> np.ndarray:
    """Speech score = max over the speech/voice labels (used only to suppress)."""
    return audioset_scores[:, list(SPEECH_LABELS)].max(axis=1)


def head_window_scores(head: Head, features: np.ndarray) -> WindowScores:
    """A head's class scores and the speech scores of rows of its input (`head_features`:
    embedding ‖ AudioSet scores ‖ impulse evidence)."""
    audioset = features[:, N_EMBEDDING : N_EMBEDDING + N_AUDIOSET]
    class_scores = head.class_scores(features, grouped_scores(audioset))
    return WindowScores(class_scores=class_scores, speech=speech_scores(audioset))


def head_scores(model: YamnetModel, head: Head, windows: np.ndarray) -> WindowScores:
    """The head's class scores of n windows (one YAMNet call each) and their speech scores."""
    audioset, embeddings = model.run(windows)
    return head_window_scores(head, head_features(embeddings, audioset, impulse_features(windows)))


class HeadVerifier:
    """ouie's verifier head on YAMNet's view of one aligned window (`AlignedVerifier`)."""

    def __init__(self, model: YamnetModel, head: Head) -> None:
        self.model = model
        self.head = head
        self.thresholds = dict(head.thresholds)

    def verify(self, window: np.ndarray, start_sample: int) -> np.ndarray:
        return head_scores(self.model, self.head, window[None, :]).class_scores[0]


class YamnetScorer:
    """YAMNet windows classified by ouie's head (or by YAMNet's grouped labels without one),
    impulsive candidates verified by the verifier head when one is given."""

    def __init__(
        self,
        model_path: Path,
        head: Head | None,
        verifier: Head | None = None,
        input_gain_db: float = 0.0,
    ) -> None:
        self.model = YamnetModel(model_path, input_gain_db)
        self.head = head
        self.verifier = HeadVerifier(self.model, verifier) if head and verifier else None
        if head is None:
            self.model_id = ModelId(name="yamnet/1", sha256=self.model.sha256)
            self.default_thresholds = dict(YAMNET_DEFAULT_THRESHOLDS)
            self.description = "YAMNet, AudioSet labels grouped into ouie classes (no head)"
            return
        parts = [self.model.sha256, head.sha256]
        name = f"yamnet+{head.name}"
        self.description = f"YAMNet embedding classified by {head.name}"
        if self.verifier is not None:
            parts.append(self.verifier.head.sha256)
            name += f"+{self.verifier.head.name}"
            verified = ", ".join(sorted(self.verifier.thresholds))
            self.description += f", {verified} verified by {self.verifier.head.name}"
        combined = hashlib.sha256("".join(parts).encode()).hexdigest()
        self.model_id = ModelId(name=name, sha256=combined)
        self.default_thresholds = dict(head.thresholds)

    def score(self, windows: np.ndarray) -> WindowScores:
        if self.head is not None:
            return head_scores(self.model, self.head, windows)
        audioset, _ = self.model.run(windows)
        return WindowScores(class_scores=grouped_scores(audioset), speech=speech_scores(audioset))
