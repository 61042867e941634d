"""Reading audio: any format/rate/channels → 16 kHz mono float32; bad files → clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ouie.audio.io import SAMPLE_RATE_HZ, AudioReadError, read_audio


def tone(rate_hz: int, freq_hz: float, duration_s: float, channels: int = 1) -> np.ndarray:
    t = np.arange(round(rate_hz * duration_s)) / rate_hz
    mono = 0.5 * np.sin(2 * np.pi * freq_hz * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize(("rate_hz", "fmt"), [(44_100, "WAV"), (8_000, "FLAC"), (48_000, "OGG")])
def test_any_rate_and_format_becomes_16k_mono_with_the_tone_kept(
    tmp_path: Path, rate_hz: int, fmt: str
) -> None:
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(str(path), tone(rate_hz, 1000.0, 1.5, channels=2), rate_hz, format=fmt)
    samples = read_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 1.5 * SAMPLE_RATE_HZ) <= 2
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE_HZ / len(samples)
    assert abs(peak_hz - 1000.0) < 2.0
    assert 0.45 < np.abs(samples[2000:-2000]).max() < 0.55


def test_mp3_goes_through_pyav(tmp_path: Path) -> None:
    import av

    path = tmp_path / "tone.mp3"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libmp3lame", rate=22_050)
        stream.layout = "mono"  # type: ignore[union-attr]
        frame = av.AudioFrame.from_ndarray(
            tone(22_050, 440.0, 1.0).astype(np.float32)[None, :], format="fltp", layout="mono"
        )
        frame.sample_rate = 22_050
        for packet in stream.encode(frame):  # type: ignore[union-attr]
            container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    samples = read_audio(path)
    assert abs(len(samples) / SAMPLE_RATE_HZ - 1.0) < 0.1
    peak_hz = np.argmax(np.abs(np.fft.rfft(samples))) * SAMPLE_RATE_HZ / len(samples)
    assert abs(peak_hz - 440.0) < 3.0


def test_resampling_keeps_sample_timing(tmp_path: Path) -> None:
    """A click at 0.5 s in a 44.1 kHz file lands at sample 8000 at 16 kHz (± 1)."""
    rate_hz = 44_100
    samples = np.zeros(rate_hz, np.float32)
    samples[rate_hz // 2] = 0.9
    path = tmp_path / "click.wav"
    sf.write(str(path), samples, rate_hz)
    assert abs(int(np.argmax(np.abs(read_audio(path)))) - 8000) <= 1


def test_real_recordings_read_at_their_listed_length(shared_audio_dir: Path) -> None:
    import csv

    rows = list(csv.DictReader((shared_audio_dir / "labels.csv").open()))
    by_rate = {row["sample_rate"]: row for row in rows}  # one file per original rate
    for row in by_rate.values():
        samples = read_audio(shared_audio_dir / row["file"])
        assert abs(len(samples) / SAMPLE_RATE_HZ - float(row["duration_s"])) < 0.01, row["file"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"RIFF\x10\x00\x00\x00WAVEfmt ", "not readable as audio")],
)
def test_bad_files_raise_a_clear_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioReadError, match=reason) as error:
        read_audio(path)
    assert str(path) in str(error.value)


def test_truncated_real_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "cut.flac"
    sf.write(str(path), tone(16_000, 500.0, 1.0), 16_000)
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(AudioReadError):
        read_audio(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioReadError, match="no such file"):
        read_audio(tmp_path / "nope.wav")
