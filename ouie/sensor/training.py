"""Training ouie's head and judging it by grouped cross-validation (`ouie models train-head`).

Recipe: YAMNet features of every clip and its augmented variants (`ouie.sensor.features`);
standardised embedding ‖ scores, projected on their first N_COMPONENTS principal components and
whitened (z = (x − μ) Pᵀ / √λ: well conditioned, so the fit converges fast), then a multinomial
logistic regression (scikit-learn, L2 strength 1/C; classes keep their natural weights: `none`
dominates, as in the street). Projection and
regression are both linear, so the head is one layer: W = Pᵀ diag(1/√λ) W_lr,
b = b_lr − μ · W (exported as a `Head`). Cross-validation holds out whole
recordings (`dataset.recording_group`): 5 folds stratified by label, and a training fold never
sees a held-out clip, nor any augmented copy that used a held-out clip as its background.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.core.classes import EventClass
from ouie.core.report import ModelId
from ouie.sensor.config import Backend, DetectorConfig
from ouie.sensor.dataset import NONE_LABEL, TRAINED_CLASSES, LabelledClip
from ouie.sensor.evaluation import EvalResult, evaluate
from ouie.sensor.features import EVAL_ONLY_VARIANTS, VARIANTS, FeatureTable
from ouie.sensor.head import Head
from ouie.sensor.pipeline import EventStream
from ouie.sensor.scoring import WindowScores
from ouie.sensor.yamnet import N_EMBEDDING, grouped_scores, speech_scores

HEAD_LABELS: tuple[str, ...] = (*TRAINED_CLASSES, NONE_LABEL)
HEAD_NAME = "ouie-head/1"
DEFAULT_C = 0.05
"""Inverse L2 strength of the logistic regression."""
N_COMPONENTS = 128
"""Principal components kept before the regression (speed; folded into the one layer)."""
THRESHOLD_GRID = (0.5, 0.6, 0.7, 0.8, 0.9)
"""Trained-class thresholds tried on the out-of-fold results (`pick_threshold`)."""
FALSE_ALARM_LIMIT = 0.03
"""`pick_threshold` only considers thresholds whose held-out false-alarm rate (clean clips)
is at most this."""
HEAD_THRESHOLDS: dict[EventClass, float] = {
    **dict.fromkeys(EventClass, 0.8),
    EventClass.ALARM: 0.3,  # grouped YAMNet score × p(none): YAMNet's own scale
    EventClass.FIREWORKS: 0.3,
}
"""One threshold for the trained classes, chosen among 0.5/0.7/0.8/0.9/0.95 on out-of-fold
results (best macro F1; so the CV figures are slightly optimistic about it)."""
N_FOLDS = 5


TRAIN_VARIANTS: tuple[str, ...] = tuple(v for v in VARIANTS if v not in EVAL_ONLY_VARIANTS)
"""Variants the head is trained on (`BASE_VARIANTS` alone: the recipe before propagation)."""


def training_rows(
    table: FeatureTable, train_clips: np.ndarray, variants: tuple[str, ...] = TRAIN_VARIANTS
) -> np.ndarray:
    """Rows usable for training: labelled windows of training clips, of a training variant
    (never `EVAL_ONLY_VARIANTS`), whose background (if any) is a training clip too."""
    in_train = np.zeros(table.clip.max() + 1, bool)
    in_train[train_clips] = True
    background_ok = (table.background < 0) | in_train[np.maximum(table.background, 0)]
    allowed = [VARIANTS.index(v) for v in variants if v not in EVAL_ONLY_VARIANTS]
    return table.labelled & in_train[table.clip] & background_ok & np.isin(table.variant, allowed)


def fit_head(
    table: FeatureTable,
    clips: list[LabelledClip],
    train_clips: np.ndarray,
    c: float = DEFAULT_C,
    variants: tuple[str, ...] = TRAIN_VARIANTS,
) -> Head:
    """Standardise, fit the logistic regression, export as a Head."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    rows = training_rows(table, train_clips, variants)
    features = table.features[rows]
    labels = np.array([HEAD_LABELS.index(clips[i].label) for i in table.clip[rows]])
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    standardised = (features - mean) / scale
    pca = PCA(n_components=N_COMPONENTS, whiten=True, svd_solver="randomized", random_state=0)
    projected = pca.fit_transform(standardised)
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(projected, labels)
    projection = pca.components_.T / np.sqrt(pca.explained_variance_)  # (n_features, k)
    folded = projection @ model.coef_.T
    weights = np.zeros((features.shape[1], len(HEAD_LABELS)), np.float32)
    bias = np.full(len(HEAD_LABELS), -30.0, np.float32)  # a label absent from training: never
    weights[:, model.classes_] = folded
    bias[model.classes_] = model.intercept_ - pca.mean_ @ folded
    return Head(
        labels=list(HEAD_LABELS),
        mean=mean,
        scale=scale,
        layers=[(weights, bias)],
        thresholds=dict(HEAD_THRESHOLDS),
        name=HEAD_NAME,
        sha256="0" * 64,
    )


class ReplayScorer:
    """A backend that replays precomputed window scores (so that clip decisions go through the
    pipeline's own gate, competition and hysteresis)."""

    description = "replay"

    def __init__(self, head: Head, features: np.ndarray) -> None:
        embeddings, audioset = features[:, :N_EMBEDDING], features[:, N_EMBEDDING:]
        self.class_scores = head.class_scores(embeddings, audioset, grouped_scores(audioset))
        self.speech = speech_scores(audioset)
        self.default_thresholds = dict(head.thresholds)
        self.model_id = ModelId(name=head.name, sha256=head.sha256)
        self._next = 0

    def score(self, windows: np.ndarray) -> WindowScores:
        rows = slice(self._next, self._next + len(windows))
        self._next += len(windows)
        return WindowScores(self.class_scores[rows], self.speech[rows])


def clip_predictions(head: Head, table: FeatureTable, clip_ids: np.ndarray) -> list[str]:
    """Per clip: the class of its best-scoring event as `EventStream` finds it."""
    config = DetectorConfig(backend=Backend.BUILTIN)  # the sensor defaults; scorer replayed
    hop = round(config.hop_s * SAMPLE_RATE_HZ)
    predictions = []
    for clip_id in clip_ids:
        features = table.features[table.clip == clip_id]
        engine = EventStream(ReplayScorer(head, features), config)
        events = engine.feed(np.zeros(len(features) * hop, np.float32)) + engine.flush()
        best = max(events, key=lambda e: e.score, default=None)
        predictions.append(best.event_class.value if best else NONE_LABEL)
    return predictions


EVAL_VARIANTS = ("clean", "street", "prop_eval")
"""Held-out renderings judged: as recorded, mixed into street noise, heard across a street."""


@dataclass
class CrossValidation:
    """Out-of-fold results per evaluated variant (`EVAL_VARIANTS` present in the table) and,
    per trained-class threshold tried, the same (`by_threshold[t][variant]`)."""

    results: dict[str, EvalResult]
    by_threshold: dict[float, dict[str, EvalResult]]
    n_groups: int
    folds: int

    @property
    def clean(self) -> EvalResult:
        return self.results["clean"]

    @property
    def street(self) -> EvalResult:
        return self.results["street"]


def with_threshold(head: Head, threshold: float) -> Head:
    """The head with every trained class's threshold set to `threshold`."""
    thresholds = dict(head.thresholds)
    for name in TRAINED_CLASSES:
        thresholds[EventClass(name)] = threshold
    return Head(
        labels=head.labels,
        mean=head.mean,
        scale=head.scale,
        layers=head.layers,
        thresholds=thresholds,
        name=head.name,
        sha256=head.sha256,
    )


def cross_validate(
    table: FeatureTable,
    clips: list[LabelledClip],
    c: float = DEFAULT_C,
    progress=None,
    variants: tuple[str, ...] = TRAIN_VARIANTS,
    thresholds: tuple[float, ...] = (HEAD_THRESHOLDS[EventClass.GUNSHOT],),
) -> CrossValidation:
    """Grouped, label-stratified k-fold (scikit-learn StratifiedGroupKFold); heads trained on
    `variants`, judged on every `EVAL_VARIANTS` rendering of the held-out clips."""
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.array([c_.label for c_ in clips])
    groups = np.array([c_.group for c_ in clips])
    splitter = StratifiedGroupKFold(n_splits=N_FOLDS, shuffle=True, random_state=0)
    judged = [v for v in EVAL_VARIANTS if np.any(table.variant == VARIANTS.index(v))]
    predicted = {t: {v: dict[int, str]() for v in judged} for t in thresholds}
    for train, test in splitter.split(np.zeros(len(clips)), labels, groups):
        fitted = fit_head(table, clips, train, c, variants)
        for t in thresholds:
            head = with_threshold(fitted, t)
            for variant in judged:
                rows = np.isin(table.clip, test) & (table.variant == VARIANTS.index(variant))
                subset = table.subset(rows)
                present = np.unique(subset.clip)
                for clip_id, label in zip(
                    present, clip_predictions(head, subset, present), strict=True
                ):
                    predicted[t][variant][int(clip_id)] = label
        if progress:
            progress(1)
    by_threshold: dict[float, dict[str, EvalResult]] = {}
    for t, per_variant in predicted.items():
        by_threshold[t] = {}
        for variant, by_clip in per_variant.items():
            ids = sorted(by_clip)
            by_threshold[t][variant] = evaluate(
                [clips[i].label for i in ids],
                [by_clip[i] for i in ids],
                [clips[i].folder for i in ids],
            )
    return CrossValidation(by_threshold[thresholds[0]], by_threshold, len(set(groups)), N_FOLDS)


def write_manifest(clips: list[LabelledClip], path: Path, data_dir: Path) -> None:
    """The list of training files with their label, recording group and license note."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["file", "folder", "label", "group", "license_note"])
        for clip in clips:
            rel = clip.path.relative_to(data_dir)
            writer.writerow([rel, clip.folder, clip.label, clip.group, clip.license_note])


def pick_threshold(cv: CrossValidation) -> float:
    """The trained-class threshold with the best mean macro F1 over the held-out clips as
    recorded and as heard across a street (`prop_eval`, when present), among those whose
    clean false-alarm rate is at most `FALSE_ALARM_LIMIT` (all of them if none is). Picked on
    the out-of-fold results, so the figures at it are slightly optimistic."""

    def merit(t: float) -> float:
        per_variant = cv.by_threshold[t]
        judged = [v for v in ("clean", "prop_eval") if v in per_variant]
        return float(np.mean([per_variant[v].macro_f1 for v in judged]))

    allowed = [
        t for t, r in cv.by_threshold.items() if r["clean"].false_alarm_rate <= FALSE_ALARM_LIMIT
    ] or list(cv.by_threshold)
    return max(allowed, key=merit)
