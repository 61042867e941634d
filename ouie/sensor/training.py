"""Training ouie's head and judging it by grouped cross-validation (`ouie models train-head`).

Recipe: YAMNet features and impulse evidence (`ouie.sensor.impulse`) of every clip and its
augmented variants, heard close up and across a street (`ouie.sensor.features`, `TRAIN_VARIANTS`),
standardised (x' = (x − μ) / σ), then an ensemble of N_MEMBERS small multilayer perceptrons
(scikit-learn `MLPClassifier`: one hidden layer of HIDDEN_UNITS ReLU units, Adam, L2 `ALPHA`).
Member m sees the standardised YAMNet columns projected on their first N_COMPONENTS principal
components and whitened, z = (x'_Y − μ_m) P_mᵀ / √λ_m, followed by the standardised impulse
columns as they are; it is trained on its own (1 − VALIDATION_FRACTION) of
the recording groups and stopped at the epoch with the lowest log loss on the other groups
(`PATIENCE` epochs without progress end it). Members differ by their split and their seed, so
together they see every group. Classes keep their natural weights (`none` dominates, as in the
street). Export (`export_head`): the projection is linear, so it folds into each member's first
layer, W_m = [Pᵀ_m diag(1/√λ_m) W1_m^Y ; W1_m^I], b_m = b1_m − μ_m · Pᵀ_m diag(1/√λ_m) W1_m^Y
(W1^Y, W1^I: the rows fed by the components and by the impulse columns); the hidden layers are
concatenated and their output layers averaged, so the shipped head's logits are the mean of the
members' logits (p ∝ Π_m p_m^(1/N)): one `Head` with one hidden layer of N_MEMBERS × HIDDEN_UNITS.

Cross-validation holds out whole recordings (`dataset.recording_group`): 5 folds stratified by
label, and a training fold never sees a held-out clip, nor any augmented copy that used a held-out
clip as its background; the members' validation groups are drawn from the training fold only.
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
from ouie.sensor.yamnet import N_AUDIOSET, N_EMBEDDING, grouped_scores, speech_scores

HEAD_LABELS: tuple[str, ...] = (*TRAINED_CLASSES, NONE_LABEL)
N_YAMNET = N_EMBEDDING + N_AUDIOSET
"""The first N_YAMNET feature columns (embedding ‖ scores) go through each member's PCA; the
impulse evidence after them is passed on as it is (standardised), so that the projection
cannot drop it."""
HEAD_NAME = "ouie-head/3"
N_COMPONENTS = 256
"""Principal components each member sees (fewer when its data has fewer rows; folded into its
first layer)."""
HIDDEN_UNITS = 128
"""ReLU units of each member's hidden layer."""
ALPHA = 1.0
"""L2 penalty of the MLP (scikit-learn's `alpha`: ½·alpha·‖W‖² / BATCH_SIZE is added to each
batch's mean log loss)."""
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
"""Adam's step size."""
N_MEMBERS = 5
"""Members of the ensemble, each with its own validation groups and seed."""
VALIDATION_FRACTION = 0.2
"""Share of the training recording groups a member holds out to stop its training."""
MAX_EPOCHS = 60
PATIENCE = 5
"""Epochs without a lower validation loss (by 1e-4) that end a member's training."""
THRESHOLD_GRID = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
"""Trained-class thresholds tried on the out-of-fold results (`pick_threshold`)."""
FALSE_ALARM_LIMIT = 0.015
"""`pick_threshold` only considers thresholds whose held-out false-alarm rate (clean clips)
is at most this."""
HEAD_THRESHOLDS: dict[EventClass, float] = {
    **dict.fromkeys(EventClass, 0.8),
    EventClass.ALARM: 0.3,  # grouped YAMNet score × p(none): YAMNet's own scale
    EventClass.FIREWORKS: 0.3,
}
"""Defaults; `train-head` sets the trained classes' threshold with `pick_threshold`."""
N_FOLDS = 5


TRAIN_VARIANTS: tuple[str, ...] = tuple(v for v in VARIANTS if v not in EVAL_ONLY_VARIANTS)
"""Variants the head is trained on: base and propagated (`BASE_VARIANTS` alone: the recipe of
`ouie-head/2` and before)."""


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


@dataclass
class Member:
    """One trained member: its whitening PCA (on standardised features) and its MLP."""

    pca: object
    """sklearn.decomposition.PCA, fitted with whiten=True."""
    mlp: object
    """sklearn.neural_network.MLPClassifier with one hidden layer."""
    best_epoch: int
    """The epoch (from 0) whose weights it keeps."""


def split_groups(
    clips: list[LabelledClip], train_clips: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The training clips split by recording group: (fit, validation), the validation share
    `VALIDATION_FRACTION` of the groups, drawn with `seed`."""
    groups = np.array([clips[i].group for i in train_clips])
    unique = np.unique(groups)
    rng = np.random.default_rng(seed)
    held = rng.choice(unique, round(len(unique) * VALIDATION_FRACTION), replace=False)
    is_validation = np.isin(groups, held)
    return train_clips[~is_validation], train_clips[is_validation]


def fit_member(
    standardised: np.ndarray,
    labels: np.ndarray,
    validation: np.ndarray,
    validation_labels: np.ndarray,
    seed: int,
) -> Member:
    """PCA-whiten the YAMNet columns (`N_YAMNET`), keep the impulse columns, then train the MLP
    epoch by epoch (`partial_fit`), keeping the weights of the epoch with the lowest validation
    log loss, −mean log p(true label)."""
    from sklearn.decomposition import PCA
    from sklearn.neural_network import MLPClassifier

    n_components = min(N_COMPONENTS, len(standardised), N_YAMNET)
    pca = PCA(n_components=n_components, whiten=True, svd_solver="randomized", random_state=seed)
    pca.fit(standardised[:, :N_YAMNET])

    def project(x: np.ndarray) -> np.ndarray:
        return np.concatenate([pca.transform(x[:, :N_YAMNET]), x[:, N_YAMNET:]], axis=1)

    projected = project(standardised)
    projected_validation = project(validation)
    mlp = MLPClassifier(
        hidden_layer_sizes=(HIDDEN_UNITS,),
        alpha=ALPHA,
        batch_size=min(BATCH_SIZE, len(labels)),
        learning_rate_init=LEARNING_RATE,
        random_state=seed,
    )
    classes = np.arange(len(HEAD_LABELS))
    rows = np.arange(len(validation_labels))
    best_loss, best_epoch, best_weights = np.inf, 0, None
    for epoch in range(MAX_EPOCHS):
        mlp.partial_fit(projected, labels, classes=classes)
        p_true = mlp.predict_proba(projected_validation)[rows, validation_labels]
        loss = float(-np.log(np.maximum(p_true, 1e-9)).mean())
        if loss < best_loss - 1e-4:
            best_loss, best_epoch = loss, epoch
            best_weights = ([w.copy() for w in mlp.coefs_], [b.copy() for b in mlp.intercepts_])
        elif epoch - best_epoch >= PATIENCE:
            break
    assert best_weights is not None
    mlp.coefs_, mlp.intercepts_ = best_weights
    return Member(pca=pca, mlp=mlp, best_epoch=best_epoch)


def export_head(mean: np.ndarray, scale: np.ndarray, members: list[Member]) -> Head:
    """One `Head` whose logits are the mean of the members' logits (see the module docstring)."""
    first_weights, first_biases, out_weights, out_biases = [], [], [], []
    for member in members:
        pca, mlp = member.pca, member.mlp
        projection = pca.components_.T / np.sqrt(pca.explained_variance_)  # type: ignore[attr-defined]
        w1 = mlp.coefs_[0]  # type: ignore[attr-defined]
        yamnet_weights = projection @ w1[: projection.shape[1]]
        first_weights.append(np.concatenate([yamnet_weights, w1[projection.shape[1] :]]))
        first_biases.append(mlp.intercepts_[0] - pca.mean_ @ yamnet_weights)  # type: ignore[attr-defined]
        out_weights.append(mlp.coefs_[1] / len(members))  # type: ignore[attr-defined]
        out_biases.append(mlp.intercepts_[1] / len(members))  # type: ignore[attr-defined]
    return Head(
        labels=list(HEAD_LABELS),
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        layers=[
            (np.concatenate(first_weights, axis=1), np.concatenate(first_biases)),
            (np.concatenate(out_weights, axis=0), np.sum(out_biases, axis=0)),
        ],
        thresholds=dict(HEAD_THRESHOLDS),
        name=HEAD_NAME,
        sha256="0" * 64,
    )


def fit_members(
    table: FeatureTable,
    clips: list[LabelledClip],
    train_clips: np.ndarray,
    variants: tuple[str, ...] = TRAIN_VARIANTS,
    n_members: int = N_MEMBERS,
) -> tuple[np.ndarray, np.ndarray, list[Member]]:
    """The standardisation (μ, σ over every training row) and the trained members."""
    rows = training_rows(table, train_clips, variants)
    mean = table.features[rows].mean(axis=0)
    scale = table.features[rows].std(axis=0) + 1e-6
    label_of_clip = np.array([HEAD_LABELS.index(c.label) for c in clips])
    members = []
    for seed in range(n_members):
        fit_clips, validation_clips = split_groups(clips, train_clips, seed)
        fit_rows = training_rows(table, fit_clips, variants)
        validation_rows = training_rows(table, validation_clips, variants)
        members.append(
            fit_member(
                (table.features[fit_rows] - mean) / scale,
                label_of_clip[table.clip[fit_rows]],
                (table.features[validation_rows] - mean) / scale,
                label_of_clip[table.clip[validation_rows]],
                seed,
            )
        )
    return mean, scale, members


def recipe() -> dict[str, object]:
    """The recipe's settings, as recorded in the head's report."""
    return {
        "head": HEAD_NAME,
        "members": N_MEMBERS,
        "hidden_units": HIDDEN_UNITS,
        "principal_components": N_COMPONENTS,
        "alpha": ALPHA,
        "batch_size": BATCH_SIZE,
        "learning_rate": LEARNING_RATE,
        "validation_fraction": VALIDATION_FRACTION,
        "max_epochs": MAX_EPOCHS,
        "patience": PATIENCE,
        "threshold_grid": list(THRESHOLD_GRID),
        "false_alarm_limit": FALSE_ALARM_LIMIT,
    }


def fit_head(
    table: FeatureTable,
    clips: list[LabelledClip],
    train_clips: np.ndarray,
    variants: tuple[str, ...] = TRAIN_VARIANTS,
    n_members: int = N_MEMBERS,
) -> Head:
    """Train the ensemble on the training clips' rows and export it as one Head."""
    return export_head(*fit_members(table, clips, train_clips, variants, n_members))


class ReplayScorer:
    """A backend that replays precomputed window scores (so that clip decisions go through the
    pipeline's own gate, competition and hysteresis)."""

    description = "replay"

    def __init__(self, head: Head, features: np.ndarray) -> None:
        audioset = features[:, N_EMBEDDING:N_YAMNET]
        self.class_scores = head.class_scores(features, grouped_scores(audioset))
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
    """Out-of-fold results per trained-class threshold tried and evaluated variant
    (`by_threshold[t][variant]`, `EVAL_VARIANTS` present in the table); `threshold`: the one
    `pick_threshold` takes on them all (slightly optimistic figures); `nested`: each fold judged
    at the threshold `pick_threshold` takes on the other folds' results (`nested_thresholds`),
    never on its own, so the honest figures of the whole recipe."""

    by_threshold: dict[float, dict[str, EvalResult]]
    threshold: float
    nested: dict[str, EvalResult]
    nested_thresholds: list[float]
    n_groups: int
    folds: int

    @property
    def results(self) -> dict[str, EvalResult]:
        return self.by_threshold[self.threshold]

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
    progress=None,
    variants: tuple[str, ...] = TRAIN_VARIANTS,
    thresholds: tuple[float, ...] = THRESHOLD_GRID,
) -> CrossValidation:
    """Grouped, label-stratified k-fold (scikit-learn StratifiedGroupKFold); heads trained on
    `variants`, judged at each of `thresholds` on every `EVAL_VARIANTS` rendering of the
    held-out clips."""
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.array([c_.label for c_ in clips])
    groups = np.array([c_.group for c_ in clips])
    splitter = StratifiedGroupKFold(n_splits=N_FOLDS, shuffle=True, random_state=0)
    judged = [v for v in EVAL_VARIANTS if np.any(table.variant == VARIANTS.index(v))]
    predicted = {t: {v: dict[int, str]() for v in judged} for t in thresholds}
    fold_of = np.zeros(len(clips), int)
    for fold, (train, test) in enumerate(splitter.split(np.zeros(len(clips)), labels, groups)):
        fold_of[test] = fold
        fitted = fit_head(table, clips, train, variants)
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

    def judge(by_clip: dict[int, str], keep: np.ndarray) -> EvalResult:
        ids = [i for i in sorted(by_clip) if keep[i]]
        return evaluate(
            [clips[i].label for i in ids], [by_clip[i] for i in ids], [clips[i].folder for i in ids]
        )

    def results(keep: np.ndarray) -> dict[float, dict[str, EvalResult]]:
        return {t: {v: judge(p, keep) for v, p in per.items()} for t, per in predicted.items()}

    everyone = np.ones(len(clips), bool)
    by_threshold = results(everyone)
    nested_thresholds = [pick_threshold(results(fold_of != k)) for k in range(N_FOLDS)]
    nested = {
        v: judge({i: predicted[nested_thresholds[fold_of[i]]][v][i] for i in by_clip}, everyone)
        for v, by_clip in predicted[thresholds[0]].items()
    }
    return CrossValidation(
        by_threshold=by_threshold,
        threshold=pick_threshold(by_threshold),
        nested=nested,
        nested_thresholds=nested_thresholds,
        n_groups=len(set(groups)),
        folds=N_FOLDS,
    )


def write_manifest(clips: list[LabelledClip], path: Path, data_dir: Path) -> None:
    """The list of training files with their label, recording group and license note."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["file", "folder", "label", "group", "license_note"])
        for clip in clips:
            rel = clip.path.relative_to(data_dir)
            writer.writerow([rel, clip.folder, clip.label, clip.group, clip.license_note])


def pick_threshold(by_threshold: dict[float, dict[str, EvalResult]]) -> float:
    """The trained-class threshold with the best mean macro F1 over the held-out clips as
    recorded and as heard across a street (`prop_eval`, when present), among those whose
    clean false-alarm rate is at most `FALSE_ALARM_LIMIT` (the one with the fewest false alarms
    if none is)."""

    def merit(t: float) -> float:
        per_variant = by_threshold[t]
        judged = [v for v in ("clean", "prop_eval") if v in per_variant]
        return float(np.mean([per_variant[v].macro_f1 for v in judged]))

    allowed = [
        t for t, r in by_threshold.items() if r["clean"].false_alarm_rate <= FALSE_ALARM_LIMIT
    ]
    if not allowed:
        return min(by_threshold, key=lambda t: by_threshold[t]["clean"].false_alarm_rate)
    return max(allowed, key=merit)
