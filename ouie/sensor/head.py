"""ouie's classification head: a small multilayer perceptron over YAMNet's 1,024-d embedding, its
521 AudioSet scores and the window's impulsive evidence (`ouie.sensor.impulse`), trained by
`ouie models train-head` and shipped as a numpy .npz file.

Forward pass: z = (x − μ) / σ;  h_{k+1} = relu(W_k h_k + b_k) for hidden layers;
p = softmax(W_L h_L + b_L) over the trained classes plus "none". Classes the head was not
trained on (no data) keep YAMNet's grouped score, weighted by p(none) so that they only speak
when the head sees none of its own classes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ouie.core.classes import EventClass
from ouie.sensor.scoring import EVENT_CLASSES

NONE_LABEL = "none"
DEFAULT_HEAD_PATH = Path(__file__).with_name("head.npz")
"""The `recording` profile's head (ouie-head/5: trained on clips as recorded)."""
STREET_HEAD_PATH = Path(__file__).parent / "street" / "head.npz"
"""The `street` profile's head (ouie-head/4: trained with 20–300 m renderings too)."""
STREET_VERIFIER_PATH = STREET_HEAD_PATH.with_name("verifier.npz")
"""The one shipped verifier (ouie-verifier/1), trained beside the street head."""
"""The verifier: a head trained by the same recipe on onset-aligned windows
(`ouie.sensor.impulse.aligned_window`); its thresholds name the classes it decides."""


def head_features(
    embeddings: np.ndarray, audioset_scores: np.ndarray, impulse: np.ndarray
) -> np.ndarray:
    """The head's input: embedding ‖ AudioSet scores ‖ impulse evidence, (n, 1024 + 521 + 4)."""
    return np.concatenate([embeddings, audioset_scores, impulse], axis=1).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, exp(l − max l) / Σ exp(l − max l)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class Head:
    """A trained head loaded from its .npz artefact."""

    def __init__(
        self,
        labels: list[str],
        mean: np.ndarray,
        scale: np.ndarray,
        layers: list[tuple[np.ndarray, np.ndarray]],
        thresholds: dict[EventClass, float],
        name: str,
        sha256: str,
    ) -> None:
        self.labels = labels
        self.mean = mean
        self.scale = scale
        self.layers = layers
        self.thresholds = thresholds
        self.name = name
        self.sha256 = sha256

    @classmethod
    def load(cls, path: Path = DEFAULT_HEAD_PATH) -> Head:
        """Read a head artefact written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            n_layers = int(data["n_layers"])
            layers = [(data[f"weights_{k}"], data[f"bias_{k}"]) for k in range(n_layers)]
            labels = [str(label) for label in data["labels"]]
            thresholds = {
                EventClass(str(c)): float(t)
                for c, t in zip(data["threshold_classes"], data["threshold_values"], strict=True)
            }
            return cls(
                labels=labels,
                mean=data["mean"],
                scale=data["scale"],
                layers=layers,
                thresholds=thresholds,
                name=str(data["name"]),
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            )

    def save(self, path: Path) -> None:
        """Write the artefact (plain arrays, no pickle)."""
        arrays: dict[str, np.ndarray] = {
            "labels": np.array(self.labels),
            "mean": self.mean.astype(np.float32),
            "scale": self.scale.astype(np.float32),
            "n_layers": np.array(len(self.layers)),
            "threshold_classes": np.array([str(c) for c in self.thresholds]),
            "threshold_values": np.array(list(self.thresholds.values()), np.float64),
            "name": np.array(self.name),
        }
        for k, (weights, bias) in enumerate(self.layers):
            arrays[f"weights_{k}"] = weights.astype(np.float32)
            arrays[f"bias_{k}"] = bias.astype(np.float32)
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    def retuned(self, thresholds: dict[EventClass, float], name: str | None = None) -> Head:
        """The same weights with other thresholds (and name)."""
        return Head(
            labels=self.labels,
            mean=self.mean,
            scale=self.scale,
            layers=self.layers,
            thresholds=dict(thresholds),
            name=name or self.name,
            sha256=self.sha256,
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """p(label | window), (n, len(labels))."""
        hidden = (features - self.mean) / self.scale
        for weights, bias in self.layers[:-1]:
            hidden = np.maximum(hidden @ weights + bias, 0.0)
        weights, bias = self.layers[-1]
        return softmax(hidden @ weights + bias)

    def class_scores(self, features: np.ndarray, grouped: np.ndarray) -> np.ndarray:
        """Scores for EVENT_CLASSES, (n, 7), from the head's input (`head_features`): head
        probabilities for trained classes, grouped YAMNet score × p(none) for the others."""
        probs = self.probabilities(features)
        p_none = probs[:, self.labels.index(NONE_LABEL)]
        columns = []
        for j, event_class in enumerate(EVENT_CLASSES):
            if event_class.value in self.labels:
                columns.append(probs[:, self.labels.index(event_class.value)])
            else:
                columns.append(grouped[:, j] * p_none)
        return np.stack(columns, axis=1).astype(np.float32)
