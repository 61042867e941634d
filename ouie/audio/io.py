"""Reading audio files as 16 kHz mono float32, whatever their format, rate and channel count.

soundfile (libsndfile) reads WAV/FLAC/OGG exactly; anything else (MP3, AAC, video containers...)
goes through PyAV (FFmpeg). Channels are averaged; the rate is converted with a polyphase
resampler (`scipy.signal.resample_poly`, Kaiser-windowed FIR), which keeps sample timing exact:
output sample k sits at input time k / 16 000 s.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SAMPLE_RATE_HZ = 16_000
"""The one rate every detector and onset picker works at."""


class AudioReadError(Exception):
    """A file that cannot be used as audio; the message names the file and the reason."""


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array; a 1-D array is returned as is."""
    return samples if samples.ndim == 1 else samples.mean(axis=1)


def resample(samples: np.ndarray, rate_hz: int, target_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Polyphase resampling by the reduced ratio up/down = target/rate (anti-aliased FIR)."""
    if rate_hz == target_rate_hz:
        return samples.astype(np.float32, copy=False)
    ratio = Fraction(target_rate_hz, int(rate_hz))
    return resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int]:
    samples, rate_hz = sf.read(str(path), dtype="float32", always_2d=False)
    return to_mono(samples), int(rate_hz)


def _read_with_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av  # FFmpeg: heavy, only for the formats libsndfile cannot read

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise AudioReadError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono")
        chunks = []
        for frame in container.decode(stream):
            for mono in resampler.resample(frame):
                chunks.append(mono.to_ndarray().reshape(-1))
        rate_hz = int(stream.rate or stream.codec_context.sample_rate)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return samples, rate_hz


def read_audio(path: str | Path) -> np.ndarray:
    """Read any audio file as float32 mono at 16 kHz, in [-1, 1].

    Raises AudioReadError (naming the file) for a missing, unreadable, truncated or empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioReadError(f"{path}: empty file (0 bytes)")
    try:
        samples, rate_hz = _read_with_soundfile(path)
    except (sf.LibsndfileError, RuntimeError) as sf_error:
        try:
            samples, rate_hz = _read_with_pyav(path)
        except AudioReadError:
            raise
        except Exception as av_error:
            raise AudioReadError(
                f"{path}: not readable as audio ({sf_error}; FFmpeg: {av_error})"
            ) from None
    if samples.size == 0:
        raise AudioReadError(f"{path}: contains no audio samples (truncated or empty)")
    if not np.all(np.isfinite(samples)):
        raise AudioReadError(f"{path}: contains NaN or infinite samples")
    return resample(samples, rate_hz)
