"""Impulsive evidence of a 16 kHz analysis window, measured on the audio itself.

YAMNet's embedding averages its patches over the whole 0.975 s window, so a gunshot heard from
afar (a 10–50 ms crack, its highs eaten by the air, a reverberant tail, in street noise) is
diluted into the street around it. What survives distance is the leading edge: a broadband rise
of energy within 10 ms, standing above the street's floor in the top band where traffic is
weakest. Per window (frames of FRAME_SAMPLES, Hann-weighted, no overlap):
  E_b[t] = 10 log10(Σ_{f in band b} |X_t(f)|² + ε)  (dB, band energy of frame t),
  rise_b = max_t (E_b[t] − min_{t−FLOOR_FRAMES ≤ s < t} E_b[s])  (dB over the running floor),
  crest_b = max_t E_b[t] − median_t E_b[t]  (dB),
for the high band (2–7.5 kHz) and the low band (50–2000 Hz); each clipped to [0, MAX_DB].
"""

from __future__ import annotations

import numpy as np

from ouie.audio.io import SAMPLE_RATE_HZ

FRAME_SAMPLES = 160
"""10 ms frames at 16 kHz."""
FLOOR_FRAMES = 10
"""The running floor is the quietest of the previous 10 frames (100 ms)."""
BANDS_HZ = ((2000.0, 7500.0), (50.0, 2000.0))
"""High band (the crack stands highest above traffic there) and low band (explosions)."""
MAX_DB = 40.0
"""Evidence is clipped here: digital silence before a clean clip's onset says nothing more."""
FLOOR_DBFS = -100.0
"""ε: frame energies below this level (dB re full scale) count as this level."""
N_IMPULSE = 2 * len(BANDS_HZ)
CHUNK_WINDOWS = 64


def band_energy_db(windows: np.ndarray) -> np.ndarray:
    """E_b[t] for every window, band and frame, (n, n_bands, n_frames), dB re full scale."""
    n_frames = windows.shape[1] // FRAME_SAMPLES
    frames = windows[:, : n_frames * FRAME_SAMPLES].reshape(len(windows), n_frames, -1)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(FRAME_SAMPLES), axis=2)) ** 2
    frequency = np.fft.rfftfreq(FRAME_SAMPLES, 1.0 / SAMPLE_RATE_HZ)
    power = np.stack(
        [spectrum[:, :, (frequency >= lo) & (frequency < hi)].sum(axis=2) for lo, hi in BANDS_HZ],
        axis=1,
    ) / (FRAME_SAMPLES * np.sum(np.hanning(FRAME_SAMPLES) ** 2))
    return np.maximum(10 * np.log10(power + 1e-30), FLOOR_DBFS)


def impulse_features(windows: np.ndarray) -> np.ndarray:
    """(rise_high, rise_low, crest_high, crest_low) per window, dB (see the module), (n, 4);
    computed CHUNK_WINDOWS at a time (a file's thousands of windows at once would build
    hundreds of MB of spectra)."""
    chunks = [
        _impulse_chunk(windows[k : k + CHUNK_WINDOWS])
        for k in range(0, len(windows), CHUNK_WINDOWS)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, N_IMPULSE), np.float32)


def running_floor_db(energy: np.ndarray) -> np.ndarray:
    """floor[..., t] = min_{t−FLOOR_FRAMES ≤ s < t} energy[..., s] along the last axis (frames);
    +inf for the first frame, which has nothing before it."""
    n_frames = energy.shape[-1]
    floor = np.full_like(energy, np.inf)
    for lag in range(1, min(FLOOR_FRAMES, n_frames - 1) + 1):
        floor[..., lag:] = np.minimum(floor[..., lag:], energy[..., : n_frames - lag])
    return floor


def _impulse_chunk(windows: np.ndarray) -> np.ndarray:
    energy = band_energy_db(windows.astype(np.float64))
    rise = np.max(energy[:, :, 1:] - running_floor_db(energy)[:, :, 1:], axis=2)
    crest = energy.max(axis=2) - np.median(energy, axis=2)
    return np.clip(np.concatenate([rise, crest], axis=1), 0.0, MAX_DB).astype(np.float32)


ALIGN_LEAD_S = 0.1
"""An aligned window starts this long before the leading edge it is aligned on."""
EDGE_RANGE_DB = 20.0
"""Only frames within this of the loudest frame can hold the strongest edge."""


def strongest_edge(samples: np.ndarray) -> int:
    """Sample index of the sound's strongest leading edge: the first 10 ms frame t (among those
    within EDGE_RANGE_DB of the loudest) maximising the rise
    max(0, E[t] − min_{t−FLOOR_FRAMES ≤ s < t} E[s]), E the frame's broadband energy in dB
    (`running_floor_db`)."""
    n_frames = max(1, -(-len(samples) // FRAME_SAMPLES))
    frames = np.pad(samples, (0, n_frames * FRAME_SAMPLES - len(samples))).reshape(n_frames, -1)
    energy = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10)
    rise = np.maximum(energy - running_floor_db(energy), 0.0)  # the first frame: no rise
    rise = np.where(energy >= energy.max() - EDGE_RANGE_DB, rise, -np.inf)
    return int(np.argmax(rise)) * FRAME_SAMPLES


def aligned_window(samples: np.ndarray, window_samples: int) -> np.ndarray:
    """The (1, window_samples) window that starts ALIGN_LEAD_S before `strongest_edge`
    (zero-padded where it runs past either end): the onset and its tail, wherever a fixed grid
    would have cut them."""
    start = aligned_start(0, samples)
    padded = np.pad(samples, (max(0, -start), window_samples))
    start = max(0, start)
    return padded[None, start : start + window_samples].astype(np.float32)


def aligned_start(window_start: int, window: np.ndarray) -> int:
    """First sample of the window aligned on `window`'s strongest edge: window_start +
    strongest_edge(window) − ALIGN_LEAD_S (what the sensor shows the verifier when the grid
    window starting at `window_start` opens a candidate)."""
    return window_start + strongest_edge(window) - round(ALIGN_LEAD_S * SAMPLE_RATE_HZ)


def grid_aligned_windows(windows: np.ndarray, hop: int) -> np.ndarray:
    """For each grid window k of one run (windows[k] = samples[k·hop : k·hop + W], zero-padded
    past the end), its aligned window (`aligned_start`), zero-padded outside the run, (n, W).
    The run's audio is read back from the windows: their first hops, then the last window."""
    width = windows.shape[1]
    audio = np.concatenate([windows[:-1, :hop].reshape(-1), windows[-1]])
    lead = round(ALIGN_LEAD_S * SAMPLE_RATE_HZ)
    padded = np.pad(audio, (lead, width))
    starts = [aligned_start(k * hop, window) + lead for k, window in enumerate(windows)]
    return np.stack([padded[s : s + width] for s in starts])
