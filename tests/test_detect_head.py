"""The trained head: its export equals the scikit-learn ensemble it folds, training is
deterministic, it survives a save/load round trip, grouping never splits a recording, the recipe
learns from real recordings and generalises to held-out ones, and the shipped head is small."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from ouie.core.classes import SPEECH_LABELS, EventClass
from ouie.learn.dataset import LabelledClip, load_labelled_set, recording_group
from ouie.learn.evaluation import evaluate
from ouie.learn.features import VARIANTS, FeatureTable, analysis_windows, cache_key
from ouie.learn.training import (
    FALSE_ALARM_LIMIT,
    HEAD_LABELS,
    HeldOutScores,
    clip_predictions,
    cross_validate,
    export_head,
    fit_head,
    fit_members,
    held_out_scores,
    operating_points,
    pick_point,
    split_groups,
    training_rows,
)
from ouie.sensor.head import DEFAULT_HEAD_PATH, N_EMBEDDING, STREET_VERIFIER_PATH, Head, softmax
from ouie.sensor.impulse import N_IMPULSE
from ouie.sensor.scoring import EVENT_CLASSES, WindowScores
from ouie.sensor.yamnet import N_AUDIOSET


def synthetic_table(
    rng: np.random.Generator, n_clips: int = 60, rows_per_clip: int = 40, noise: float = 3.0
) -> tuple[FeatureTable, list]:
    """Clips whose features are a label-specific mean plus noise (standard deviation `noise`)."""
    centres = rng.normal(0, 1, (len(HEAD_LABELS), N_EMBEDDING + N_AUDIOSET + N_IMPULSE))
    clips, rows, clip_ids = [], [], []
    for i in range(n_clips):
        label = HEAD_LABELS[i % len(HEAD_LABELS)]
        clips.append(LabelledClip(Path(f"{i}.wav"), label, label, f"g{i}", "test"))
        for _ in range(rows_per_clip):
            rows.append(centres[i % len(HEAD_LABELS)] + rng.normal(0, noise, centres.shape[1]))
            clip_ids.append(i)
    n = len(rows)
    features = np.array(rows, np.float32)
    scores = slice(N_EMBEDDING, N_EMBEDDING + N_AUDIOSET)
    features[:, scores] = 1 / (1 + np.exp(-features[:, scores]))  # scores in (0, 1)
    features[:, [N_EMBEDDING + k for k in SPEECH_LABELS]] = 0.0  # no window is speech
    table = FeatureTable(
        features=features,
        clip=np.array(clip_ids),
        variant=np.zeros(n, np.int8),
        background=np.full(n, -1),
        labelled=np.ones(n, bool),
    )
    return table, clips


@pytest.fixture(scope="module")
def synthetic() -> tuple[FeatureTable, list]:
    return synthetic_table(np.random.default_rng(0))


def test_exported_head_equals_the_ensemble_it_folds(synthetic) -> None:
    """Head.probabilities = softmax(mean over members of log predict_proba): the members'
    logits averaged (a softmax is blind to a per-row constant)."""
    table, clips = synthetic
    mean, scale, members = fit_members(table, clips, np.arange(40), n_members=3)
    head = export_head(mean, scale, members)
    features = table.features[np.isin(table.clip, np.arange(40, 60))]
    standardised = (features - mean) / scale
    yamnet, impulse = np.split(standardised, [N_EMBEDDING + N_AUDIOSET], axis=1)
    log_p = [
        np.log(m.mlp.predict_proba(np.hstack([m.pca.transform(yamnet), impulse])))  # type: ignore[attr-defined]
        for m in members
    ]
    expected = softmax(np.mean(log_p, axis=0))
    assert np.allclose(head.probabilities(features), expected, atol=1e-5)
    single = export_head(mean, scale, members[:1])
    assert np.allclose(single.probabilities(features), np.exp(log_p[0]), atol=1e-5)
    hidden_units = members[0].mlp.hidden_layer_sizes[0]  # type: ignore[attr-defined]
    assert head.layers[0][0].shape == (N_EMBEDDING + N_AUDIOSET + N_IMPULSE, 3 * hidden_units)


def test_head_learns_separable_classes_deterministically_and_round_trips(
    synthetic, tmp_path: Path
) -> None:
    table, clips = synthetic
    head = fit_head(table, clips, np.arange(40), n_members=2)
    test_rows = np.isin(table.clip, np.arange(40, 60))
    probs = head.probabilities(table.features[test_rows])
    truth = [HEAD_LABELS.index(clips[i].label) for i in table.clip[test_rows]]
    assert (probs.argmax(axis=1) == truth).mean() > 0.95
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    again = fit_head(table, clips, np.arange(40), n_members=2)
    for (w, b), (w2, b2) in zip(head.layers, again.layers, strict=True):
        assert np.array_equal(w, w2) and np.array_equal(b, b2)
    head.save(tmp_path / "head.npz")
    loaded = Head.load(tmp_path / "head.npz")
    assert np.allclose(loaded.probabilities(table.features[test_rows]), probs, atol=1e-5)
    assert loaded.thresholds == head.thresholds and loaded.labels == head.labels


def test_cross_validation_judges_every_operating_point_and_picks_one_with_the_verifier() -> None:
    table, clips = synthetic_table(np.random.default_rng(0), n_clips=30, rows_per_clip=4)
    aligned, _ = synthetic_table(np.random.default_rng(1), n_clips=30, rows_per_clip=1)
    replayed, _ = synthetic_table(np.random.default_rng(1), n_clips=30, rows_per_clip=4)
    cv = cross_validate(table, clips, aligned, variants=("clean",), n_members=1, replayed=replayed)
    with pytest.raises(ValueError, match="replayed rows"):
        cross_validate(table, clips, aligned)  # a verifier judged without its replay
    assert list(cv.by_point) == operating_points(True)
    assert len(cv.by_point) == 7 + 7 * 4
    assert cv.point[1] is not None and len(cv.nested_points) == 5
    assert all(p[1] is not None for p in cv.nested_points)
    assert sum(cv.results["clean"].confusion["none"].values()) == 5  # every held-out clip judged


def test_replay_decides_impulsive_classes_by_the_verifier_and_the_others_by_the_windows() -> None:
    """Hand-made scores: every window of a clip gives its label 0.9. A verifier sure of each
    clip's label confirms all; one that gives every class 1/7 confirms no gunshot, explosion or
    glass, while scream and siren (never verified) are found all the same; without a verifier
    the windows decide everything."""
    labels = ["gunshot", "explosion", "glass_break", "scream", "siren", "none"] * 2
    n_windows = 5
    class_scores = np.zeros((len(labels) * n_windows, len(EVENT_CLASSES)), np.float32)
    sure = np.full(class_scores.shape, 0.01, np.float32)
    for i, label in enumerate(labels):
        if label != "none":
            column = EVENT_CLASSES.index(EventClass(label))
            class_scores[i * n_windows : (i + 1) * n_windows, column] = 0.9
            sure[i * n_windows : (i + 1) * n_windows, column] = 0.95
    windows = WindowScores(class_scores, np.zeros(len(class_scores), np.float32))
    rows = {i: np.arange(i * n_windows, (i + 1) * n_windows) for i in range(len(labels))}
    clip_ids = np.arange(len(labels))
    confident = HeldOutScores(rows, windows, sure)
    blind = HeldOutScores(rows, windows, np.full(class_scores.shape, 1 / 7, np.float32))
    assert clip_predictions(confident, clip_ids, (0.8, 0.8)) == labels
    assert clip_predictions(blind, clip_ids, (0.8, None)) == labels
    sustained = [lab if lab in ("scream", "siren") else "none" for lab in labels]
    assert clip_predictions(blind, clip_ids, (0.8, 0.8)) == sustained


def test_members_hold_out_whole_groups_of_the_training_clips_only() -> None:
    clips = [
        LabelledClip(Path(f"{i}.wav"), "none", "none", f"g{i // 3}", "test") for i in range(30)
    ]
    train = np.arange(24)
    for seed in range(3):
        fit, validation = split_groups(clips, train, seed)
        assert sorted([*fit, *validation]) == list(train)
        assert {clips[i].group for i in fit}.isdisjoint({clips[i].group for i in validation})
        assert len(validation) == 6  # 2 of 8 groups (VALIDATION_FRACTION 0.2, rounded)


def test_augmented_rows_whose_background_is_held_out_are_not_trained_on() -> None:
    table = FeatureTable(
        features=np.zeros((4, 3), np.float32),
        clip=np.array([0, 0, 1, 2]),
        variant=np.array([0, 1, 0, 0], np.int8),
        background=np.array([-1, 2, -1, -1]),
        labelled=np.array([True, True, True, False]),
    )
    assert training_rows(table, np.array([0, 1])).tolist() == [True, False, True, False]
    assert training_rows(table, np.array([0, 1, 2])).tolist() == [True, True, True, False]


@pytest.mark.parametrize(
    ("repo", "path_a", "path_b"),
    [
        (
            "a/AC-II",
            "UrbanSound8K/audio/fold1/102305-6-0-0.wav",
            "UrbanSound8K/audio/fold3/102305-6-1-0.wav",
        ),
        ("k/ESC-10", "001 - Dog bark/1-30226-A.ogg", "001 - Dog bark/1-30226-B.ogg"),
        ("j/fsdd", "recordings/0_george_0.wav", "recordings/7_george_12.wav"),
        (
            "m/SirenDetection",
            "SirenDetection/siren_fr_ambulance/ambulance10_0.wav",
            "SirenDetection/siren_fr_ambulance/ambulance10_3.wav",
        ),
    ],
)
def test_slices_of_one_recording_share_a_group(repo: str, path_a: str, path_b: str) -> None:
    assert recording_group(repo, path_a) == recording_group(repo, path_b)


def test_windows_match_the_pipeline_grid() -> None:
    samples = np.arange(20_000, dtype=np.float32)
    windows = analysis_windows(samples, 7_680)
    assert windows.shape == (3, 15_600)
    assert windows[1, 0] == 7_680 and windows[2, 0] == 15_360
    assert windows[2, 20_000 - 15_360] == 0.0  # zero-padded tail


def test_feature_cache_is_keyed_by_the_set_not_by_where_it_lies(tmp_path: Path) -> None:
    class Model:
        sha256 = "0" * 64

    def clips_under(root: Path) -> list[LabelledClip]:
        path = root / "gunshot" / "a.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
        return [LabelledClip(path, "gunshot", "gunshot", "g", "test")]

    here = clips_under(tmp_path / "one")
    model = Model()
    assert cache_key(here, model, 7_680) == cache_key(clips_under(tmp_path / "two"), model, 7_680)
    relative = dataclasses.replace(here[0], path=Path(os.path.relpath(here[0].path)))
    assert cache_key([relative], model, 7_680) == cache_key(here, model, 7_680)
    (tmp_path / "one" / "gunshot" / "a.flac").write_bytes(b"x" * 11)  # a changed file
    assert cache_key(here, model, 7_680) != cache_key(clips_under(tmp_path / "two"), model, 7_680)
    assert cache_key(here, model, 3_840) != cache_key(here, model, 7_680)


def test_real_groups_mix_labels_only_where_one_speaker_screams_and_cries(
    shared_audio_dir: Path,
) -> None:
    """A recording holds one kind of sound, except a speaker's group (ses_analizi: the README's
    key is the speaker, who screams, cries and laughs): those groups alone mix labels."""
    clips = load_labelled_set(shared_audio_dir)
    by_group: dict[str, set[str]] = {}
    for clip in clips:
        by_group.setdefault(clip.group, set()).add(clip.label)
    assert len(by_group) > 1000
    mixed = {g for g, labels in by_group.items() if len(labels) > 1}
    assert mixed and all(g.startswith("ses-") for g in mixed)


def _one_layer_head(prior: dict[EventClass, float], transform: str) -> Head:
    """A random one-layer head over the light recipe's labels."""
    from ouie.learn.loso import HEAD_LABELS as LIGHT_LABELS

    rng = np.random.default_rng(0)
    n_input = N_EMBEDDING + N_AUDIOSET + N_IMPULSE
    return Head(
        labels=list(LIGHT_LABELS),
        mean=rng.normal(size=n_input).astype(np.float32),
        scale=rng.uniform(0.5, 2, n_input).astype(np.float32),
        layers=[
            (
                rng.normal(0, 0.05, (n_input, len(LIGHT_LABELS))).astype(np.float32),
                rng.normal(size=len(LIGHT_LABELS)).astype(np.float32),
            )
        ],
        thresholds=dict.fromkeys(EventClass, 0.5),
        name="test",
        sha256="0" * 64,
        embedding_transform=transform,
        prior=prior,
    )


def test_a_prior_scores_the_weighted_geometric_mean_of_head_and_yamnet_and_round_trips(
    tmp_path: Path,
) -> None:
    """s_c = p_c^(1 − a_c) · g_c^(a_c) for a class with a prior, p_c without one; the log1p
    transform reads log(1 + x) of the embedding; both survive save/load. Bad values are named."""
    rng = np.random.default_rng(1)
    features = np.abs(rng.normal(size=(50, N_EMBEDDING + N_AUDIOSET + N_IMPULSE))).astype(
        np.float32
    )
    grouped = rng.uniform(0.01, 1, (50, len(EVENT_CLASSES))).astype(np.float32)
    plain = _one_layer_head({}, "log1p")
    with_prior = _one_layer_head({EventClass.GUNSHOT: 0.2}, "log1p")
    p = plain.class_scores(features, grouped)
    s = with_prior.class_scores(features, grouped)
    g = EVENT_CLASSES.index(EventClass.GUNSHOT)
    assert np.allclose(s[:, g], p[:, g] ** 0.8 * grouped[:, g] ** 0.2, rtol=1e-5)
    others = [j for j in range(len(EVENT_CLASSES)) if j != g]
    assert np.array_equal(s[:, others], p[:, others])
    transformed = features.copy()
    transformed[:, :N_EMBEDDING] = np.log1p(features[:, :N_EMBEDDING])
    identity = _one_layer_head({}, "identity")
    assert np.allclose(plain.probabilities(features), identity.probabilities(transformed))
    with_prior.save(tmp_path / "head.npz")
    loaded = Head.load(tmp_path / "head.npz")
    assert loaded.prior == {EventClass.GUNSHOT: 0.2} and loaded.embedding_transform == "log1p"
    assert np.allclose(loaded.class_scores(features, grouped), s, atol=1e-6)
    with pytest.raises(ValueError, match="embedding_transform 'sqrt'"):
        _one_layer_head({}, "sqrt")
    with pytest.raises(ValueError, match=r"prior exponent of gunshot is 1\.5"):
        _one_layer_head({EventClass.GUNSHOT: 1.5}, "identity")


def test_the_shipped_head_is_a_small_artefact_with_its_training_list_and_no_verifier() -> None:
    """ouie-head/6: one 1,549 × 7 softmax layer over the light recipe's labels (fireworks a
    context class), over log(1 + embedding), YAMNet's gunshot score as a prior; no verifier
    beside it (the one shipped verifier belongs to the street profile, docs/sensor.md)."""
    from ouie.learn.loso import HEAD_LABELS as LIGHT_LABELS
    from ouie.learn.loso import LIGHT_EMBEDDING_TRANSFORM, LIGHT_PRIOR

    assert DEFAULT_HEAD_PATH.stat().st_size < 100_000
    head = Head.load(DEFAULT_HEAD_PATH)
    assert head.labels == list(LIGHT_LABELS) and len(head.layers) == 1
    assert head.prior == LIGHT_PRIOR and head.embedding_transform == LIGHT_EMBEDDING_TRANSFORM
    assert not DEFAULT_HEAD_PATH.with_name("verifier.npz").exists()
    assert STREET_VERIFIER_PATH.parent != DEFAULT_HEAD_PATH.parent
    training_list = DEFAULT_HEAD_PATH.with_name("head_training.csv").read_text().splitlines()
    assert training_list[0].startswith("file,folder,label,group,license_note")
    assert len(training_list) > 3000


@pytest.fixture(scope="module")
def real_set(
    shared_audio_dir: Path, yamnet_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[FeatureTable, list[LabelledClip]]:
    """YAMNet features (clean + augmented) of a spread of real clips: events, the everyday
    bangs, other everyday sounds and the street/talk backgrounds the augmentation mixes in."""
    from ouie.learn.features import extract_features
    from ouie.sensor.yamnet import YamnetModel

    every = {
        "gunshot": 2,
        "glass_break": 3,
        "explosion": 6,
        "doorslam": 1,
        "knock": 1,
        "keysDrop": 1,
        "drawer": 1,
        "casual": 7,
        "speech": 20,
        "dog_bark": 10,
        "traffic": 1,
        "engine_idling": 6,
    }
    by_folder: dict[str, list[LabelledClip]] = {}
    for clip in load_labelled_set(shared_audio_dir):
        by_folder.setdefault(clip.folder, []).append(clip)
    clips = [c for folder, step in every.items() for c in by_folder[folder][::step]]
    model = YamnetModel(yamnet_model_path)
    table = extract_features(clips, model, 7_680, tmp_path_factory.mktemp("features"))
    return table, clips


def test_recipe_detects_held_out_recordings_and_bangs_are_seldom_gunshots(real_set) -> None:
    """Trained on two thirds of the recording groups, judged on the rest through the
    pipeline's own decisions (`clip_predictions`): held-out gunshot and glass recordings are
    mostly found and at most one held-out door slam, knock, key drop or drawer is called a
    gunshot. Measured: 34 of 37 gunshots, 13 of 25 glass windows (4 of the 11 glass recordings,
    never seen), 1 of 13 bangs called a gunshot (a drawer: the impulse evidence's price, none
    without it); the bounds leave room for another BLAS."""
    table, clips = real_set
    groups = sorted({c.group for c in clips})
    held = set(groups[1::3])
    train = np.array([i for i, c in enumerate(clips) if c.group not in held])
    test = np.array([i for i, c in enumerate(clips) if c.group in held])
    head = fit_head(table, clips, train, variants=("clean", "street", "chain", "talk"))
    clean = table.subset(table.variant == VARIANTS.index("clean"))
    decided = clip_predictions(held_out_scores(head, clean), test, (0.8, None))
    predicted = dict(zip(test.tolist(), decided, strict=True))

    def recall(label: str) -> float:
        ids = [i for i in test if clips[i].label == label]
        return sum(predicted[i] == label for i in ids) / len(ids)

    assert recall("gunshot") >= 0.75
    assert recall("glass_break") >= 0.4
    bangs = [
        predicted[i] for i in test if clips[i].folder in ("doorslam", "knock", "keysDrop", "drawer")
    ]
    assert len(bangs) >= 10 and bangs.count("gunshot") <= 1


def test_operating_point_is_the_best_of_those_within_the_false_alarm_limit() -> None:
    """Merit: mean macro F1 as recorded and across a street; a point over the false-alarm
    limit, as recorded or on average over the renderings, is never taken while another is
    within it."""
    truth = ["gunshot"] * 10 + ["none"] * 100

    def judged(hits: int, false_alarms: int) -> object:
        predicted = ["gunshot"] * hits + ["none"] * (10 - hits)
        predicted += ["gunshot"] * false_alarms + ["none"] * (100 - false_alarms)
        return evaluate(truth, predicted, ["f"] * 110)

    over = round(100 * FALSE_ALARM_LIMIT) + 1
    grid = {
        (0.5, None): {"clean": judged(10, over), "prop_eval": judged(10, over)},
        (0.6, 0.6): {"clean": judged(10, 0), "prop_eval": judged(10, 3 * over)},  # far: too many
        (0.7, 0.8): {"clean": judged(8, 0), "prop_eval": judged(5, 0)},
        (0.9, 0.8): {"clean": judged(9, 0), "prop_eval": judged(3, 0)},
    }
    assert pick_point(grid) == (0.7, 0.8)  # type: ignore[arg-type]
    assert pick_point({(0.5, None): grid[0.5, None]}) == (0.5, None)  # type: ignore[arg-type]


def test_grid_aligned_rows_are_the_window_rows_of_the_same_renderings(
    shared_audio_dir: Path, yamnet_model_path: Path, tmp_path: Path
) -> None:
    """One aligned row per window row of `extract_features` ‖ `extract_propagated`: same clip,
    variant, background and label; a clean window's row is its own aligned window's features;
    the second call reads the caches."""
    from ouie.audio.io import read_audio
    from ouie.learn.features import (
        concatenate,
        extract_features,
        extract_grid_aligned,
        extract_propagated,
        grid_aligned_measure,
    )
    from ouie.sensor.yamnet import YamnetModel

    shortest: dict[str, LabelledClip] = {}
    for clip in load_labelled_set(shared_audio_dir):
        known = shortest.get(clip.folder)
        if known is None or clip.path.stat().st_size < known.path.stat().st_size:
            shortest[clip.folder] = clip
    clips = [shortest[f] for f in ("gunshot", "traffic", "engine_idling", "speech", "dog_bark")]
    model = YamnetModel(yamnet_model_path)
    aligned = extract_grid_aligned(clips, model, 7_680, tmp_path)
    windows = concatenate(
        [
            extract_features(clips, model, 7_680, tmp_path),
            extract_propagated(clips, model, 7_680, tmp_path),
        ]
    )
    assert aligned.features.shape == windows.features.shape
    for field in ("clip", "variant", "background", "labelled"):
        assert np.array_equal(getattr(aligned, field), getattr(windows, field)), field
    clean = (aligned.clip == 0) & (aligned.variant == VARIANTS.index("clean"))
    own = grid_aligned_measure(model, 7_680)(analysis_windows(read_audio(clips[0].path), 7_680))
    np.testing.assert_array_equal(aligned.features[clean], own.astype(np.float16))
    calls: list[int] = []
    again = extract_grid_aligned(clips, model, 7_680, tmp_path, calls.append)
    assert calls == [len(clips)] * 2 and np.array_equal(again.features, aligned.features)
