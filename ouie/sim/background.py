"""Street background at each sensor: traffic-like coloured noise calibrated in dB(A), or steady
real recordings looped, plus the microphone's white self-noise.

Noise is made as one loop per sensor (`LOOP_SAMPLES`, 65.5 s at 16 kHz) laid end to end in
randomly rolled copies, so a 10-minute recording costs one loop, not one random draw per
sample; every sensor's loop is independent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal

from ouie.acoustics.propagation import db_spl_to_pa
from ouie.sim.scenario import Background, Microphone, Scenario
from ouie.sim.sources import loudest_rms, read_mono, recordings_for

FloatArray = NDArray[np.float64]
log = logging.getLogger(__name__)


def a_weighting_gain(frequency_hz: ArrayLike) -> FloatArray:
    """IEC 61672-1 A-weighting as a pressure gain:
    R_A(f) = 12194²·f⁴ / ((f² + 20.6²)·sqrt((f² + 107.7²)(f² + 737.9²))·(f² + 12194²)),
    A(f) = R_A(f)·10^(2.0/20) (0 dB at 1 kHz)."""
    f2 = np.asarray(frequency_hz, dtype=float) ** 2
    r_a = (12194.0**2 * f2**2) / (
        (f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
    )
    return np.asarray(r_a * 10.0 ** (2.0 / 20.0), dtype=float)


STREET_NOISE_SOS_ORDER = 1
"""Street noise: white noise through a 1st-order low-pass at `STREET_NOISE_CORNER_HZ` (−6 dB per
octave above it) and a 2nd-order high-pass at 30 Hz: a traffic-like spectrum."""
STREET_NOISE_CORNER_HZ = 400.0


def street_noise_filter(sample_rate_hz: int) -> NDArray:
    """Second-order sections of the street-noise colouring filter."""
    low = signal.butter(
        STREET_NOISE_SOS_ORDER, STREET_NOISE_CORNER_HZ, fs=sample_rate_hz, output="sos"
    )
    high = signal.butter(2, 30.0, "highpass", fs=sample_rate_hz, output="sos")
    return np.concatenate([low, high])


def a_weighted_rms_of_filtered_white(sos: NDArray, sample_rate_hz: int) -> float:
    """A-weighted RMS of unit-variance white noise through `sos`: the noise power spreads evenly
    over 0..fs/2, so P_A = mean over a uniform grid of |H(f)|²·A(f)²."""
    frequency_hz, response = signal.sosfreqz(sos, worN=8192, fs=sample_rate_hz)
    return float(np.sqrt(np.mean(np.abs(response) ** 2 * a_weighting_gain(frequency_hz) ** 2)))


def a_weighted_rms(x: FloatArray, sample_rate_hz: int) -> float:
    """A-weighted RMS of a signal via its spectrum (Parseval): sqrt(Σ|X_k|²·A(f_k)²·w_k)/N."""
    spectrum = np.fft.rfft(x)
    weights = np.full(spectrum.size, 2.0)
    weights[0] = 1.0
    if x.size % 2 == 0:
        weights[-1] = 1.0
    gain = a_weighting_gain(np.fft.rfftfreq(x.size, 1.0 / sample_rate_hz))
    return float(np.sqrt(np.sum(weights * np.abs(spectrum * gain) ** 2)) / x.size)


LOOP_SAMPLES = 2**20
"""Length of a sensor's synthetic noise loop (65.5 s at 16 kHz): a long recording is made of
randomly rolled copies, so noise costs one loop per sensor, not one draw per sample."""


def looped(pick: Callable[[], NDArray], n_samples: int) -> NDArray[np.float32]:
    """n_samples made of successive pieces from `pick()` (the last one cut)."""
    out = np.empty(n_samples, dtype=np.float32)
    filled = 0
    while filled < n_samples:
        piece = pick()
        take = min(piece.size, n_samples - filled)
        out[filled : filled + take] = piece[:take]
        filled += take
    return out


MAX_BACKGROUND_CREST_DB = 8.0
"""Largest loudest-10-ms-over-RMS ratio of a background recording, dB (steady sound only)."""


def crest_db(x: FloatArray, sample_rate_hz: int) -> float:
    """Loudest 10 ms RMS over the whole signal's RMS, dB: ≈ 0–6 dB for steady noise, far more
    for a signal with a knock or a bang."""
    rms = float(np.sqrt(np.mean(np.asarray(x, dtype=float) ** 2)))
    return float(20.0 * np.log10(loudest_rms(x, sample_rate_hz) / rms)) if rms > 0 else np.inf


@dataclass
class BackgroundRenderer:
    """Makes each sensor's background: synthetic street noise or real recordings looped, plus
    the microphone's white self-noise."""

    level_dba: float
    self_noise_db_spl: float
    sample_rate_hz: int
    recordings: list[NDArray[np.float32]] = field(default_factory=list)

    def street_noise_loop(self, rng: np.random.Generator) -> NDArray[np.float32]:
        """`LOOP_SAMPLES` of street noise (`street_noise_filter`) at unit A-weighted RMS."""
        sos = street_noise_filter(self.sample_rate_hz)
        white = rng.standard_normal(LOOP_SAMPLES, dtype=np.float32)
        gain = 1.0 / a_weighted_rms_of_filtered_white(sos, self.sample_rate_hz)
        return (signal.sosfilt(sos, white) * gain).astype(np.float32)

    def render(self, n_samples: int, rng: np.random.Generator) -> NDArray[np.float32]:
        """n_samples of pressure (Pa): the background at `level_dba` dB(A) (recordings in random
        order, or rolled copies of a street-noise loop) plus self-noise (rolled white loop)."""
        if self.recordings:
            clips = self.recordings

            def pick() -> NDArray:
                return clips[rng.integers(len(clips))]
        else:
            loop = self.street_noise_loop(rng)

            def pick() -> NDArray:
                return np.roll(loop, rng.integers(loop.size))

        out = looped(pick, n_samples)
        out *= db_spl_to_pa(self.level_dba)
        white = rng.standard_normal(LOOP_SAMPLES, dtype=np.float32)
        white *= db_spl_to_pa(self.self_noise_db_spl)
        out += looped(lambda: np.roll(white, rng.integers(white.size)), n_samples)
        return out

    @classmethod
    def from_recordings(
        cls,
        settings: Background,
        microphone: Microphone,
        paths: list[Path],
        limit: int = 48,
    ) -> BackgroundRenderer:
        """A background looping up to `limit` steady recordings (loudest 10 ms within
        `MAX_BACKGROUND_CREST_DB` of the clip's RMS: a knock or a bang in a loop would play at
        every sensor, at random times, and look like events), each normalized to unit A-weighted
        RMS with 10 ms fades at both ends (so joins do not click)."""
        fs = microphone.sample_rate_hz
        clips: list[NDArray[np.float32]] = []
        fade = round(0.01 * fs)
        for path in paths:
            if len(clips) == limit:
                break
            try:
                clip = read_mono(path, fs)
            except (RuntimeError, OSError, ValueError) as error:
                log.warning("background: skipping recording %s: %s", path, error)
                continue
            if clip.size <= 2 * fade or crest_db(clip, fs) > MAX_BACKGROUND_CREST_DB:
                continue
            rms = a_weighted_rms(clip, fs)
            if rms > 0.0:
                clip = clip / rms
                clip[:fade] *= np.linspace(0.0, 1.0, fade)
                clip[-fade:] *= np.linspace(1.0, 0.0, fade)
                clips.append(clip.astype(np.float32))
        log.info("background: %d steady recordings of %d looped", len(clips), len(paths))
        return cls(settings.level_dba, microphone.self_noise_db_spl, fs, clips)


def background_for(scenario: Scenario, audio_dir: Path | None) -> BackgroundRenderer:
    """Synthetic street noise, or looped real recordings from `background.recordings_dir` or
    from the `background.audio_folders` of `audio_dir`."""
    settings, microphone = scenario.background, scenario.microphone
    if settings.recordings_dir is not None:
        paths = sorted(
            p for p in settings.recordings_dir.iterdir() if p.suffix.lower() in (".flac", ".wav")
        )
    elif audio_dir is not None:
        paths = [p for folder in settings.audio_folders for p in recordings_for(folder, audio_dir)]
    else:
        paths = []
    if not paths:
        return BackgroundRenderer(
            settings.level_dba, microphone.self_noise_db_spl, microphone.sample_rate_hz
        )
    return BackgroundRenderer.from_recordings(settings, microphone, paths)
