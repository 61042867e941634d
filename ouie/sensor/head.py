"""ouie's classification head: a small multilayer perceptron over YAMNet's 1,024-d embedding, its
521 AudioSet scores and the window's impulsive evidence (`ouie.sensor.impulse`), trained by
`ouie models train-head` and shipped as a numpy .npz file.

Forward pass: x_e ← log(1 + x_e) on the embedding's columns when the head's
`embedding_transform` is `log1p` (YAMNet's embedding is post-ReLU: 85 % zeros and a heavy tail;
compressed, a few loud units weigh less); z = (x − μ) / σ;  h_{k+1} = relu(W_k h_k + b_k) for
hidden layers; p = softmax(W_L h_L + b_L) over the trained classes plus "none".

Class scores: a trained class c with a prior exponent a_c (`prior`) scores the weighted
geometric mean s_c = p_c^(1 − a_c) · g_c^(a_c) of the head's probability and g_c, YAMNet's own
grouped AudioSet score for c (`ouie.core.classes.AUDIOSET_LABELS`); without one, s_c = p_c.
YAMNet's own layer learnt its labels from two million clips; the head learnt from a few
sources: the prior keeps a bang that YAMNet calls fireworks, or music, from scoring as a
gunshot on the strength of the head alone. Classes the head was not trained on (no data) keep
g_c weighted by p(none), so that they only speak when the head sees none of its own classes.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from ouie.core.classes import EventClass
from ouie.sensor.scoring import EVENT_CLASSES

NONE_LABEL = "none"
N_EMBEDDING = 1024
"""YAMNet's embedding: the first columns of the head's input (`head_features`)."""
EMBEDDING_TRANSFORMS = ("identity", "log1p")
"""What a head does to the embedding's columns before standardising them."""
DEFAULT_HEAD_PATH = Path(__file__).with_name("head.npz")
"""The `recording` profile's head (ouie-head/6: trained on clips as recorded)."""
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


class HeadFileError(ValueError):
    """A head file that cannot be read (truncated, not an .npz, arrays missing or wrong)."""


def transform_embedding(features: np.ndarray, transform: str) -> np.ndarray:
    """Rows of the head's input with the embedding's columns mapped by `transform`
    (EMBEDDING_TRANSFORMS): identity, or x ↦ log(1 + x) (the embedding is ≥ 0)."""
    if transform == "identity":
        return features
    out = features.copy()
    out[:, :N_EMBEDDING] = np.log1p(np.maximum(features[:, :N_EMBEDDING], 0.0))
    return out


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
        embedding_transform: str = "identity",
        prior: dict[EventClass, float] | None = None,
    ) -> None:
        if embedding_transform not in EMBEDDING_TRANSFORMS:
            raise ValueError(
                f"head {name}: embedding_transform {embedding_transform!r} is not one of "
                f"{', '.join(EMBEDDING_TRANSFORMS)}"
            )
        for event_class, exponent in (prior or {}).items():
            if not 0.0 <= exponent <= 1.0:
                raise ValueError(
                    f"head {name}: prior exponent of {event_class.value} is {exponent}, "
                    "not in [0, 1]"
                )
        self.labels = labels
        self.mean = mean
        self.scale = scale
        self.layers = layers
        self.thresholds = thresholds
        self.name = name
        self.sha256 = sha256
        self.embedding_transform = embedding_transform
        self.prior = dict(prior or {})
        """Class → exponent a_c ∈ [0, 1] of YAMNet's grouped score (see the module)."""

    @classmethod
    def load(cls, path: Path = DEFAULT_HEAD_PATH) -> Head:
        """Read a head artefact written by `save`; HeadFileError names the file when it cannot."""
        try:
            return cls._load(path)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise HeadFileError(f"{path}: not a readable ouie head file ({error})") from error

    @classmethod
    def _load(cls, path: Path) -> Head:
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
                embedding_transform=str(data.get("embedding_transform", "identity")),
                prior={
                    EventClass(str(c)): float(a)
                    for c, a in zip(
                        data.get("prior_classes", []), data.get("prior_exponents", []), strict=True
                    )
                },
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
            "embedding_transform": np.array(self.embedding_transform),
            "prior_classes": np.array([str(c) for c in self.prior], dtype=str),
            "prior_exponents": np.array(list(self.prior.values()), np.float64),
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
            embedding_transform=self.embedding_transform,
            prior=self.prior,
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """p(label | window), (n, len(labels))."""
        hidden = (transform_embedding(features, self.embedding_transform) - self.mean) / self.scale
        for weights, bias in self.layers[:-1]:
            hidden = np.maximum(hidden @ weights + bias, 0.0)
        weights, bias = self.layers[-1]
        return softmax(hidden @ weights + bias)

    def class_scores(self, features: np.ndarray, grouped: np.ndarray) -> np.ndarray:
        """Scores for EVENT_CLASSES, (n, 7), from the head's input (`head_features`) and
        YAMNet's grouped scores g: p_c^(1 − a_c) g_c^(a_c) for trained classes (a_c: `prior`,
        0 without one), g_c × p(none) for the others."""
        probs = self.probabilities(features)
        p_none = probs[:, self.labels.index(NONE_LABEL)]
        columns = []
        for j, event_class in enumerate(EVENT_CLASSES):
            if event_class.value in self.labels:
                p = probs[:, self.labels.index(event_class.value)]
                a = self.prior.get(event_class, 0.0)
                columns.append(p if a == 0.0 else p ** (1.0 - a) * grouped[:, j] ** a)
            else:
                columns.append(grouped[:, j] * p_none)
        return np.stack(columns, axis=1).astype(np.float32)
