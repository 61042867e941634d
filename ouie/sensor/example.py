"""A short synthetic street scene for `ouie detect --example`: no data, no model needed.

Street-like noise (brown noise with a 50–120 Hz engine rumble, −40 dBFS), one impulsive
gunshot-like burst (instant attack, 30 ms exponential decay, broadband) and a siren sweeping
650 → 1,300 Hz (a triangle-wave sweep with two harmonics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import sawtooth

from ouie.audio.io import SAMPLE_RATE_HZ

EXAMPLE_DURATION_S = 8.0
EXAMPLE_IMPULSE_S = 1.5
"""True onset of the impulsive burst, s from the start."""
EXAMPLE_SIREN_S = (3.5, 7.0)
"""Start and end of the siren, s."""


def street_noise(n_samples: int, rng: np.random.Generator, level_dbfs: float = -40.0) -> np.ndarray:
    """Brown noise (integrated white noise, −6 dB/octave) plus an engine rumble, at
    `level_dbfs` RMS."""
    brown = np.cumsum(rng.standard_normal(n_samples))
    brown -= np.convolve(brown, np.ones(801) / 801, mode="same")  # remove the random walk's drift
    t = np.arange(n_samples) / SAMPLE_RATE_HZ
    rumble = np.sin(2 * np.pi * 55 * t) + 0.5 * np.sin(2 * np.pi * 110 * t + 1.0)
    noise = brown / brown.std() + 0.3 * rumble
    return noise / noise.std() * 10 ** (level_dbfs / 20)


def impulse_burst(rng: np.random.Generator, peak: float = 0.7, decay_s: float = 0.03) -> np.ndarray:
    """White noise under an instant-attack envelope exp(−t / decay_s), 0.3 s long."""
    t = np.arange(round(0.3 * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    burst = rng.standard_normal(len(t)) * np.exp(-t / decay_s)
    return burst / np.abs(burst).max() * peak


def siren_sweep(duration_s: float, low_hz: float = 650.0, high_hz: float = 1300.0) -> np.ndarray:
    """f(t) sweeps low→high→low in a 2 s triangle; phase = 2π ∫ f dt; two harmonics."""
    t = np.arange(round(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    freq = low_hz + (high_hz - low_hz) * (sawtooth(2 * np.pi * t / 2.0, width=0.5) + 1) / 2
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE_HZ
    tone = np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    return 0.15 * tone * ramp


def example_scene(seed: int = 7) -> np.ndarray:
    """The example scene, 16 kHz mono float32."""
    rng = np.random.default_rng(seed)
    scene = street_noise(round(EXAMPLE_DURATION_S * SAMPLE_RATE_HZ), rng)
    burst = impulse_burst(rng)
    at = round(EXAMPLE_IMPULSE_S * SAMPLE_RATE_HZ)
    scene[at : at + len(burst)] += burst
    start, end = (round(s * SAMPLE_RATE_HZ) for s in EXAMPLE_SIREN_S)
    scene[start:end] += siren_sweep(EXAMPLE_SIREN_S[1] - EXAMPLE_SIREN_S[0])[: end - start]
    return np.clip(scene, -1.0, 1.0).astype(np.float32)


def write_example(path: Path) -> Path:
    """Write the example scene as a 16-bit WAV."""
    sf.write(str(path), example_scene(), SAMPLE_RATE_HZ, subtype="PCM_16")
    return path
