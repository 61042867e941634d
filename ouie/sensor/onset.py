"""Sample-accurate onset of an event inside the span the detector found.

The span is only known to a window hop (≈ 0.5 s). The onset is defined on the event's leading
edge, in the class's band, as a constant-fraction crossing (independent of the event's level):
1. zero-phase band-pass (no delay) of the span plus a lead-in; amplitude envelope
   e(t) = |x_band + i·H{x_band}| (Hilbert), smoothed by a centred 0.5 ms moving average;
2. anchor (`leading_edge_anchor`): the first sample where e reaches ANCHOR_FRACTION of the
   span's maximum (the first strong arrival, not a later, louder echo or shot), moved back to an
   earlier arrival of the same sound when there is one (heard from afar, reverberation builds up
   after the first arrival and can make a later crack the maximum); P = the envelope's peak in
   the 10 ms after;
3. onset: walking back from the anchor, the first sample where e is still ≥ ONSET_FRACTION · P,
   i.e. where the leading edge crosses a fixed fraction of its own peak.
Noise below ONSET_FRACTION · P cannot move the crossing much, and a sensor nearer or farther
(another level) crosses at the same point of the waveform: what TDOA needs.

The band decides how far above the street the leading edge stands. Street noise falls with
frequency (traffic recordings of ../shared/audio: 50–200 Hz holds −4.5 dB of the power,
2–4 kHz −20 dB, 4–7.5 kHz −34 dB), while an impulsive front is broadband, so the edge's
band SNR is best in the top band the event reaches. Explosions carry most of their energy low,
but at 10 dB broadband SNR their first 10 ms stand a median 6 dB above traffic at 50–200 Hz,
14 dB at 2–4 kHz and 25 dB at 4–7.5 kHz: they are picked at 4–7.5 kHz (2–7.5 kHz, where the
2–4 kHz noise dominates, missed one explosion onset in five at 10 dB).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, hilbert, sosfiltfilt

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.core.classes import EventClass

LEAD_IN_S = 0.25
"""How far before the detected span the picker may look, s."""
ENVELOPE_SMOOTHING_S = 0.0005
ANCHOR_FRACTION = 0.5
"""The anchor is the first sample whose envelope reaches this fraction of the span's maximum."""
PEAK_SEARCH_S = 0.01
"""The leading edge's peak P is searched this long after the anchor, s."""
ONSET_FRACTION = 0.2
"""The onset is where the leading edge crosses this fraction of P."""
PRECURSOR_FRACTION = 0.25
"""An earlier arrival must reach this fraction of the span's maximum ..."""
PRECURSOR_SEARCH_S = 0.05
"""... within this long before the anchor, s ..."""
CONTINUITY_FRACTION = 0.1
"""... and the envelope (smoothed over CONTINUITY_SMOOTHING_S) must stay above this fraction of
the maximum from it to the anchor (the same sound, not a burst of noise before it)."""
CONTINUITY_SMOOTHING_S = 0.002

ONSET_BANDS_HZ: dict[EventClass, tuple[float, float]] = {
    EventClass.GUNSHOT: (2000.0, 7500.0),
    EventClass.EXPLOSION: (4000.0, 7500.0),
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


def band_signal(samples: np.ndarray, band_hz: tuple[float, float]) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth band-pass, applied forward and backward (no delay)."""
    sos = butter(2, band_hz, btype="bandpass", fs=SAMPLE_RATE_HZ, output="sos")
    padlen = min(len(samples) - 1, 3 * (2 * len(sos) + 1))
    return sosfiltfilt(sos, samples, padlen=max(padlen, 0))


def pick_onset(samples: np.ndarray, span_start: int, span_end: int, event_class: EventClass) -> int:
    """Onset sample index (in `samples`) of the event of `event_class` detected in
    samples[span_start:span_end]."""
    lead_start = max(0, span_start - round(LEAD_IN_S * SAMPLE_RATE_HZ))
    span_end = min(len(samples), max(span_end, lead_start + 16))
    band = band_signal(samples[lead_start:span_end].astype(np.float64), ONSET_BANDS_HZ[event_class])
    envelope = smoothed_envelope(band)
    anchor = leading_edge_anchor(envelope)
    peak = envelope[anchor : anchor + round(PEAK_SEARCH_S * SAMPLE_RATE_HZ)].max()
    below = np.flatnonzero(envelope[:anchor] < ONSET_FRACTION * peak)
    return lead_start + (int(below[-1]) + 1 if below.size else 0)


def leading_edge_anchor(envelope: np.ndarray) -> int:
    """Index of the event's first strong arrival in `envelope` (e, maximum M):
      a₁ = min{t : e(t) ≥ ANCHOR_FRACTION·M}
      a₂ = min{t ∈ [a₁ − PRECURSOR_SEARCH_S, a₁) : e(t) ≥ PRECURSOR_FRACTION·M}
      anchor = a₂ if ē(t) ≥ CONTINUITY_FRACTION·M for every t in [a₂, a₁) (ē: e averaged over
               CONTINUITY_SMOOTHING_S), else a₁.
    Every threshold is a fraction of M, so the anchor does not depend on the level."""
    top = envelope.max()
    first = int(np.argmax(envelope >= ANCHOR_FRACTION * top))
    search_from = max(0, first - round(PRECURSOR_SEARCH_S * SAMPLE_RATE_HZ))
    earlier = np.flatnonzero(envelope[search_from:first] >= PRECURSOR_FRACTION * top)
    if earlier.size == 0:
        return first
    precursor = search_from + int(earlier[0])
    width = max(1, round(CONTINUITY_SMOOTHING_S * SAMPLE_RATE_HZ))
    start = max(0, precursor - width)
    local = np.convolve(envelope[start : first + width], np.ones(width) / width, mode="same")
    between = local[precursor - start : first - start]
    return precursor if between.min() >= CONTINUITY_FRACTION * top else first


def smoothed_envelope(band: np.ndarray) -> np.ndarray:
    """|analytic signal|, then a centred moving average of ENVELOPE_SMOOTHING_S (no delay)."""
    width = max(1, round(ENVELOPE_SMOOTHING_S * SAMPLE_RATE_HZ))
    return np.convolve(np.abs(hilbert(band)), np.ones(width) / width, mode="same")
