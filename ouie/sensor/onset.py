"""Sample-accurate onset of an event inside the span the detector found.

The span is only known to a window hop (≈ 0.5 s). The picker works on the event's band:
1. zero-phase band-pass (no delay) of the span plus a lead-in; the loudest 1 ms energy frame
   locates the event's main arrival;
2. the Akaike information criterion picker (Maeda 1985) on the band signal before that anchor,
   AIC(k) = k · ln var(x[0:k]) + (N − k − 1) · ln var(x[k:N]),
   puts a coarse onset at the k where "noise before, signal after" fits best (argmin AIC);
3. a zero-phase filter rings *before* a sharp attack, so the coarse onset is early by up to a
   few ms: the AIC picker runs again within ±20 ms on a *causal* high-pass (at the band's low
   edge), which cannot respond before the sound arrives.
For sustained classes (scream, siren, alarm) step 2 searches the whole span before the peak.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt, sosfiltfilt

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.core.classes import EventClass

LEAD_IN_S = 0.25
"""How far before the detected span the picker may look, s."""
SEARCH_BEFORE_PEAK_S = 0.15
"""For impulsive classes, the coarse AIC pick searches this long before the energy peak, s."""
REFINE_HALF_WIDTH_S = 0.02
"""The causal refinement searches ± this around the coarse pick, s."""
SUSTAINED_CLASSES = frozenset({EventClass.SCREAM, EventClass.SIREN, EventClass.ALARM})
ENERGY_FRAME_S = 0.001
ANCHOR_FRACTION = 0.25
"""The anchor is the first 1 ms frame with this fraction of the span's peak energy: the first
strong arrival, not a later louder echo or shot."""

ONSET_BANDS_HZ: dict[EventClass, tuple[float, float]] = {
    EventClass.GUNSHOT: (2000.0, 7500.0),
    EventClass.EXPLOSION: (2000.0, 7500.0),
    EventClass.GLASS_BREAK: (3000.0, 7500.0),
    EventClass.FIREWORKS: (2000.0, 7500.0),
    EventClass.SCREAM: (300.0, 4000.0),
    EventClass.SIREN: (400.0, 2000.0),
    EventClass.ALARM: (400.0, 4000.0),
}
"""Band in which each class's onset is picked, Hz."""

PICKER_UNCERTAINTY_S: dict[EventClass, float] = {
    EventClass.GUNSHOT: 0.001,
    EventClass.EXPLOSION: 0.002,
    EventClass.GLASS_BREAK: 0.002,
    EventClass.FIREWORKS: 0.001,
    EventClass.SCREAM: 0.02,
    EventClass.SIREN: 0.05,
    EventClass.ALARM: 0.05,
}
"""1-σ picker error per class, s (impulsive classes: from bench/detection_onset.py)."""


def aic_onset(x: np.ndarray) -> int:
    """argmin_k AIC(k) for 2 ≤ k ≤ N − 2, with the variances from cumulative sums:
    var(x[0:k]) = S2_k/k − (S1_k/k)²."""
    n = len(x)
    if n < 8:
        return 0
    x = x.astype(np.float64)
    s1 = np.cumsum(x)
    s2 = np.cumsum(x * x)
    k = np.arange(2, n - 1)
    var_before = s2[k - 1] / k - (s1[k - 1] / k) ** 2
    rest = n - k
    var_after = (s2[-1] - s2[k - 1]) / rest - ((s1[-1] - s1[k - 1]) / rest) ** 2
    tiny = 1e-20
    aic = k * np.log(var_before + tiny) + (n - k - 1) * np.log(var_after + tiny)
    return int(k[np.argmin(aic)])


def band_signal(samples: np.ndarray, band_hz: tuple[float, float]) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth band-pass, applied forward and backward (no delay)."""
    sos = butter(2, band_hz, btype="bandpass", fs=SAMPLE_RATE_HZ, output="sos")
    padlen = min(len(samples) - 1, 3 * (2 * len(sos) + 1))
    return sosfiltfilt(sos, samples, padlen=max(padlen, 0))


def causal_highpass(samples: np.ndarray, cutoff_hz: float) -> np.ndarray:
    """Causal 2nd-order Butterworth high-pass: its output cannot start before its input."""
    return sosfilt(butter(2, cutoff_hz, btype="highpass", fs=SAMPLE_RATE_HZ, output="sos"), samples)


def pick_onset(samples: np.ndarray, span_start: int, span_end: int, event_class: EventClass) -> int:
    """Onset sample index (in `samples`) of the event of `event_class` detected in
    samples[span_start:span_end]."""
    lead_start = max(0, span_start - round(LEAD_IN_S * SAMPLE_RATE_HZ))
    span_end = min(len(samples), max(span_end, lead_start + 16))
    segment = samples[lead_start:span_end].astype(np.float64)
    band_hz = ONSET_BANDS_HZ[event_class]
    band = band_signal(segment, band_hz)
    frame = round(ENERGY_FRAME_S * SAMPLE_RATE_HZ)
    n_frames = max(1, len(band) // frame)
    energy = (band[: n_frames * frame].reshape(n_frames, frame) ** 2).sum(axis=1)
    first_strong = int(np.argmax(energy >= ANCHOR_FRACTION * energy.max()))
    peak = first_strong * frame + frame
    if event_class in SUSTAINED_CLASSES:
        return lead_start + aic_onset(band[:peak])
    search_start = max(0, peak - round(SEARCH_BEFORE_PEAK_S * SAMPLE_RATE_HZ))
    coarse = search_start + aic_onset(band[search_start:peak])
    half = round(REFINE_HALF_WIDTH_S * SAMPLE_RATE_HZ)
    refine_start = max(0, coarse - half)
    highpassed = causal_highpass(segment[: coarse + half], band_hz[0])
    return lead_start + refine_start + aic_onset(highpassed[refine_start:])
