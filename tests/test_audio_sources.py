"""Live sources behind the streaming interface: the RTSP audio track of a (stand-in) IP camera
and a microphone, each giving 16 kHz mono blocks stamped exactly by the sample count."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import hilbert

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.audio.sources import AudioBlock, MicrophoneSource, NetworkStreamSource
from ouie.core.timebase import now_ns

SYSTEM_PYTHON = "/usr/bin/python3"
CAMERA = Path(__file__).with_name("rtsp_camera.py")
TONE_START_S = 1.0


def consecutive_stamps(blocks: list[AudioBlock]) -> None:
    """Block k starts at t0 + n_k · 10⁹ / 16 000 ns, n_k the samples before it (to the ns)."""
    samples_before = np.cumsum([0] + [len(b.samples) for b in blocks[:-1]])
    expected = [blocks[0].start_ns + round(n * 1e9 / SAMPLE_RATE_HZ) for n in samples_before]
    assert [b.start_ns for b in blocks] == expected


def tone_burst_wav(path: Path, rate_hz: int = 16_000, duration_s: float = 3.0) -> None:
    """Quiet noise with a 1 kHz tone from TONE_START_S to TONE_START_S + 0.5 s."""
    t = np.arange(round(duration_s * rate_hz)) / rate_hz
    rng = np.random.default_rng(0)
    signal = 0.003 * rng.standard_normal(len(t))
    burst = (t >= TONE_START_S) & (t < TONE_START_S + 0.5)
    signal[burst] += 0.5 * np.sin(2 * np.pi * 1000.0 * t[burst])
    sf.write(path, signal.astype(np.float32), rate_hz, subtype="PCM_16")


def rise_s(samples: np.ndarray) -> float:
    """First instant the envelope reaches half its peak, s."""
    envelope = np.abs(hilbert(samples))
    return float(np.argmax(envelope >= 0.5 * envelope.max()) / SAMPLE_RATE_HZ)


def gstreamer_rtsp_missing() -> str | None:
    """Why the stand-in camera cannot run here, or None."""
    probe = (
        "import gi; gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst; Gst.init(None); "
        "assert Gst.ElementFactory.find('rtppcmupay') and Gst.ElementFactory.find('wavparse')"
    )
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", probe], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return (
            "GStreamer's RTSP server is not installed (scripts/system-deps.sh installs "
            "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good)"
        )
    return None


@pytest.fixture
def rtsp_camera(tmp_path: Path) -> Iterator[str]:
    """rtsp://127.0.0.1:PORT/audio serving the tone burst as G.711 μ-law at 8 kHz."""
    missing = gstreamer_rtsp_missing()
    if missing:
        pytest.skip(missing)
    wav = tmp_path / "camera.wav"
    tone_burst_wav(wav)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [SYSTEM_PYTHON, str(CAMERA), str(port), str(wav)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield f"rtsp://127.0.0.1:{port}/audio"
    finally:
        server.kill()
        server.wait()


def test_rtsp_audio_track_of_a_camera_arrives_at_16k_with_exact_stamps(rtsp_camera: str) -> None:
    before_ns = now_ns()
    blocks = list(NetworkStreamSource(rtsp_camera, block_s=0.5).blocks())
    samples = np.concatenate([b.samples for b in blocks])
    assert samples.dtype == np.float32
    assert abs(len(samples) / SAMPLE_RATE_HZ - 3.0) < 0.1  # the whole file, at 16 kHz
    assert all(len(b.samples) == SAMPLE_RATE_HZ // 2 for b in blocks[:-1])
    consecutive_stamps(blocks)
    assert 0 <= blocks[0].start_ns - before_ns < 5 * 10**9  # wall clock when it was decoded
    # G.711 at 8 kHz, resampled: the burst is where the file has it, within 5 ms.
    assert abs(rise_s(samples) - TONE_START_S) < 0.005
    spectrum = np.abs(np.fft.rfft(samples[SAMPLE_RATE_HZ : SAMPLE_RATE_HZ * 3 // 2]))
    assert abs(np.argmax(spectrum) * 2 - 1000) <= 4  # 0.5 s of samples: 2 Hz per bin


def test_an_unreachable_stream_says_which_url(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    url = f"rtsp://127.0.0.1:{port}/audio"
    with pytest.raises(RuntimeError, match=f"cannot open {url}"):
        next(iter(NetworkStreamSource(url, block_s=0.5).blocks()))


class FakeInputStream:
    """sounddevice.InputStream's shape: calls back with 48 kHz blocks from a thread."""

    latency = 0.02
    signal: np.ndarray = np.zeros(0, np.float32)

    def __init__(self, *, samplerate: int, blocksize: int, callback, **_: object) -> None:  # type: ignore[no-untyped-def]
        self.blocksize = blocksize
        self.callback = callback
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        for start in range(0, len(self.signal), self.blocksize):
            chunk = self.signal[start : start + self.blocksize]
            self.callback(chunk[:, None], len(chunk), None, None)

    def __enter__(self) -> FakeInputStream:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        return None


def test_microphone_blocks_are_resampled_to_16k_and_stamped_from_the_first_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rate_hz = 48_000
    t = np.arange(rate_hz * 2) / rate_hz
    FakeInputStream.signal = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    monkeypatch.setitem(
        sys.modules, "sounddevice", types.SimpleNamespace(InputStream=FakeInputStream)
    )
    before_ns = now_ns()
    stream = MicrophoneSource(device=None, rate_hz=rate_hz, block_s=0.25).blocks()
    blocks = [next(stream) for _ in range(8)]  # 2 s
    assert all(len(b.samples) == SAMPLE_RATE_HZ // 4 for b in blocks)
    consecutive_stamps(blocks)
    # The first sample was heard one block and the input latency before it was delivered.
    assert blocks[0].start_ns <= before_ns + 10**9 and blocks[0].start_ns >= before_ns - 10**9
    samples = np.concatenate([b.samples for b in blocks])
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) / 2.0 - 440.0) <= 0.5  # 2 s: 0.5 Hz per bin
