"""YAMNet features of a labelled set, with augmentation, cached on disk (never in the repo).

Every clip is cut into the pipeline's windows (0.975 s every hop, zero-padded tail: exactly what
`EventStream` scores). Each clip is seen clean and in augmented variants:
- `street`: gain −25…0 dB, mixed into a street background (traffic, engines, air conditioners,
  kitchen/room noise) at SNR 0…20 dB;
- `chain`: through a lower sample rate (8 or 11.025 kHz and back: narrow-band microphones and
  codecs), gain −20…0 dB, a street background at SNR 20…30 dB;
- `talk` (event clips only): mixed into people talking at SNR 0…15 dB (a gunshot over speech is
  still a gunshot).
- `prop`, `prop2` (`prop2`: event clips only): heard from afar through the simulator's own
  propagation (`propagated`): 20–300 m, ISO 9613-1 air absorption, ground reflection, the
  street's diffuse reverberation tail (T60 0.3–1.2 s), behind a building (barrier low-pass) one
  time in four; then gain −25…0 dB in a street background at SNR 5…30 dB;
- `prop_eval` (never trained on): the same rendering at 40–200 m, SNR 10…30 dB, so that
  cross-validation can say how held-out clips fare across a street.
SNR = 10 log10(P_event / P_background), P_event the power of the clip's loudest window.
The propagated variants live in their own cache file (`PROPAGATION_VERSION`). Each row's features
are YAMNet's (embedding ‖ scores) followed by the window's impulse evidence
(`ouie.sensor.impulse.impulse_features`, the function the sensor calls), cached apart
(`IMPULSE_VERSION`) from the same augmented audio, so that changing one does not recompute the
other.
Event clips label only their windows within 10 dB of the loudest window (the event itself); the
others are left out of training, never called `none`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ouie.audio.io import SAMPLE_RATE_HZ, read_audio, resample
from ouie.learn.dataset import (
    NONE_LABEL,
    SPEECH_FOLDERS,
    STREET_BACKGROUND_FOLDERS,
    LabelledClip,
)
from ouie.sensor.impulse import aligned_window, grid_aligned_windows, impulse_features
from ouie.sensor.scoring import WINDOW_SAMPLES
from ouie.sensor.yamnet import YamnetModel

FEATURES_VERSION = "1"
"""Bump when windows or augmentations change (invalidates caches)."""
BASE_VARIANTS = ("clean", "street", "chain", "talk")
IMPULSE_VERSION = "1"
"""Bump when `ouie.sensor.impulse` changes (invalidates the impulse caches only)."""
PROPAGATION_VERSION = "1"
"""Bump when the propagated variants change (invalidates their cache only)."""
PROPAGATION_VARIANTS = ("prop", "prop2", "prop_eval")
ALIGNED_VERSION = "1"
"""Bump when the aligned windows (`ouie.sensor.impulse.aligned_window`) change."""
VARIANTS = BASE_VARIANTS + PROPAGATION_VARIANTS
EVAL_ONLY_VARIANTS = ("prop_eval",)
"""Variants never used for training (held-out figures only)."""
TRAIN_DISTANCE_M = (20.0, 300.0)
EVAL_DISTANCE_M = (40.0, 200.0)
RT60_S = (0.3, 1.2)
BARRIER_PROBABILITY = 0.25
GROUND_REFLECTION_GAIN = 0.9
"""As the simulator's default (`ouie.sim.scenario.Propagation`)."""
SOURCE_HEIGHT_M = 1.5
SENSOR_HEIGHT_M = (3.0, 8.0)
CRITICAL_DISTANCE_M = (10.0, 20.0)
EXCESS_ATTENUATION_DB_PER_M = (0.02, 0.08)
EVENT_WINDOW_DB = 10.0
"""Event clips label windows whose RMS is within this of the loudest window, dB."""


@dataclass
class FeatureTable:
    """One row per scored window: `features` (n, 1024 + 521) = embedding ‖ AudioSet scores."""

    features: np.ndarray
    clip: np.ndarray
    variant: np.ndarray
    background: np.ndarray
    """Index of the clip mixed in as background, −1 if none."""
    labelled: np.ndarray
    """False for event-clip windows outside the event (not used for training)."""

    def subset(self, mask: np.ndarray) -> FeatureTable:
        return FeatureTable(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


def analysis_windows(samples: np.ndarray, hop: int) -> np.ndarray:
    """The windows the pipeline scores: starts k·hop for k < max(1, ⌈n / hop⌉), zero-padded."""
    n_windows = max(1, math.ceil(len(samples) / hop))
    padded = np.pad(samples, (0, max(0, (n_windows - 1) * hop + WINDOW_SAMPLES - len(samples))))
    starts = np.arange(n_windows) * hop
    return np.stack([padded[s : s + WINDOW_SAMPLES] for s in starts]).astype(np.float32)


def window_rms_db(windows: np.ndarray) -> np.ndarray:
    """RMS level of each window, dB re full scale."""
    return 10 * np.log10((windows.astype(np.float64) ** 2).mean(axis=1) + 1e-12)


def mix_at_snr(
    event: np.ndarray, background: np.ndarray, snr_db: float, event_power: float
) -> np.ndarray:
    """event + g·background (tiled to length), g so that P_event / (g² P_background) = SNR."""
    tiled = np.tile(background, math.ceil(len(event) / max(1, len(background))))[: len(event)]
    bg_power = float(np.mean(tiled.astype(np.float64) ** 2)) + 1e-12
    gain = math.sqrt(event_power / bg_power / 10 ** (snr_db / 10))
    return (event + gain * tiled).astype(np.float32)


def db_gain(samples: np.ndarray, gain_db: float) -> np.ndarray:
    return (samples * 10 ** (gain_db / 20)).astype(np.float32)


def propagated(
    samples: np.ndarray,
    rng: np.random.Generator,
    distance_m: tuple[float, float] = TRAIN_DISTANCE_M,
    rt60_s: tuple[float, float] | None = RT60_S,
    barrier_probability: float = BARRIER_PROBABILITY,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> np.ndarray:
    """`samples` (the source as at 1 m) as a sensor hears it at a random distance (log-uniform
    in `distance_m`), rendered as `ouie.sim.render` does, with `ouie.acoustics.propagation`:
      Y(f) = S(f) · [ Σ_p |H_p(f)| e^(−j2πf(L_p − L_0)/c) + g_t |H_a(f)| R(f) e^(−j2πf δ) ]
    paths p: direct + ground image source (reflection 0.9; source 1.5 m, sensor 3–8 m high), or
    one diffracted path over a building (path difference 0.5–10 m) with probability
    `barrier_probability`; H_p: 1/r, ISO 9613-1 absorption (5–25 °C, 40–90 % RH), barrier D_z;
    R: `street_reverb_tail` (T60 uniform in `rt60_s`, none if None) of gain
    `street_reverb_gain` (critical distance 10–20 m, excess 0.02–0.08 dB/m), coloured by the
    first path's absorption, δ = `REVERB_PREDELAY_S`. Output normalised to the direct path's
    1/r (levels are set later by SNR and gain); as long as the input plus the tail."""
    from scipy import fft

    from ouie.acoustics.propagation import (
        REVERB_PREDELAY_S,
        SoundPath,
        air_absorption_db_per_m,
        image_source_distance_m,
        path_response,
        street_reverb_gain,
        street_reverb_tail,
    )

    c = 343.0
    lo, hi = np.log(distance_m[0]), np.log(distance_m[1])
    r = float(np.exp(rng.uniform(lo, hi)))
    sensor_h = rng.uniform(*SENSOR_HEIGHT_M)
    source = np.array([0.0, 0.0, SOURCE_HEIGHT_M])
    receiver = np.array([r, 0.0, sensor_h])
    direct_m = float(np.linalg.norm(receiver - source))
    if rng.uniform() < barrier_probability:
        z = rng.uniform(0.5, 10.0)
        paths = [SoundPath(length_m=direct_m + z, kind="roof", path_difference_m=z)]
    else:
        ground_m = image_source_distance_m(source, receiver)
        paths = [
            SoundPath(length_m=direct_m, kind="direct"),
            SoundPath(length_m=ground_m, kind="ground", reflection_gain=GROUND_REFLECTION_GAIN),
        ]
    rt60 = rng.uniform(*rt60_s) if rt60_s else 0.0
    tail_n = round(rt60 * sample_rate_hz)
    first_m = min(p.length_m for p in paths)
    spread_n = math.ceil((max(p.length_m for p in paths) - first_m) / c * sample_rate_hz)
    n_out = len(samples) + tail_n + spread_n + round(REVERB_PREDELAY_S * sample_rate_hz)
    n_fft = fft.next_fast_len(n_out + 16)
    frequency = np.fft.rfftfreq(n_fft, 1.0 / sample_rate_hz).astype(np.float64)
    alpha = air_absorption_db_per_m(frequency, rng.uniform(5.0, 25.0), rng.uniform(40.0, 90.0))
    response = np.zeros(frequency.size, dtype=complex)
    for path in paths:
        delay_s = (path.length_m - first_m) / c
        response += path_response(path, frequency, c, alpha) * np.exp(
            -2j * np.pi * frequency * delay_s
        )
    if tail_n > 1:
        tail = street_reverb_tail(sample_rate_hz, rt60, rng)
        gain = street_reverb_gain(
            first_m, rng.uniform(*CRITICAL_DISTANCE_M), rng.uniform(*EXCESS_ATTENUATION_DB_PER_M)
        )
        colour = 10.0 ** (-alpha * first_m / 20.0)
        response += (
            gain
            * colour
            * fft.rfft(tail, n_fft)
            * np.exp(-2j * np.pi * frequency * REVERB_PREDELAY_S)
        )
    out = fft.irfft(fft.rfft(samples.astype(np.float64), n_fft) * response, n_fft)[:n_out]
    return (out * direct_m).astype(np.float32)


def augmented(
    variant: str,
    samples: np.ndarray,
    event_power: float,
    rng: np.random.Generator,
    street: list[np.ndarray],
    talk: list[np.ndarray],
) -> tuple[np.ndarray, int]:
    """One augmented copy and the index (into `street` or `talk`) of the background used."""
    if variant == "street":
        k = int(rng.integers(len(street)))
        mixed = mix_at_snr(samples, street[k], rng.uniform(0, 20), event_power)
        return db_gain(mixed, rng.uniform(-25, 0)), k
    if variant == "chain":
        rate = int(rng.choice([8_000, 11_025]))
        narrow = resample(resample(samples, SAMPLE_RATE_HZ, rate), rate)[: len(samples)]
        k = int(rng.integers(len(street)))
        mixed = mix_at_snr(narrow, street[k], rng.uniform(20, 30), event_power)
        return db_gain(mixed, rng.uniform(-20, 0)), k
    if variant == "talk":
        k = int(rng.integers(len(talk)))
        return mix_at_snr(samples, talk[k], rng.uniform(0, 15), event_power), k
    raise ValueError(f"unknown variant {variant!r}")


def propagated_variant(
    variant: str, samples: np.ndarray, rng: np.random.Generator, street: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, int]:
    """One propagated copy (`prop`, `prop2`: training; `prop_eval`: evaluation), the far
    signal before noise (to find the event's windows) and the index of the street background."""
    evaluation = variant in EVAL_ONLY_VARIANTS
    far = propagated(samples, rng, EVAL_DISTANCE_M if evaluation else TRAIN_DISTANCE_M)
    far_power = float(
        np.max(np.convolve(far.astype(np.float64) ** 2, np.ones(WINDOW_SAMPLES))) / WINDOW_SAMPLES
    )
    k = int(rng.integers(len(street)))
    snr = rng.uniform(10, 30) if evaluation else rng.uniform(5, 30)
    mixed = mix_at_snr(far, street[k], snr, far_power)
    return db_gain(mixed, rng.uniform(-25, 0)), far, k


def cache_key(clips: list[LabelledClip], model: YamnetModel, hop: int) -> str:
    """What the cached features depend on: version, model, hop and every clip by its folder,
    name, size and label, not by where the set lies (`../shared/audio` and its absolute path
    share one cache)."""
    digest = hashlib.sha256(f"{FEATURES_VERSION}|{model.sha256}|{hop}".encode())
    for clip in clips:
        name = f"{clip.folder}/{clip.path.name}"
        digest.update(f"{name}|{clip.path.stat().st_size}|{clip.label}\n".encode())
    return digest.hexdigest()[:20]


WindowMeasure = Callable[[np.ndarray], np.ndarray]
"""What is measured on (n, WINDOW_SAMPLES) windows: (n, d) features."""


def yamnet_measure(model: YamnetModel) -> WindowMeasure:
    """YAMNet's embedding ‖ AudioSet scores, (n, 1024 + 521)."""

    def measure(windows: np.ndarray) -> np.ndarray:
        scores, embeddings = model.run(windows)
        return np.concatenate([embeddings, scores], axis=1)

    return measure


def extract_features(
    clips: list[LabelledClip],
    model: YamnetModel,
    hop: int,
    cache_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> FeatureTable:
    """Features of every clip and base variant (YAMNet ‖ impulse evidence), from the caches
    when the same set was seen before."""
    key = cache_key(clips, model, hop)
    return _features_with_impulse(
        clips,
        model,
        hop,
        BASE_VARIANTS,
        cache_dir / f"features-{key}.npz",
        cache_dir / f"impulse-{IMPULSE_VERSION}-{key}.npz",
        progress,
    )


def extract_propagated(
    clips: list[LabelledClip],
    model: YamnetModel,
    hop: int,
    cache_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> FeatureTable:
    """Features of the propagated variants (`PROPAGATION_VARIANTS`), cached on their own."""
    key = cache_key(clips, model, hop)
    return _features_with_impulse(
        clips,
        model,
        hop,
        PROPAGATION_VARIANTS,
        cache_dir / f"propagated-{PROPAGATION_VERSION}-{key}.npz",
        cache_dir / f"impulse-propagated-{PROPAGATION_VERSION}-{IMPULSE_VERSION}-{key}.npz",
        progress,
    )


def head_input_measure(model: YamnetModel) -> WindowMeasure:
    """YAMNet's embedding ‖ scores ‖ the impulse evidence of each window, (n, 1024 + 521 + 4):
    the head's whole input measured at once (the window caches keep the two parts apart)."""
    yamnet = yamnet_measure(model)
    return lambda windows: np.concatenate([yamnet(windows), impulse_features(windows)], axis=1)


def aligned_measure(model: YamnetModel) -> Callable[[np.ndarray], np.ndarray]:
    """`head_input_measure` of a rendering's aligned window (`impulse.aligned_window`), (1, d)."""
    measure = head_input_measure(model)
    return lambda heard: measure(aligned_window(heard, WINDOW_SAMPLES))


def extract_aligned(
    clips: list[LabelledClip],
    model: YamnetModel,
    hop: int,
    cache_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> FeatureTable:
    """One row per rendering of every variant (`VARIANTS`, the renderings the window caches
    hold): its aligned window's features (`aligned_measure`), labelled with the clip; cached in
    `aligned-ALIGNED_VERSION-key.npz`."""
    cache_file = cache_dir / f"aligned-{ALIGNED_VERSION}-{cache_key(clips, model, hop)}.npz"
    if cache_file.is_file():
        if progress:
            progress(len(clips))
        return _load(cache_file)
    measure = aligned_measure(model)
    rows: list[np.ndarray] = []
    parts: dict[str, list[int]] = {"clip": [], "variant": [], "background": []}
    for renderings in clip_renderings(clips, hop, VARIANTS):
        for rendering in renderings:
            rows.append(measure(rendering.heard).astype(np.float16))
            parts["clip"].append(rendering.clip)
            parts["variant"].append(VARIANTS.index(rendering.variant))
            parts["background"].append(rendering.background)
        if progress:
            progress(1)
    table = FeatureTable(
        features=np.concatenate(rows),
        clip=np.array(parts["clip"], np.int32),
        variant=np.array(parts["variant"], np.int8),
        background=np.array(parts["background"], np.int32),
        labelled=np.ones(len(rows), bool),
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    return _save(cache_file, table)


def grid_aligned_measure(model: YamnetModel, hop: int) -> WindowMeasure:
    """YAMNet's embedding ‖ scores ‖ the impulse evidence of each grid window's aligned window
    (`ouie.sensor.impulse.grid_aligned_windows`), (n, 1024 + 521 + 4); windows that share an
    edge are measured once."""
    head_input = head_input_measure(model)

    def measure(windows: np.ndarray) -> np.ndarray:
        aligned = grid_aligned_windows(windows, hop)
        unique, inverse = np.unique(aligned, axis=0, return_inverse=True)
        return head_input(unique)[inverse.reshape(-1)]

    return measure


def extract_grid_aligned(
    clips: list[LabelledClip],
    model: YamnetModel,
    hop: int,
    cache_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> FeatureTable:
    """One row per row of `extract_features` ‖ `extract_propagated` (same renderings, same
    order, same labels): the features of the window the sensor would show the verifier if that
    grid window opened a candidate (`grid_aligned_measure`); cached apart
    (`grid-aligned-ALIGNED_VERSION-*.npz`)."""
    key = cache_key(clips, model, hop)
    measure = grid_aligned_measure(model, hop)
    tables = [
        _cached_extract(
            clips,
            {cache_dir / f"grid-aligned-{ALIGNED_VERSION}-{part}-{key}.npz": measure},
            hop,
            variants,
            progress,
        )[0]
        for part, variants in (("base", BASE_VARIANTS), ("propagated", PROPAGATION_VARIANTS))
    ]
    return concatenate(tables)


def _features_with_impulse(
    clips: list[LabelledClip],
    model: YamnetModel,
    hop: int,
    variants: tuple[str, ...],
    yamnet_file: Path,
    impulse_file: Path,
    progress: Callable[[int], None] | None,
) -> FeatureTable:
    """The YAMNet table of `variants` with the impulse evidence of the same rows appended to
    its features, each cached in its own file (`_cached_extract`)."""
    yamnet, impulse = _cached_extract(
        clips,
        {yamnet_file: yamnet_measure(model), impulse_file: impulse_features},
        hop,
        variants,
        progress,
    )
    if not np.array_equal(yamnet.clip, impulse.clip) or not np.array_equal(
        yamnet.variant, impulse.variant
    ):
        raise ValueError("YAMNet and impulse caches do not hold the same windows")
    yamnet.features = np.concatenate([yamnet.features, impulse.features], axis=1)
    return yamnet


def _cached_extract(
    clips: list[LabelledClip],
    measures: dict[Path, WindowMeasure],
    hop: int,
    variants: tuple[str, ...],
    progress: Callable[[int], None] | None,
) -> list[FeatureTable]:
    """One table per (cache file, measure), in order: read from the file when present; the
    missing ones are measured in one `_extract` pass (each variant rendered once) and written."""
    missing = [path for path in measures if not path.is_file()]
    computed: dict[Path, FeatureTable] = {}
    if missing:
        missing[0].parent.mkdir(parents=True, exist_ok=True)
        fresh = _extract(clips, [measures[path] for path in missing], hop, variants, progress)
        for path, table in zip(missing, fresh, strict=True):
            computed[path] = _save(path, table)
    elif progress:
        progress(len(clips))
    return [computed[path] if path in computed else _load(path) for path in measures]


def concatenate(tables: list[FeatureTable]) -> FeatureTable:
    fields = FeatureTable.__dataclass_fields__
    return FeatureTable(*(np.concatenate([getattr(t, f) for t in tables]) for f in fields))


def _save(cache_file: Path, table: FeatureTable) -> FeatureTable:
    """Write `table` (features as measured, float16) and return it with float32 features, as
    `_load` gives it back."""
    np.savez(cache_file, **{f: getattr(table, f) for f in FeatureTable.__dataclass_fields__})
    table.features = table.features.astype(np.float32)
    return table


def _load(cache_file: Path) -> FeatureTable:
    with np.load(cache_file) as data:
        return FeatureTable(
            features=data["features"].astype(np.float32),
            clip=data["clip"],
            variant=data["variant"],
            background=data["background"],
            labelled=data["labelled"],
        )


def event_windows(samples: np.ndarray, hop: int, is_event: bool) -> np.ndarray:
    """Which of the clip's windows are labelled (all for `none` clips)."""
    levels = window_rms_db(analysis_windows(samples, hop))
    return levels >= levels.max() - EVENT_WINDOW_DB if is_event else np.ones_like(levels, bool)


@dataclass
class Rendering:
    """One clip heard in one variant: the audio (`heard`), its analysis windows and which of them
    are labelled, and the clip mixed in as background (−1 if none)."""

    clip: int
    variant: str
    heard: np.ndarray
    windows: np.ndarray
    labelled: np.ndarray
    background: int


def clip_renderings(
    clips: list[LabelledClip], hop: int, wanted: tuple[str, ...]
) -> Iterator[list[Rendering]]:
    """Per clip, its `wanted` variants. Each clip's random draws come from a seed of its file
    name and follow the order of `wanted`, so a rendering is the same on every pass with the
    same `wanted` (the caches' variant tuples give the renderings the caches hold)."""
    street_idx = [i for i, c in enumerate(clips) if c.folder in STREET_BACKGROUND_FOLDERS]
    talk_idx = [i for i, c in enumerate(clips) if c.folder in SPEECH_FOLDERS]
    street = [read_audio(clips[i].path) for i in street_idx]
    talk = [read_audio(clips[i].path) for i in talk_idx] if "talk" in wanted else []
    for index, clip in enumerate(clips):
        samples = read_audio(clip.path)
        clean = analysis_windows(samples, hop)
        levels = window_rms_db(clean)
        event_power = float(10 ** (levels.max() / 10))
        is_event = clip.label != NONE_LABEL
        labelled = event_windows(samples, hop, is_event)
        seed = int(hashlib.sha256(str(clip.path.name).encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng(seed)
        prop_rng = np.random.default_rng([seed, 9613])
        out = []
        for variant in [v for v in wanted if (is_event or v not in ("talk", "prop2"))]:
            if variant == "clean":
                out.append(Rendering(index, variant, samples, clean, labelled, -1))
            elif variant in PROPAGATION_VARIANTS:
                mixed, far, k = propagated_variant(variant, samples, prop_rng, street)
                if street_idx[k] != index:  # a background never mixes into itself
                    windows = analysis_windows(mixed, hop)
                    far_labelled = event_windows(far, hop, is_event)
                    out.append(
                        Rendering(index, variant, mixed, windows, far_labelled, street_idx[k])
                    )
            else:
                mixed, k = augmented(variant, samples, event_power, rng, street, talk)
                background = (street_idx if variant != "talk" else talk_idx)[k]
                if background != index:
                    windows = analysis_windows(mixed, hop)
                    out.append(Rendering(index, variant, mixed, windows, labelled, background))
        yield out


def _extract(
    clips: list[LabelledClip],
    measures: list[WindowMeasure],
    hop: int,
    wanted: tuple[str, ...],
    progress: Callable[[int], None] | None,
) -> list[FeatureTable]:
    """One table per measure over the same rows: every clip's `wanted` variants, each rendered
    once and measured by all of `measures`."""
    parts: dict[str, list[np.ndarray]] = {
        f: [] for f in FeatureTable.__dataclass_fields__ if f != "features"
    }
    measured: list[list[np.ndarray]] = [[] for _ in measures]
    for renderings in clip_renderings(clips, hop, wanted):
        for rendering in renderings:
            n = len(rendering.windows)
            for rows, measure in zip(measured, measures, strict=True):
                rows.append(measure(rendering.windows).astype(np.float16))
            parts["clip"].append(np.full(n, rendering.clip, np.int32))
            parts["variant"].append(np.full(n, VARIANTS.index(rendering.variant), np.int8))
            parts["background"].append(np.full(n, rendering.background, np.int32))
            parts["labelled"].append(rendering.labelled)
        if progress:
            progress(1)
    arrays = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    return [FeatureTable(**{**arrays, "features": np.concatenate(rows)}) for rows in measured]
