"""Judging window heads on sources they never heard: leave one source out (LOSO), grouped by
recording, with per-class thresholds chosen on other folds' predictions only.

Each clip is decided as the sensor decides it (`ouie.sensor.pipeline.EventStream`): its windows'
class scores go through the speech gate and the per-window competition (`gate_and_compete`);
a class opens an event at a window ≥ T_c that goes on while ≥ release·T_c, and a class with
`min_windows` = 2 needs two such windows; the strongest event decides the clip, `none` without
one. For one clip and class c, with s_k the gated score of window k:
  m_c = max_k s_k                                  (the event's score),
  e_c = m_c                   if min_windows(c) = 1,
  e_c = max_k min(s_k, s_{k+1} / release)          if min_windows(c) = 2,
and the clip holds an event of c iff e_c ≥ T_c; the clip's class is argmax_c {m_c : e_c ≥ T_c}.
(`ClipEvidence`; exact for single events, `replayed_predictions` runs the engine itself.)
Thresholds are then searched on arrays, never by replaying audio.

Clip roles: the alerting classes' folders (and siren) are themselves; `fireworks` is a trained
context class (never alerting); `alarm` and `boom` (game explosions) are neither trained on nor
counted as everyday sounds; every other folder is `none` and its clips are the everyday sounds
whose alerting predictions are false alarms.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.core.classes import EventClass
from ouie.learn.dataset import NONE_LABEL, TRAINED_CLASSES, LabelledClip
from ouie.learn.evaluation import ALERTING, EvalResult, evaluate
from ouie.learn.features import FeatureTable
from ouie.learn.training import N_FOLDS, N_YAMNET, ReplayScorer, ReplayVerifier
from ouie.sensor.config import Backend, DetectorConfig
from ouie.sensor.head import N_EMBEDDING, Head, transform_embedding
from ouie.sensor.pipeline import EventStream, gate_and_compete
from ouie.sensor.scoring import EVENT_CLASSES, WindowScores
from ouie.sensor.yamnet import head_window_scores

log = logging.getLogger(__name__)

CONTEXT_CLASSES: tuple[str, ...] = (EventClass.FIREWORKS.value,)
"""Context classes trained as such (alarm: 3 clips, too few)."""
HEAD_LABELS: tuple[str, ...] = (*TRAINED_CLASSES, *CONTEXT_CLASSES, NONE_LABEL)
UNJUDGED_FOLDERS: tuple[str, ...] = (EventClass.ALARM.value, "boom")
"""Neither trained on nor everyday: an alarm may rightly be called alarm, a game's boom an
explosion."""
THRESHOLD_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
"""Per-class thresholds tried by `choose_thresholds`."""
ALERTING_THRESHOLD_FLOOR = 0.5
"""An alerting class is never thresholded below this: an alert needs the class to be more
likely than everything else together. Without it, a fold whose everyday clips hold few bangs
chose gunshot 0.4 (SESA held out: its `casual` clips then gave 23 false alarms, 19 with the
floor; docs/results/detection.md)."""


def threshold_grid(event_class: EventClass) -> tuple[float, ...]:
    """The thresholds `choose_thresholds` tries for a class (THRESHOLD_GRID, alerting classes
    from ALERTING_THRESHOLD_FLOOR up)."""
    if event_class.value in ALERTING:
        return tuple(t for t in THRESHOLD_GRID if t >= ALERTING_THRESHOLD_FLOOR)
    return THRESHOLD_GRID


MIN_SOURCE_CLIPS = 50
"""Sources with fewer clips always train (never held out)."""


def training_label(folder: str) -> str | None:
    """The head label of a folder's clips: the class, `fireworks`, `none`; None: not trained."""
    if folder in TRAINED_CLASSES or folder in CONTEXT_CLASSES:
        return folder
    return None if folder in UNJUDGED_FOLDERS else NONE_LABEL


def is_everyday(clip: LabelledClip) -> bool:
    """A clip whose alerting prediction is a false alarm (not an event, context or unjudged)."""
    return training_label(clip.folder) == NONE_LABEL


@dataclass(frozen=True)
class ClipEvidence:
    """Per clip and EVENT_CLASSES column: the best gated window score `m` and the evidence `e`
    that an event of the class is raised (see the module), (n_clips, 7) each."""

    m: np.ndarray
    e: np.ndarray

    def decide(self, thresholds: np.ndarray) -> np.ndarray:
        """Index into EVENT_CLASSES of each clip's class, −1 for none; thresholds (7,)."""
        raised = self.e >= thresholds
        score = np.where(raised, self.m, -1.0)
        best = score.argmax(axis=1)
        return np.where(score.max(axis=1) >= 0, best, -1)


def clip_evidence(
    scores: WindowScores, clip_of_row: np.ndarray, n_clips: int, config: DetectorConfig
) -> ClipEvidence:
    """`ClipEvidence` of every clip from its windows' scores (rows in window order per clip)."""
    gated = gate_and_compete(scores, config.speech_gate)
    m = np.zeros((n_clips, len(EVENT_CLASSES)))
    e = np.zeros_like(m)
    np.maximum.at(m, clip_of_row, gated)
    same_clip_next = np.append(clip_of_row[1:] == clip_of_row[:-1], False)
    following = np.where(same_clip_next[:, None], np.roll(gated, -1, axis=0), 0.0)
    pair = np.minimum(gated, following / config.release_ratio)
    np.maximum.at(e, clip_of_row, pair)
    sustained = np.array([config.windows_to_confirm.get(c, 1) >= 2 for c in EVENT_CLASSES])
    return ClipEvidence(m, np.where(sustained, e, m))


def detector_config() -> DetectorConfig:
    """The sensor's defaults (its windows, gate, hysteresis and lengths)."""
    return DetectorConfig(backend=Backend.BUILTIN)


def threshold_vector(thresholds: dict[EventClass, float]) -> np.ndarray:
    """(7,) in EVENT_CLASSES order."""
    return np.array([thresholds[c] for c in EVENT_CLASSES])


START_THRESHOLDS = threshold_vector(
    {**dict.fromkeys(EventClass, 0.5), EventClass.ALARM: 0.3}  # alarm: YAMNet's own scale
)
"""Where the search starts (and the classes it does not tune stay)."""
TUNED_CLASSES: tuple[EventClass, ...] = tuple(
    EventClass(c) for c in (*TRAINED_CLASSES, *CONTEXT_CLASSES)
)


def names(decided: np.ndarray) -> list[str]:
    """EVENT_CLASSES indices (−1: none) as class names."""
    return [EVENT_CLASSES[k].value if k >= 0 else NONE_LABEL for k in decided.tolist()]


@dataclass
class Figures:
    """What a set of decided clips says: `result` over the judged clips (alerting classes and
    everyday sounds), false alarms on everyday clips, fireworks called gunshot or explosion."""

    result: EvalResult
    false_alarms: int
    everyday: int
    fireworks_as_bang: int
    fireworks: int
    false_alarm_folders: dict[str, int] = field(default_factory=dict)

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.everyday if self.everyday else 0.0

    @property
    def fireworks_rate(self) -> float:
        return self.fireworks_as_bang / self.fireworks if self.fireworks else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "macro_f1": round(self.result.macro_f1, 4),
            "per_class": {
                c: {"support": f.support, "recall": round(f.recall, 3), "f1": round(f.f1, 3)}
                for c, f in self.result.per_class.items()
                if f.support
            },
            "false_alarms": self.false_alarms,
            "everyday_clips": self.everyday,
            "false_alarm_rate": round(self.false_alarm_rate, 4),
            "fireworks_as_gunshot_or_explosion": self.fireworks_as_bang,
            "fireworks_clips": self.fireworks,
            "false_alarm_folders": self.false_alarm_folders,
        }


def figures(clips: list[LabelledClip], ids: np.ndarray, predicted: list[str]) -> Figures:
    """`Figures` of clips `ids` given their predicted class names."""
    judged = [
        (i, p)
        for i, p in zip(ids.tolist(), predicted, strict=True)
        if clips[i].label != NONE_LABEL or is_everyday(clips[i])
    ]
    result = evaluate(
        [clips[i].label for i, _ in judged],
        [p for _, p in judged],
        [clips[i].folder for i, _ in judged],
    )
    alarms = Counter(clips[i].folder for i, p in judged if is_everyday(clips[i]) and p in ALERTING)
    fireworks = [
        p
        for i, p in zip(ids.tolist(), predicted, strict=True)
        if clips[i].folder in CONTEXT_CLASSES
    ]
    bangs = (EventClass.GUNSHOT.value, EventClass.EXPLOSION.value)
    return Figures(
        result=result,
        false_alarms=sum(alarms.values()),
        everyday=sum(is_everyday(clips[i]) for i, _ in judged),
        fireworks_as_bang=sum(p in bangs for p in fireworks),
        fireworks=len(fireworks),
        false_alarm_folders=dict(alarms.most_common()),
    )


def choose_thresholds(
    evidence: ClipEvidence,
    clips: list[LabelledClip],
    ids: np.ndarray,
    false_alarm_limit: float,
    start: np.ndarray,
    tuned: tuple[EventClass, ...],
    rounds: int = 3,
) -> np.ndarray:
    """Per-class thresholds on the clips `ids` (rows of `evidence`): coordinate ascent over
    `threshold_grid` of each class of `tuned`, maximising macro F1 among points whose false-alarm
    rate on everyday clips is at most `false_alarm_limit` (else the lowest rate), from `start`."""
    sub = ClipEvidence(evidence.m[ids], evidence.e[ids])

    def merit(thresholds: np.ndarray) -> tuple[bool, float]:
        found = figures(clips, ids, names(sub.decide(thresholds)))
        within = found.false_alarm_rate <= false_alarm_limit
        return within, found.result.macro_f1 if within else -found.false_alarm_rate

    best = start.copy()
    best_merit = merit(best)
    for _ in range(rounds):
        changed = False
        for c in tuned:
            j = EVENT_CLASSES.index(c)
            for value in threshold_grid(c):
                trial = best.copy()
                trial[j] = value
                trial_merit = merit(trial)
                if trial_merit > best_merit:
                    best, best_merit, changed = trial, trial_merit, True
        if not changed:
            break
    return best


def replayed_predictions(
    scores: WindowScores,
    clip_of_row: np.ndarray,
    ids: np.ndarray,
    thresholds: np.ndarray,
    verdicts: np.ndarray | None = None,
    verified: dict[EventClass, float] | None = None,
) -> list[str]:
    """The class `EventStream` itself gives each clip of `ids` (the strongest closed event),
    replaying its windows' scores at `thresholds` (EVENT_CLASSES order): checks `ClipEvidence`.
    With `verdicts` (a verifier's class scores of each row's aligned window) and `verified` (its
    thresholds), the classes it decides are confirmed by it, as in the sensor."""
    config = detector_config()
    hop = round(config.hop_s * SAMPLE_RATE_HZ)
    by_class = {c: float(t) for c, t in zip(EVENT_CLASSES, thresholds, strict=True)}
    predicted = []
    for clip_id in ids.tolist():
        rows = np.flatnonzero(clip_of_row == clip_id)
        verifier = (
            None
            if verdicts is None or verified is None
            else ReplayVerifier(verdicts[rows], hop, verified)
        )
        replay = ReplayScorer(
            WindowScores(scores.class_scores[rows], scores.speech[rows]), by_class, verifier
        )
        engine = EventStream(replay, config)
        events = engine.feed(np.zeros(len(rows) * hop, np.float32)) + engine.flush()
        best = max(events, key=lambda e: e.score, default=None)
        predicted.append(best.event_class.value if best else NONE_LABEL)
    return predicted


# --- heads -------------------------------------------------------------------------------------

HeadFitter = Callable[[np.ndarray, np.ndarray, int], Head]
"""(rows of the head's input, their HEAD_LABELS indices, seed) → a Head."""


def _standardisation(x: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """μ, σ over the rows (μ = 0, σ = 1 on unused columns, whose weights are 0)."""
    mean = np.where(columns, x.mean(axis=0), 0.0)
    scale = np.where(columns, x.std(axis=0) + 1e-6, 1.0)
    return mean.astype(np.float32), scale.astype(np.float32)


INPUT_PARTS: dict[str, slice] = {
    "embedding": slice(0, N_EMBEDDING),
    "scores": slice(N_EMBEDDING, N_YAMNET),
    "impulse": slice(N_YAMNET, None),
}
"""The parts of the head's input (`ouie.sensor.head.head_features`): YAMNet's 1,024-d embedding,
its 521 AudioSet scores, the window's impulse evidence."""


def used_columns(n_columns: int, inputs: tuple[str, ...]) -> np.ndarray:
    """Columns a head reads: those of the `inputs` parts (INPUT_PARTS); the others weigh 0."""
    columns = np.zeros(n_columns, bool)
    for part in inputs:
        columns[INPUT_PARTS[part]] = True
    return columns


def class_weights(y: np.ndarray, balance: float) -> dict[int, float]:
    """Per label k with n_k rows: w_k ∝ n_k^(−balance), scaled so that Σ_k w_k n_k = Σ_k n_k
    (balance 0: every row weighs 1; 1: every label weighs the same, scikit-learn's 'balanced';
    between: rare labels count more, not as much as the common ones)."""
    labels, counts = np.unique(y, return_counts=True)
    weights = counts.astype(np.float64) ** -balance
    weights *= counts.sum() / (weights * counts).sum()
    return dict(zip(labels.tolist(), weights.tolist(), strict=True))


def linear_fitter(
    c: float,
    balance: float,
    inputs: tuple[str, ...],
    name: str,
    components: int = 128,
    embedding_transform: str = "identity",
    prior: dict[EventClass, float] | None = None,
) -> HeadFitter:
    """Multinomial logistic regression (scikit-learn, L2 with inverse strength `c`, rows weighted
    by `class_weights(y, balance)`) on the first `components` principal components of the
    standardised input z (fitted on the training rows):
    p = softmax(W (z − m)ᵀP + b). The projection is linear and folds into one layer,
    W' = Pᵀ W, b' = b − m Pᵀ W: a `Head` with one softmax layer over the whole input. P: the
    leading eigenvectors of the covariance (zᵀz/n of the centred rows). On all 1,545 columns
    lbfgs needs many minutes per fit on a shared core; on 128 components, seconds. Some fits
    stop at lbfgs's 500 iterations: one info line says so (scikit-learn's warning is caught),
    and every figure measured is that of the stopped fit.
    `embedding_transform` is applied to the input first and `prior` (YAMNet's grouped score's
    exponent per class) is kept by the head: both act as `ouie.sensor.head` says."""

    def fit(x: np.ndarray, y: np.ndarray, seed: int) -> Head:
        from scipy.linalg import eigh
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        x = transform_embedding(x, embedding_transform)
        columns = used_columns(x.shape[1], inputs)
        mean, scale = _standardisation(x, columns)
        z = ((x - mean) / scale)[:, columns]
        centre = z.mean(axis=0)
        centred = z - centre
        covariance = (centred.T @ centred / len(z)).astype(np.float64)
        k = min(components, len(covariance))
        _, vectors = eigh(covariance, subset_by_index=[len(covariance) - k, len(covariance) - 1])
        projection = vectors.astype(np.float32)  # Pᵀ, (columns, k): the k leading directions
        model = LogisticRegression(
            C=c, class_weight=class_weights(y, balance), max_iter=500, random_state=seed
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(centred @ projection, y)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            log.info("%s: lbfgs stopped at its %d iterations (fit %d)", name, model.max_iter, seed)
        folded = projection @ model.coef_.T  # (columns used, classes present)
        weights = np.zeros((x.shape[1], len(HEAD_LABELS)), np.float32)
        bias = np.full(len(HEAD_LABELS), -30.0, np.float32)  # a label without rows: never
        weights[np.ix_(columns, model.classes_)] = folded
        bias[model.classes_] = model.intercept_ - centre @ folded
        return _head(mean, scale, [(weights, bias)], name, embedding_transform, prior)

    return fit


def mlp_fitter(hidden: int, alpha: float, inputs: tuple[str, ...], name: str) -> HeadFitter:
    """One hidden layer of `hidden` ReLU units (scikit-learn MLPClassifier, Adam, L2 `alpha`,
    early stopping on 10 % of the rows), a `Head` with two layers."""

    def fit(x: np.ndarray, y: np.ndarray, seed: int) -> Head:
        from sklearn.neural_network import MLPClassifier

        columns = used_columns(x.shape[1], inputs)
        mean, scale = _standardisation(x, columns)
        z = ((x - mean) / scale)[:, columns]
        model = MLPClassifier(
            hidden_layer_sizes=(hidden,),
            alpha=alpha,
            early_stopping=True,
            max_iter=200,
            random_state=seed,
        )
        model.fit(z, y)
        first = np.zeros((x.shape[1], hidden), np.float32)
        first[columns] = model.coefs_[0]
        out = np.zeros((hidden, len(HEAD_LABELS)), np.float32)
        out_bias = np.full(len(HEAD_LABELS), -30.0, np.float32)
        out[:, model.classes_] = model.coefs_[1]
        out_bias[model.classes_] = model.intercepts_[1]
        return _head(mean, scale, [(first, model.intercepts_[0]), (out, out_bias)], name)

    return fit


def _head(
    mean: np.ndarray,
    scale: np.ndarray,
    layers: list[tuple[np.ndarray, np.ndarray]],
    name: str,
    embedding_transform: str = "identity",
    prior: dict[EventClass, float] | None = None,
) -> Head:
    return Head(
        labels=list(HEAD_LABELS),
        mean=mean,
        scale=scale,
        layers=layers,
        thresholds=dict.fromkeys(EventClass, 0.5),
        name=name,
        sha256="0" * 64,
        embedding_transform=embedding_transform,
        prior=prior,
    )


# --- splits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """One fold: `name`, the clips trained on and the clips judged."""

    name: str
    train: np.ndarray
    test: np.ndarray


def loso_splits(clips: list[LabelledClip], min_clips: int = MIN_SOURCE_CLIPS) -> Iterator[Split]:
    """Each source of at least `min_clips` clips held out in turn (largest first); its training
    side is every other source less any clip of a recording group the held-out source also holds
    (one UrbanSound8K recording copied by two repositories is one recording)."""
    source = np.array([c.source for c in clips])
    group = np.array([c.group for c in clips])
    for name, n in Counter(source.tolist()).most_common():
        if n < min_clips:
            continue
        test = source == name
        train = ~test & ~np.isin(group, np.unique(group[test]))
        yield Split(name, np.flatnonzero(train), np.flatnonzero(test))


def grouped_splits(clips: list[LabelledClip], folds: int = N_FOLDS) -> Iterator[Split]:
    """Grouped, label-stratified k-fold (scikit-learn StratifiedGroupKFold, seed 0)."""
    from sklearn.model_selection import StratifiedGroupKFold

    labels = [c.folder for c in clips]
    groups = [c.group for c in clips]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
    for k, (train, test) in enumerate(splitter.split(np.zeros(len(clips)), labels, groups)):
        yield Split(f"fold {k + 1}", train, test)


def classes_held(clips: list[LabelledClip], ids: np.ndarray) -> set[str]:
    return {clips[i].label for i in ids.tolist()} - {NONE_LABEL}


# --- the evaluation ------------------------------------------------------------------------------


@dataclass
class Judged:
    """Held-out evidence of every clip some split judged, the split that judged it, and which of
    its trained classes the split's training side lacked (those clips are left out)."""

    evidence: ClipEvidence
    split_of: np.ndarray
    """Index into `splits` per clip (−1: never held out)."""
    splits: list[Split]
    unseen: dict[str, set[str]]
    """Split name → the alerting classes its test side holds that its training side lacks."""


def fit_on(
    table: FeatureTable,
    clips: list[LabelledClip],
    train_ids: np.ndarray,
    fitter: HeadFitter,
    seed: int = 0,
) -> Head:
    """A head fitted on the labelled windows of the clips `train_ids` that have a head label
    (`training_label`: unjudged folders are left out), each labelled with its clip's label."""
    label_of = np.array([HEAD_LABELS.index(training_label(c.folder) or NONE_LABEL) for c in clips])
    trainable = np.array([training_label(c.folder) is not None for c in clips])
    in_train = np.zeros(len(clips), bool)
    in_train[train_ids] = True
    rows = table.labelled & in_train[table.clip] & trainable[table.clip]
    return fitter(table.features[rows], label_of[table.clip[rows]], seed)


def held_out_evidence(
    table: FeatureTable,
    clips: list[LabelledClip],
    splits: list[Split],
    fitter: HeadFitter | None,
    shipped: Head | None = None,
    progress: Callable[[int], None] | None = None,
) -> Judged:
    """Per split, a head fitted on the training side's labelled windows (or `shipped`, the
    same head everywhere) scores the test side's windows; their clip evidence is kept."""
    config = detector_config()
    n = len(clips)
    m = np.zeros((n, len(EVENT_CLASSES)))
    e = np.zeros_like(m)
    split_of = np.full(n, -1)
    unseen = {}
    for k, split in enumerate(splits):
        if shipped is not None:
            head = shipped
        else:
            assert fitter is not None
            head = fit_on(table, clips, split.train, fitter, seed=k)
        test_rows = np.isin(table.clip, split.test)
        scores = head_window_scores(head, table.features[test_rows])
        found = clip_evidence(scores, table.clip[test_rows], n, config)
        m[split.test] = found.m[split.test]
        e[split.test] = found.e[split.test]
        split_of[split.test] = k
        trained = classes_held(clips, split.train)
        unseen[split.name] = classes_held(clips, split.test) - trained
        if progress:
            progress(1)
    return Judged(ClipEvidence(m, e), split_of, splits, unseen)


def judged_clips(clips: list[LabelledClip], judged: Judged, k: int) -> np.ndarray:
    """Split k's test clips less those of a class its training side never saw."""
    split = judged.splits[k]
    lacking = judged.unseen[split.name]
    return np.array([i for i in split.test.tolist() if clips[i].label not in lacking], int)


@dataclass
class Nested:
    """Every split's clips decided at thresholds chosen on the other splits' held-out clips."""

    by_split: dict[str, Figures]
    pooled: Figures
    thresholds: dict[str, np.ndarray]
    predicted: dict[int, str]


def nested_figures(
    clips: list[LabelledClip],
    judged: Judged,
    false_alarm_limit: float,
    fixed: np.ndarray | None = None,
    tuned: tuple[EventClass, ...] = TUNED_CLASSES,
) -> Nested:
    """Per split: thresholds chosen (`choose_thresholds`) on the judged clips of all other
    splits, then its own clips decided at them (`fixed`: these thresholds everywhere)."""
    judged_by_split = [judged_clips(clips, judged, k) for k in range(len(judged.splits))]
    start = START_THRESHOLDS if fixed is None else fixed
    by_split: dict[str, Figures] = {}
    thresholds: dict[str, np.ndarray] = {}
    predicted: dict[int, str] = {}
    for k, split in enumerate(judged.splits):
        own = judged_by_split[k]
        if fixed is None:
            others = np.concatenate([ids for j, ids in enumerate(judged_by_split) if j != k])
            chosen = choose_thresholds(
                judged.evidence, clips, others, false_alarm_limit, start, tuned
            )
        else:
            chosen = fixed
        decided = names(ClipEvidence(judged.evidence.m[own], judged.evidence.e[own]).decide(chosen))
        by_split[split.name] = figures(clips, own, decided)
        thresholds[split.name] = chosen
        predicted.update(zip(own.tolist(), decided, strict=True))
    ids = np.array(sorted(predicted))
    pooled = figures(clips, ids, [predicted[i] for i in ids.tolist()])
    return Nested(by_split, pooled, thresholds, predicted)


def pooled_thresholds(
    clips: list[LabelledClip],
    judged: Judged,
    false_alarm_limit: float,
    tuned: tuple[EventClass, ...] = TUNED_CLASSES,
) -> np.ndarray:
    """The thresholds to ship: `choose_thresholds` on every split's judged held-out clips."""
    ids = np.concatenate([judged_clips(clips, judged, k) for k in range(len(judged.splits))])
    return choose_thresholds(
        judged.evidence, clips, ids, false_alarm_limit, START_THRESHOLDS, tuned
    )


LIGHT_C = 0.01
LIGHT_COMPONENTS = 128
LIGHT_BALANCE = 0.75
LIGHT_INPUTS: tuple[str, ...] = ("embedding",)
LIGHT_EMBEDDING_TRANSFORM = "log1p"
LIGHT_PRIOR: dict[EventClass, float] = {EventClass.GUNSHOT: 0.2}
"""YAMNet's own grouped score as a prior for gunshots (`ouie.sensor.head`): each source held out,
fireworks called a bang 26 → 5 of 264 and macro F1 0.678 → 0.708 (docs/results/detection.md).
Not for explosions: YAMNet's explosion labels miss the one source's explosions (grouped CV:
recall 0.63 → 0.29 at exponent 0.2)."""
LIGHT_HEAD = linear_fitter(
    c=LIGHT_C,
    balance=LIGHT_BALANCE,
    inputs=LIGHT_INPUTS,
    name="ouie-head/6",
    components=LIGHT_COMPONENTS,
    embedding_transform=LIGHT_EMBEDDING_TRANSFORM,
    prior=LIGHT_PRIOR,
)
"""The light recipe (`ouie models train-head --recipe light`, the shipped head since
`ouie-head/5`), chosen among those tried by leaving each source out (`docs/results/detection.md`),
as its report records it:"""
LIGHT_RECIPE: dict[str, object] = {
    "model": "multinomial logistic regression (scikit-learn, L2) on principal components",
    "inverse_regularisation": LIGHT_C,
    "principal_components": LIGHT_COMPONENTS,
    "class_weight": f"w_k ∝ n_k^-{LIGHT_BALANCE} (n_k: windows of label k; 0 natural, 1 balanced)",
    "input": " ‖ ".join(LIGHT_INPUTS) + " of each window as recorded, "
    f"{LIGHT_EMBEDDING_TRANSFORM} of the embedding, standardised (parts of the head's input: "
    "ouie.learn.loso.INPUT_PARTS)",
    "prior": {
        "exponents": {c.value: a for c, a in LIGHT_PRIOR.items()},
        "score": "p_c^(1-a_c) * g_c^a_c, g_c: YAMNet's grouped AudioSet score (ouie.sensor.head)",
    },
    "labels": list(HEAD_LABELS),
    "verifier": None,
}

LOSO_FALSE_ALARM_LIMIT = 0.02
"""Thresholds are chosen for at most this false-alarm rate on everyday clips of unseen sources."""
CV_FALSE_ALARM_LIMIT = 0.01
"""… and at most this one on held-out recordings of sources trained on (grouped CV)."""


@dataclass
class Judgement:
    """A head recipe judged on held-out predictions only: each source held out (`loso`, nested
    thresholds), grouped 5-fold CV (`grouped_cv`, nested), and the thresholds to ship, chosen on
    every source's held-out clips at LOSO_FALSE_ALARM_LIMIT (`thresholds`, EVENT_CLASSES order)."""

    judged: Judged
    loso: Nested
    grouped_cv: Nested
    thresholds: np.ndarray


def judge(
    table: FeatureTable,
    clips: list[LabelledClip],
    fitter: HeadFitter,
    progress: Callable[[int], None] | None = None,
    min_clips: int = MIN_SOURCE_CLIPS,
) -> Judgement:
    """`Judgement` of `fitter` on the windows of `table` (one step per split; sources of at
    least `min_clips` clips are held out)."""
    loso = list(loso_splits(clips, min_clips))
    judged = held_out_evidence(table, clips, loso, fitter, progress=progress)
    cv_judged = held_out_evidence(table, clips, list(grouped_splits(clips)), fitter, None, progress)
    return Judgement(
        judged=judged,
        loso=nested_figures(clips, judged, LOSO_FALSE_ALARM_LIMIT),
        grouped_cv=nested_figures(clips, cv_judged, CV_FALSE_ALARM_LIMIT),
        thresholds=pooled_thresholds(clips, judged, LOSO_FALSE_ALARM_LIMIT),
    )
