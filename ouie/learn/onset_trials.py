"""Onset-accuracy trials: a real clip inserted into real street noise at a known sample offset.

Truth: offset + the clip's own onset, picked on the clean clip (its leading edge, by the
picker's definition); the trial measures how far noise, level and the detector's coarse span
move the pick. SNR = 10 log10(P_event / P_noise), P_event the clip's loudest 100 ms. Only clips
with a clear leading edge take part (the 50 ms before their onset is quiet: mean envelope below
half the onset level), since a clip cut in the middle of a sound has no onset to find.

A trial may insert the clip as a sensor across the street hears it (`heard`: propagated, with
its first path at sample 0) while the truth stays the close-up clip's onset: the error is then
how far distance (air absorption, ground reflection, reverberation) and noise move the pick
from the point a close sensor picks, which is what TDOA between them sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.core.classes import EventClass
from ouie.sensor.config import DetectorConfig
from ouie.sensor.onset import (
    ONSET_BANDS_HZ,
    ONSET_FRACTION,
    PEAK_SEARCH_S,
    band_signal,
    pick_onset,
    smoothed_envelope,
)
from ouie.sensor.scoring import WINDOW_SAMPLES

QUIET_BEFORE_S = 0.05
LOUDEST_SPAN_S = 0.1
HOP = round(DetectorConfig().hop_s * SAMPLE_RATE_HZ)


def clean_onset(clip: np.ndarray, event_class: EventClass) -> int:
    """The clip's own onset (picker on the whole clean clip)."""
    return pick_onset(clip, 0, len(clip), event_class)


def has_clear_leading_edge(clip: np.ndarray, event_class: EventClass) -> bool:
    """Quiet (envelope mean < ONSET_FRACTION/2 of the edge's peak) for 50 ms before the onset."""
    onset = clean_onset(clip, event_class)
    before = round(QUIET_BEFORE_S * SAMPLE_RATE_HZ)
    if onset < before:
        return False
    envelope = smoothed_envelope(band_signal(clip.astype(np.float64), ONSET_BANDS_HZ[event_class]))
    peak = envelope[onset : onset + round(PEAK_SEARCH_S * SAMPLE_RATE_HZ)].max()
    return bool(envelope[onset - before : onset].mean() < ONSET_FRACTION / 2 * peak)


def loudest_power(clip: np.ndarray) -> float:
    """Mean power of the clip's loudest 100 ms."""
    width = min(len(clip), round(LOUDEST_SPAN_S * SAMPLE_RATE_HZ))
    return float(np.convolve(clip.astype(np.float64) ** 2, np.ones(width) / width, "valid").max())


@dataclass(frozen=True)
class OnsetTrial:
    truth: int
    picked: int

    @property
    def error_ms(self) -> float:
        return (self.picked - self.truth) * 1000 / SAMPLE_RATE_HZ


def onset_trial(
    clip: np.ndarray,
    noise: np.ndarray,
    event_class: EventClass,
    snr_db: float,
    rng: np.random.Generator,
    heard: np.ndarray | None = None,
) -> OnsetTrial:
    """Insert `clip` (or `heard`, the same clip as a distant sensor hears it, first path at its
    sample 0) into `noise` (tiled) at a random offset and SNR (of what is inserted), pick the
    onset inside the span of analysis windows (0.975 s every 0.48 s) that contain it, as the
    detector would. The truth is always `clip`'s own onset."""
    inserted = clip if heard is None else heard
    offset = int(rng.integers(SAMPLE_RATE_HZ, 2 * SAMPLE_RATE_HZ))
    total = offset + len(inserted) + SAMPLE_RATE_HZ
    background = np.tile(noise, math.ceil(total / len(noise)))[:total].astype(np.float64)
    gain = math.sqrt(loudest_power(inserted) / np.mean(background**2) / 10 ** (snr_db / 10))
    mixture = gain * background
    mixture[offset : offset + len(inserted)] += inserted
    truth = offset + clean_onset(clip, event_class)
    first_window = max(0, (truth - WINDOW_SAMPLES) // HOP + 1)
    last_window = truth // HOP + 1
    span = (first_window * HOP, last_window * HOP + WINDOW_SAMPLES)
    return OnsetTrial(truth, pick_onset(mixture, span[0], span[1], event_class))
