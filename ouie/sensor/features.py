"""YAMNet features of a labelled set, with augmentation, cached on disk (never in the repo).

Every clip is cut into the pipeline's windows (0.975 s every hop, zero-padded tail: exactly what
`EventStream` scores). Each clip is seen clean and in augmented variants:
- `street`: gain −25…0 dB, mixed into a street background (traffic, engines, air conditioners,
  kitchen/room noise) at SNR 0…20 dB;
- `chain`: through a lower sample rate (8 or 11.025 kHz and back: narrow-band microphones and
  codecs), gain −20…0 dB, a street background at SNR 20…30 dB;
- `talk` (event clips only): mixed into people talking at SNR 0…15 dB (a gunshot over speech is
  still a gunshot).
SNR = 10 log10(P_event / P_background), P_event the power of the clip's loudest window.
Event clips label only their windows within 10 dB of the loudest window (the event itself); the
others are left out of training, never called `none`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ouie.audio.io import SAMPLE_RATE_HZ, read_audio, resample
from ouie.sensor.dataset import (
    NONE_LABEL,
    SPEECH_FOLDERS,
    STREET_BACKGROUND_FOLDERS,
    LabelledClip,
)
from ouie.sensor.scoring import WINDOW_SAMPLES
from ouie.sensor.yamnet import YamnetModel

FEATURES_VERSION = "1"
"""Bump when windows or augmentations change (invalidates caches)."""
VARIANTS = ("clean", "street", "chain", "talk")
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


def cache_key(clips: list[LabelledClip], model: YamnetModel, hop: int) -> str:
    digest = hashlib.sha256(f"{FEATURES_VERSION}|{model.sha256}|{hop}".encode())
    for clip in clips:
        digest.update(f"{clip.path}|{clip.path.stat().st_size}|{clip.label}\n".encode())
    return digest.hexdigest()[:20]


def extract_features(
    clips: list[LabelledClip],
    model: YamnetModel,
    hop: int,
    cache_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> FeatureTable:
    """Features of every clip and variant, from the cache when the same set was seen before."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_file = cache_dir / f"features-{cache_key(clips, model, hop)}.npz"
    if cache_file.is_file():
        with np.load(cache_file) as data:
            table = FeatureTable(
                features=data["features"].astype(np.float32),
                clip=data["clip"],
                variant=data["variant"],
                background=data["background"],
                labelled=data["labelled"],
            )
        if progress:
            progress(len(clips))
        return table
    street_idx = [i for i, c in enumerate(clips) if c.folder in STREET_BACKGROUND_FOLDERS]
    talk_idx = [i for i, c in enumerate(clips) if c.folder in SPEECH_FOLDERS]
    street = [read_audio(clips[i].path) for i in street_idx]
    talk = [read_audio(clips[i].path) for i in talk_idx]
    parts: dict[str, list[np.ndarray]] = {f: [] for f in FeatureTable.__dataclass_fields__}
    for index, clip in enumerate(clips):
        samples = read_audio(clip.path)
        clean = analysis_windows(samples, hop)
        levels = window_rms_db(clean)
        event_power = float(10 ** (levels.max() / 10))
        is_event = clip.label != NONE_LABEL
        labelled = (
            levels >= levels.max() - EVENT_WINDOW_DB if is_event else np.ones_like(levels, bool)
        )
        rng = np.random.default_rng(
            int(hashlib.sha256(str(clip.path.name).encode()).hexdigest()[:8], 16)
        )
        variants = VARIANTS if is_event else VARIANTS[:3]
        for v, variant in enumerate(VARIANTS):
            if variant not in variants:
                continue
            background = -1
            windows = clean
            if variant != "clean":
                mixed, k = augmented(variant, samples, event_power, rng, street, talk)
                background = (street_idx if variant != "talk" else talk_idx)[k]
                if background == index:
                    continue  # a background never mixes into itself
                windows = analysis_windows(mixed, hop)
            scores, embeddings = model.run(windows)
            n = len(windows)
            parts["features"].append(
                np.concatenate([embeddings, scores], axis=1).astype(np.float16)
            )
            parts["clip"].append(np.full(n, index, np.int32))
            parts["variant"].append(np.full(n, v, np.int8))
            parts["background"].append(np.full(n, background, np.int32))
            parts["labelled"].append(labelled)
        if progress:
            progress(1)
    arrays = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    np.savez(cache_file, **arrays)
    arrays["features"] = arrays["features"].astype(np.float32)
    return FeatureTable(**arrays)
