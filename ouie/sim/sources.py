"""Source signals: a built-in synthetic generator per ouie class and per distractor, real
recordings picked from a folder-per-class audio directory, and the level convention.

Level convention: a source signal is scaled so that its **loudest 10 ms RMS** is 1; multiplied by
`db_spl_to_pa(L)` it is the pressure in Pa at 1 m of a source of level L dB SPL. The 10 ms window
is short enough that an impulse (gunshot) and a sustained sound (siren) are rated alike.

The synthetic generators are physically motivated caricatures, not recordings: good enough to
exercise detection, association and localization with no data at all. `people_talking` is
speech-*like* babble (voiced syllables with random formants): it carries no words.
"""

from __future__ import annotations

from collections.abc import Callable
from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from numpy.typing import NDArray
from scipy import signal

FloatArray = NDArray[np.float64]

LEVEL_WINDOW_S = 0.010
"""Window of the loudest-RMS level convention, s."""

DEFAULT_LEVEL_DB_SPL: dict[str, float] = {
    "gunshot": 150.0,  # handgun muzzle blast, ~150-160 dB peak at 1 m
    "explosion": 160.0,  # small charge / gas cylinder
    "fireworks": 140.0,  # firecracker string
    "scream": 110.0,  # loud human scream
    "glass_break": 100.0,  # shop window / bottle smash
    "siren": 120.0,  # emergency vehicle siren
    "alarm": 105.0,  # car or building alarm
    "door_slam": 95.0,
    "car_horn": 110.0,
    "construction": 115.0,  # jackhammer
    "people_talking": 70.0,  # a loud group conversation
    "music": 95.0,  # amplified street music
    "traffic": 90.0,  # a passing car
}
"""Default source level per class/distractor: loudest 10 ms RMS at 1 m, dB SPL."""

DEFAULT_DURATION_S: dict[str, float] = {
    "siren": 15.0,
    "alarm": 5.0,
    "construction": 8.0,
    "people_talking": 6.0,
    "music": 10.0,
    "traffic": 8.0,
}
"""Default length of sustained synthetic sources, s (impulsive ones have their natural length)."""

RECORDING_FOLDERS: dict[str, tuple[str, ...]] = {
    "gunshot": ("gunshot",),
    "explosion": ("explosion",),
    "scream": ("scream",),
    "glass_break": ("glass_break",),
    "siren": ("siren",),
    "door_slam": ("doorslam",),
    "car_horn": ("car_horn",),
    "construction": ("jackhammer", "drilling"),
    "people_talking": ("speech",),
    "music": ("street_music",),
    "traffic": ("traffic",),
}
"""Class or distractor → folders of an audio directory (e.g. ../shared/audio) to draw from."""

MAX_RECORDING_S: dict[str, float] = {
    "gunshot": 1.5,
    "explosion": 4.0,
    "glass_break": 1.5,
    "scream": 3.0,
    "door_slam": 1.0,
}
"""Longest excerpt of a real recording per class (its own noise floor is scaled up with it), s;
others keep up to `DEFAULT_MAX_RECORDING_S`."""

DEFAULT_MAX_RECORDING_S = 20.0


def _time(duration_s: float, fs: int) -> FloatArray:
    return np.arange(round(duration_s * fs)) / fs


def _band(x: FloatArray, fs: int, low_hz: float, high_hz: float, order: int = 2) -> FloatArray:
    """Butterworth band-pass (low_hz ≤ 0 → low-pass), clamped below Nyquist."""
    high_hz = min(high_hz, 0.45 * fs)
    if low_hz <= 0:
        sos = signal.butter(order, high_hz, "lowpass", fs=fs, output="sos")
    else:
        sos = signal.butter(order, [low_hz, high_hz], "bandpass", fs=fs, output="sos")
    return np.asarray(signal.sosfilt(sos, x), dtype=float)


def _friedlander(fs: int, positive_s: float, length_s: float, decay: float = 1.8) -> FloatArray:
    """Friedlander blast wave p(t) = (1 − t/T)·exp(−b·t/T), t ≥ 0: a positive phase of length T
    then a weaker, longer negative phase (muzzle blasts and explosions)."""
    t = _time(length_s, fs)
    return (1.0 - t / positive_s) * np.exp(-decay * t / positive_s)


def _decaying_noise(
    rng: np.random.Generator,
    fs: int,
    length_s: float,
    decay_s: float,
    low_hz: float,
    high_hz: float,
) -> FloatArray:
    """Band-limited noise with an exponential envelope exp(−t/τ) (reverberant tails, rumbles)."""
    t = _time(length_s, fs)
    return _band(rng.standard_normal(t.size), fs, low_hz, high_hz) * np.exp(-t / decay_s)


def _harmonic_tone(f0_hz: FloatArray, fs: int, amplitudes: list[float] | FloatArray) -> FloatArray:
    """Sum of harmonics k·f0(t) with the given amplitudes (phase = 2π·∫f0 dt), each kept below
    0.45·fs."""
    phase = 2.0 * np.pi * np.cumsum(f0_hz) / fs
    out = np.zeros_like(phase)
    for k, amplitude in enumerate(amplitudes, start=1):
        audible = k * f0_hz < 0.45 * fs
        out += amplitude * np.sin(k * phase) * audible
    return out


def _envelope(n: int, fs: int, attack_s: float, release_s: float) -> FloatArray:
    """Linear attack, flat sustain, linear release, over n samples."""
    env = np.ones(n)
    a, r = min(round(attack_s * fs), n), min(round(release_s * fs), n)
    env[:a] = np.linspace(0.0, 1.0, a)
    if r:
        env[n - r :] *= np.linspace(1.0, 0.0, r)
    return env


def _gunshot(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """Muzzle blast (Friedlander, T ≈ 1–2.5 ms) plus a reverberant street tail (τ ≈ 60 ms)."""
    blast = _friedlander(fs, rng.uniform(0.001, 0.0025), 0.6)
    tail = _decaying_noise(rng, fs, 0.6, rng.uniform(0.04, 0.09), 200.0, 4000.0)
    return blast + 0.08 * tail / np.max(np.abs(tail))


def _explosion(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """Blast wave (Friedlander, T ≈ 10–30 ms) plus a low rumble (< 300 Hz, τ ≈ 0.5 s)."""
    blast = _friedlander(fs, rng.uniform(0.010, 0.030), 2.5)
    rumble = _decaying_noise(rng, fs, 2.5, rng.uniform(0.3, 0.7), 0.0, 300.0)
    return blast + 0.3 * rumble / np.max(np.abs(rumble))


def _fireworks(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """A firecracker string: 8–20 sharp cracks (Friedlander, T ≈ 0.3–0.8 ms) at Poisson
    intervals (mean 0.12 s), random strengths."""
    times_s = np.cumsum(rng.exponential(0.12, rng.integers(8, 21)))
    out = np.zeros(round((times_s[-1] + 0.3) * fs))
    for start_s in times_s:
        crack = _friedlander(fs, rng.uniform(0.0003, 0.0008), 0.05) * rng.uniform(0.4, 1.0)
        crack += 0.05 * _decaying_noise(rng, fs, 0.05, 0.01, 1000.0, 8000.0)
        i = round(start_s * fs)
        out[i : i + crack.size] += crack[: out.size - i]
    return out


def _scream(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """A harmonic voice (f0 rising from ≈ 550 to ≈ 900 Hz and falling, 6 Hz vibrato, 1/k
    harmonics) through two broad formants, with breath noise; 0.8–2 s."""
    t = _time(duration_s or rng.uniform(0.8, 2.0), fs)
    peak_hz = rng.uniform(750.0, 1100.0)
    f0 = 550.0 + (peak_hz - 550.0) * np.sqrt(np.clip(np.sin(np.pi * t / t[-1]), 0.0, None))
    f0 *= (
        1.0
        + 0.03 * np.sin(2 * np.pi * 6.0 * t)
        + 0.01 * rng.standard_normal(t.size).cumsum() / (np.sqrt(t.size))
    )
    voice = _harmonic_tone(f0, fs, [1.0 / k for k in range(1, 12)])
    voice = _band(voice, fs, 700.0, 3500.0) + 0.3 * _band(voice, fs, 2500.0, 4000.0)
    breath = 0.05 * _band(rng.standard_normal(t.size), fs, 1500.0, 6000.0)
    return (voice + breath) * _envelope(t.size, fs, 0.05, 0.2)


def _glass_break(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """An impact crash (high-passed noise, τ ≈ 40 ms) and 20–40 ringing shards: sinusoids of
    2–9 kHz starting within ≈ 0.3 s, each decaying with τ ≈ 20–150 ms."""
    t = _time(1.0, fs)
    out = _decaying_noise(rng, fs, 1.0, 0.04, 1000.0, 9000.0)
    out /= np.max(np.abs(out))
    for _ in range(rng.integers(20, 41)):
        start_s = rng.exponential(0.08)
        lag = np.clip(t - start_s, 0.0, None)
        shard = np.sin(2 * np.pi * rng.uniform(2000.0, 9000.0) * lag)
        out += (
            rng.uniform(0.1, 0.5) * shard * np.exp(-lag / rng.uniform(0.02, 0.15)) * (t >= start_s)
        )
    return out


def _siren(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """French two-tone siren ('deux tons'): 435 Hz and 488 Hz alternating every 0.6 s, odd
    harmonics (square-like), 20 ms fade-in and 50 ms fade-out."""
    t = _time(duration_s or DEFAULT_DURATION_S["siren"], fs)
    high = (t // 0.6) % 2 == 1
    f0 = np.where(high, 488.0, 435.0) * (1.0 + 0.002 * rng.standard_normal())
    tone = _harmonic_tone(f0, fs, [1.0, 0, 1 / 3, 0, 1 / 5, 0, 1 / 7, 0, 1 / 9])
    return tone * _envelope(t.size, fs, 0.02, 0.05)


def _alarm(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """A 3.1 kHz beeper: 0.25 s on, 0.25 s off."""
    t = _time(duration_s or DEFAULT_DURATION_S["alarm"], fs)
    f0 = np.full(t.size, rng.uniform(2800.0, 3300.0))
    return _harmonic_tone(f0, fs, [1.0, 0.2, 0.1]) * ((t // 0.25) % 2 == 0)


def _door_slam(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """A thump: decaying low resonance (80–150 Hz, τ ≈ 60 ms), a panel mode (400–800 Hz,
    τ ≈ 30 ms) and a latch click."""
    t = _time(0.5, fs)
    thump = np.sin(2 * np.pi * rng.uniform(80.0, 150.0) * t) * np.exp(-t / 0.06)
    panel = 0.5 * np.sin(2 * np.pi * rng.uniform(400.0, 800.0) * t) * np.exp(-t / 0.03)
    click = 0.3 * _decaying_noise(rng, fs, 0.5, 0.004, 2000.0, 7000.0)
    return (thump + panel) * _envelope(t.size, fs, 0.002, 0.0) + click / np.max(np.abs(click))


def _car_horn(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """Two horn tones a major third apart (≈ 400 and 500 Hz), sawtooth-like 1/k harmonics."""
    t = _time(duration_s or rng.uniform(0.3, 1.5), fs)
    base_hz = rng.uniform(380.0, 430.0)
    amplitudes = [1.0 / k for k in range(1, 16)]
    tone = _harmonic_tone(np.full(t.size, base_hz), fs, amplitudes)
    tone += _harmonic_tone(np.full(t.size, base_hz * 1.25), fs, amplitudes)
    return tone * _envelope(t.size, fs, 0.01, 0.03)


def _construction(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """A jackhammer: impacts at 15–25 Hz, each a broadband burst with a metallic ring
    (1.5–3 kHz, τ ≈ 15 ms), over a compressor hum (≈ 40 Hz harmonics)."""
    t = _time(duration_s or DEFAULT_DURATION_S["construction"], fs)
    rate_hz, ring_hz = rng.uniform(15.0, 25.0), rng.uniform(1500.0, 3000.0)
    lag = (t % (1.0 / rate_hz)) * (1.0 + 0.02 * rng.standard_normal())
    hits = np.exp(-lag / 0.015) * (
        0.6 * np.sin(2 * np.pi * ring_hz * lag) + _band(rng.standard_normal(t.size), fs, 300, 6000)
    )
    hum = 0.1 * _harmonic_tone(np.full(t.size, rng.uniform(35.0, 45.0)), fs, [1, 0.5, 0.3, 0.2])
    return (hits + hum) * _envelope(t.size, fs, 0.05, 0.1)


VOWEL_FORMANTS_HZ = ((730, 1090), (270, 2290), (530, 1840), (570, 840), (300, 870), (660, 1720))
"""First two formants of a few vowels (Peterson & Barney averages), Hz."""


def _people_talking(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """Speech-like babble of 3–5 talkers (no words): each talker utters voiced 'syllables'
    (150–300 ms, ≈ 4 per second, pauses between phrases) on a harmonic voice of f0 100–240 Hz
    with a drifting contour, shaped by a random vowel's two formants."""
    t = _time(duration_s or DEFAULT_DURATION_S["people_talking"], fs)
    out = np.zeros(t.size)
    for _ in range(rng.integers(3, 6)):
        f0 = rng.uniform(100.0, 240.0) * (1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.3, 1) * t))
        voice = _harmonic_tone(f0, fs, [1.0 / k for k in range(1, 20)])
        start_s = rng.uniform(0.0, 0.5)
        while start_s < t[-1]:
            length_s = rng.uniform(0.15, 0.3)
            i, j = round(start_s * fs), min(round((start_s + length_s) * fs), t.size)
            f1, f2 = VOWEL_FORMANTS_HZ[rng.integers(len(VOWEL_FORMANTS_HZ))]
            piece = voice[i:j]
            syllable = _band(piece, fs, 0.8 * f1, 1.2 * f1) + 0.5 * _band(
                piece, fs, 0.9 * f2, 1.1 * f2
            )
            out[i:j] += rng.uniform(0.5, 1.0) * syllable * np.hanning(j - i)
            start_s += length_s + (rng.uniform(0.4, 1.0) if rng.random() < 0.15 else 0.05)
    return out


def _music(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """Street music: plucked triads (decaying harmonic notes) on eighth notes at 90–130 bpm over
    a I–V–vi–IV progression, with a kick drum (falling 120→50 Hz sine) on each beat."""
    t = _time(duration_s or DEFAULT_DURATION_S["music"], fs)
    beat_s = 60.0 / rng.uniform(90.0, 130.0)
    root_hz = 220.0 * 2.0 ** (rng.integers(0, 12) / 12.0)
    progression = ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12))
    out = np.zeros(t.size)
    note_t = _time(4 * beat_s, fs)
    kick_t = _time(0.25, fs)
    kick = np.sin(2 * np.pi * np.cumsum(50.0 + 70.0 * np.exp(-kick_t / 0.03)) / fs)
    kick *= np.exp(-kick_t / 0.08)
    for step, start_s in enumerate(np.arange(0.0, t[-1], beat_s / 2)):
        i = round(start_s * fs)
        chord = progression[(step // 8) % len(progression)]
        semitone = chord[rng.integers(3)] + 12 * rng.integers(0, 2)
        f0 = np.full(note_t.size, root_hz * 2.0 ** (semitone / 12.0))
        note = _harmonic_tone(f0, fs, [1.0, 0.5, 0.3, 0.2, 0.1]) * np.exp(-note_t / 0.4)
        out[i : i + note.size] += 0.4 * note[: t.size - i]
        if step % 2 == 0:
            out[i : i + kick.size] += kick[: t.size - i]
    return out * _envelope(t.size, fs, 0.5, 0.5)


def _traffic(rng: np.random.Generator, fs: int, duration_s: float | None) -> FloatArray:
    """A car passing by: tyre/road noise (< 2 kHz) and engine harmonics (25–50 Hz firing rate),
    under a pass-by envelope 1/(1 + ((t − t₀)/τ)²), τ ≈ 1–2 s, loudest mid-way."""
    t = _time(duration_s or DEFAULT_DURATION_S["traffic"], fs)
    tyres = _band(rng.standard_normal(t.size), fs, 80.0, 2000.0)
    engine = _harmonic_tone(np.full(t.size, rng.uniform(25.0, 50.0)), fs, [1, 0.7, 0.5, 0.3, 0.2])
    passby = 1.0 / (1.0 + ((t - t[-1] / 2) / rng.uniform(1.0, 2.0)) ** 2)
    return (tyres / np.std(tyres) + 0.5 * engine) * passby


GENERATORS: dict[str, Callable[[np.random.Generator, int, float | None], FloatArray]] = {
    "gunshot": _gunshot,
    "explosion": _explosion,
    "fireworks": _fireworks,
    "scream": _scream,
    "glass_break": _glass_break,
    "siren": _siren,
    "alarm": _alarm,
    "door_slam": _door_slam,
    "car_horn": _car_horn,
    "construction": _construction,
    "people_talking": _people_talking,
    "music": _music,
    "traffic": _traffic,
}
"""Built-in generator per ouie class and per distractor."""

SOURCE_NAMES: tuple[str, ...] = tuple(GENERATORS)
"""Every class or distractor a scenario event may name."""


def loudest_rms(x: FloatArray, sample_rate_hz: int, window_s: float = LEVEL_WINDOW_S) -> float:
    """Largest RMS over any window of `window_s`: max_n sqrt(mean(x[n : n+W]²)), via a cumulative
    sum of x² (the whole signal when shorter than the window)."""
    w = max(1, min(round(window_s * sample_rate_hz), x.size))
    energy = np.concatenate([[0.0], np.cumsum(np.asarray(x, dtype=float) ** 2)])
    return float(np.sqrt(max(np.max(energy[w:] - energy[:-w]) / w, 0.0)))


def normalize_level(x: FloatArray, sample_rate_hz: int) -> FloatArray:
    """Scale so that the loudest 10 ms RMS is 1 (the source-level convention)."""
    if not np.all(np.isfinite(x)):
        raise ValueError("source signal has non-finite samples")
    rms = loudest_rms(x, sample_rate_hz)
    if rms <= 0.0:
        raise ValueError("source signal is silent")
    return np.asarray(x / rms, dtype=float)


def synthesize(
    class_name: str,
    sample_rate_hz: int,
    rng: np.random.Generator,
    duration_s: float | None = None,
) -> FloatArray:
    """A synthetic signal of an ouie class or distractor (see `SOURCE_NAMES`), starting at its
    onset (sample 0) and normalized to a loudest 10 ms RMS of 1. `duration_s` sets the length of
    sustained sources (siren, traffic, ...; default `DEFAULT_DURATION_S`)."""
    try:
        generator = GENERATORS[class_name]
    except KeyError:
        raise ValueError(
            f"no synthetic source {class_name!r}; known: {', '.join(SOURCE_NAMES)}"
        ) from None
    return normalize_level(generator(rng, sample_rate_hz, duration_s), sample_rate_hz)


def recordings_for(class_name: str, audio_dir: Path) -> list[Path]:
    """The recordings of a class or distractor in a folder-per-class audio directory (sorted, so
    that a seeded pick is reproducible); empty when it has none."""
    folders = RECORDING_FOLDERS.get(class_name, (class_name,))
    return sorted(
        path
        for folder in folders
        for path in (audio_dir / folder).glob("*")
        if path.suffix.lower() in (".flac", ".wav", ".ogg")
    )


def read_mono(path: Path, sample_rate_hz: int) -> FloatArray:
    """A sound file as mono float at `sample_rate_hz` (channels averaged; polyphase resampling)."""
    audio, rate = soundfile.read(path, dtype="float64", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate_hz:
        g = gcd(int(rate), sample_rate_hz)
        mono = signal.resample_poly(mono, sample_rate_hz // g, int(rate) // g)
    return np.asarray(mono, dtype=float)


def onset_index(x: FloatArray, sample_rate_hz: int, threshold_db: float = -30.0) -> int:
    """First sample whose 1 ms RMS envelope comes within `threshold_db` of the envelope's peak."""
    w = max(1, round(0.001 * sample_rate_hz))
    envelope = np.sqrt(np.convolve(x**2, np.ones(w) / w, mode="same"))
    return int(np.argmax(envelope >= envelope.max() * 10.0 ** (threshold_db / 20.0)))


def recording_source(class_name: str, path: Path, sample_rate_hz: int) -> FloatArray:
    """A real recording made into a source signal: resampled, trimmed to start at its onset
    (`onset_index`), cut to the class's `MAX_RECORDING_S` with a 50 ms fade-out, and normalized
    to a loudest 10 ms RMS of 1."""
    x = read_mono(path, sample_rate_hz)
    x = x[onset_index(x, sample_rate_hz) :]
    x = x[: round(MAX_RECORDING_S.get(class_name, DEFAULT_MAX_RECORDING_S) * sample_rate_hz)]
    fade = min(x.size, round(0.05 * sample_rate_hz))
    x[x.size - fade :] *= np.linspace(1.0, 0.0, fade)
    return normalize_level(x, sample_rate_hz)
