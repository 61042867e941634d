"""Impulsive evidence per analysis window: the rise of band energy over the running floor
measures a leading edge's height above the street, whatever the level, and a real gunshot heard
100 m away in real traffic stands out of the traffic around it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ouie.audio.io import read_audio
from ouie.learn.features import analysis_windows, mix_at_snr, propagated
from ouie.sensor.impulse import (
    ALIGN_LEAD_S,
    MAX_DB,
    grid_aligned_windows,
    impulse_features,
    strongest_edge,
)
from ouie.sensor.scoring import WINDOW_SAMPLES

RISE_HIGH, RISE_LOW, CREST_HIGH, CREST_LOW = range(4)


def test_a_burst_rises_over_white_noise_by_its_level_difference() -> None:
    """White noise at −50 dBFS and a 20 ms burst of noise 25 dB louder at 0.5 s: the high-band
    rise is ≈ 25 dB at any overall gain; steady noise alone rises by a few dB only."""
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(WINDOW_SAMPLES) * 10 ** (-50 / 20)
    burst = noise.copy()
    burst[8_000:8_320] *= 10 ** (25 / 20)
    for gain_db in (0.0, 30.0):
        gain = 10 ** (gain_db / 20)
        features = impulse_features(np.stack([noise * gain, burst * gain]))
        assert features[0, RISE_HIGH] < 7.0  # measured 4.9: 10 ms frames fluctuate
        assert 22.0 <= features[1, RISE_HIGH] <= 27.0
        assert 22.0 <= features[1, RISE_LOW] <= 29.0
        assert 20.0 <= features[1, CREST_HIGH] <= 27.0
    assert impulse_features(np.zeros((1, WINDOW_SAMPLES))).max() <= MAX_DB


def test_a_far_real_gunshot_stands_out_of_real_traffic(shared_audio_dir: Path) -> None:
    """A real gunshot rendered 100 m away (air absorption, ground reflection, T60 0.8 s) in a
    real traffic recording at 15 dB SNR: the window holding the shot rises ≥ 10 dB higher in
    2–7.5 kHz than any window of the traffic alone."""
    shot = read_audio(next((shared_audio_dir / "gunshot").glob("*")))
    traffic = read_audio(sorted((shared_audio_dir / "traffic").glob("*"))[1])  # no digital silence
    far = propagated(shot, np.random.default_rng(1), (100.0, 100.0), (0.8, 0.8), 0.0)
    far_power = float(np.max(np.convolve(far**2, np.ones(WINDOW_SAMPLES))) / WINDOW_SAMPLES)
    street = traffic[: 3 * WINDOW_SAMPLES]
    heard = mix_at_snr(np.concatenate([np.zeros(WINDOW_SAMPLES), far]), street, 15.0, far_power)
    shot_rise = impulse_features(analysis_windows(heard, 7_680))[:, RISE_HIGH].max()
    traffic_rise = impulse_features(analysis_windows(street, 7_680))[:, RISE_HIGH].max()
    assert shot_rise >= traffic_rise + 10.0


def test_a_long_batch_gives_each_window_its_own_figures() -> None:
    """Computed in chunks (memory), yet every window's evidence is its own."""
    windows = np.random.default_rng(2).standard_normal((130, WINDOW_SAMPLES)).astype(np.float32)
    windows[70, 5_000:5_160] *= 100.0
    together = impulse_features(windows)
    alone = np.concatenate([impulse_features(w[None]) for w in windows[[0, 63, 64, 70, 129]]])
    assert np.array_equal(together[[0, 63, 64, 70, 129]], alone)
    assert together[70, RISE_HIGH] > together[69, RISE_HIGH] + 20.0


def test_the_aligned_window_starts_just_before_the_strongest_edge_of_its_grid_window() -> None:
    """3 s of noise at −50 dBFS with a louder steady hum from 0.4 s (a slow rise) and a 20 ms
    burst 30 dB up at 1.9 s: the grid window that holds the burst finds the burst's edge
    (within a 10 ms frame, not the swell's) and its aligned window starts ALIGN_LEAD_S before
    it; a burst 50 ms in gives the first window an aligned window zero-padded in front instead
    of one that starts late."""
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(48_000) * 10 ** (-50 / 20)).astype(np.float32)
    noise[6_400:] *= np.minimum(1.0, np.arange(41_600) / 8_000) * 3 + 1  # slow swell
    onset = 30_400
    noise[onset : onset + 320] *= 10 ** (30 / 20)
    hop, lead = 7_680, round(ALIGN_LEAD_S * 16_000)
    windows = analysis_windows(noise, hop)
    holding = onset // hop  # window 3 starts 7,360 samples before the burst
    assert abs(holding * hop + strongest_edge(windows[holding]) - onset) <= 160
    aligned = grid_aligned_windows(windows, hop)
    assert aligned.shape == windows.shape
    start = onset - lead - (onset % 160)
    np.testing.assert_array_equal(aligned[holding], noise[start : start + WINDOW_SAMPLES])
    early = noise.copy()
    early[800:1_120] *= 10 ** (40 / 20)  # 50 ms in: less than the lead before it
    first = grid_aligned_windows(analysis_windows(early, hop), hop)[0]
    assert np.all(first[: lead - 800] == 0.0)
    np.testing.assert_array_equal(first[lead - 800 :], early[: WINDOW_SAMPLES - lead + 800])
