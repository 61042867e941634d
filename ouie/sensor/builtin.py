"""The built-in fallback detector: plain signal processing, no model file.

It finds two things only: **impulsive** sounds (a sudden energy jump, reported as `gunshot`:
it cannot tell a gunshot from an explosion, a door slam or a firework) and **siren** tones (a
strong tone sweeping in 400–2000 Hz). It has no speech detector, no scream, glass or alarm
detection, and its false-alarm rate on bangs is high. Use it only when no YAMNet model is
available; it says so wherever it is used.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from scipy.signal import butter, sosfilt, stft

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.core.classes import EventClass
from ouie.core.report import ModelId
from ouie.sensor.scoring import EVENT_CLASSES, WindowScores

FRAME_S = 0.0025
"""Energy frame for the impulse detector, s."""
BACKGROUND_S = 0.1
"""Span before a frame whose median energy is the local background, s."""
IMPULSE_JUMP_DB = (15.0, 35.0)
"""Energy jump over the background that maps to score 0 and 1, dB."""
SIREN_BAND_HZ = (400.0, 2000.0)
TONAL_RATIO_DB = 12.0
"""A frame is tonal when its peak bin stands this far above the band's mean power, dB."""
SIREN_MIN_SWEEP_HZ = 40.0
"""A siren's pitch moves: the std of the tone frequency over the window must exceed this, Hz."""

BUILTIN_PARAMETERS = {
    "frame_s": FRAME_S,
    "background_s": BACKGROUND_S,
    "impulse_jump_db": IMPULSE_JUMP_DB,
    "siren_band_hz": SIREN_BAND_HZ,
    "tonal_ratio_db": TONAL_RATIO_DB,
    "siren_min_sweep_hz": SIREN_MIN_SWEEP_HZ,
}


def impulse_score(window: np.ndarray) -> float:
    """Largest jump of 2.5 ms frame energy (above 200 Hz) over the median of the preceding
    100 ms, J = max_t 10 log10(E_t / median(E_{t−100ms..t})), mapped linearly from
    IMPULSE_JUMP_DB to [0, 1]."""
    highpassed = sosfilt(_HIGHPASS_SOS, window)
    frame = round(FRAME_S * SAMPLE_RATE_HZ)
    n_frames = len(highpassed) // frame
    energy = (highpassed[: n_frames * frame].reshape(n_frames, frame) ** 2).mean(axis=1) + 1e-12
    lag = round(BACKGROUND_S / FRAME_S)
    if n_frames <= lag:
        return 0.0
    past = np.lib.stride_tricks.sliding_window_view(energy[:-1], lag)  # past[k] ends at k+lag-1
    background = np.median(past, axis=1)
    jump_db = 10 * np.log10(energy[lag:] / background).max()
    low, high = IMPULSE_JUMP_DB
    return float(np.clip((jump_db - low) / (high - low), 0.0, 1.0))


def siren_score(window: np.ndarray) -> float:
    """Fraction of 64 ms frames whose strongest 400–2000 Hz bin stands TONAL_RATIO_DB above the
    band mean, halved when the tone does not sweep (std of its frequency < SIREN_MIN_SWEEP_HZ)."""
    freqs, _, spectrum = stft(window, fs=SAMPLE_RATE_HZ, nperseg=1024, noverlap=512)
    band = (freqs >= SIREN_BAND_HZ[0]) & (freqs <= SIREN_BAND_HZ[1])
    power = np.abs(spectrum[band]) ** 2 + 1e-12
    ratio_db = 10 * np.log10(power.max(axis=0) / power.mean(axis=0))
    tonal = ratio_db >= TONAL_RATIO_DB
    if not tonal.any():
        return 0.0
    tone_hz = freqs[band][power.argmax(axis=0)][tonal]
    sweep = 1.0 if tone_hz.std() >= SIREN_MIN_SWEEP_HZ else 0.5
    return float(tonal.mean() * sweep)


_HIGHPASS_SOS = butter(4, 200.0, btype="highpass", fs=SAMPLE_RATE_HZ, output="sos")


class BuiltinScorer:
    """Impulse → `gunshot`, tonal sweep → `siren`; every other class scores 0."""

    description = (
        "built-in signal-processing FALLBACK: impulsive sounds (reported as gunshot, cannot tell "
        "gunshot from explosion, door slam or fireworks) and siren tones only; no speech gate, "
        "no scream/glass/alarm detection, many false alarms on bangs"
    )
    default_thresholds: dict[EventClass, float] = dict.fromkeys(EventClass, 0.5)
    verifier = None

    def __init__(self) -> None:
        digest = hashlib.sha256(json.dumps(BUILTIN_PARAMETERS, sort_keys=True).encode())
        self.model_id = ModelId(name="builtin/1", sha256=digest.hexdigest())

    def score(self, windows: np.ndarray) -> WindowScores:
        scores = np.zeros((len(windows), len(EVENT_CLASSES)), np.float32)
        gunshot = EVENT_CLASSES.index(EventClass.GUNSHOT)
        siren = EVENT_CLASSES.index(EventClass.SIREN)
        for i, window in enumerate(windows):
            scores[i, gunshot] = impulse_score(window)
            scores[i, siren] = siren_score(window)
        return WindowScores(class_scores=scores, speech=np.zeros(len(windows), np.float32))
