"""Live and file audio sources behind one streaming interface: blocks of 16 kHz mono float32,
each stamped with the UTC time (ns) of its first sample, exact to the sample within a run.

Within a run, block k starts at t0 + n_k · 10⁹ / 16 000 ns (n_k = samples before it), so
stamps never drift from the sample count; t0 comes from the file's configured start, or from
the wall clock when the first samples arrive (microphone, network stream).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ouie.audio.io import SAMPLE_RATE_HZ, read_audio, resample
from ouie.core.timebase import now_ns, sample_time_ns


@dataclass(frozen=True)
class AudioBlock:
    """Samples (16 kHz mono float32) and the UTC ns of the first one."""

    samples: np.ndarray
    start_ns: int


class AudioSource(Protocol):
    """Anything that yields stamped blocks until it ends (or forever)."""

    def blocks(self) -> Iterator[AudioBlock]: ...


class SampleClock:
    """Stamps consecutive blocks from a start instant and the running sample count."""

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.samples = 0

    def stamp(self, samples: np.ndarray) -> AudioBlock:
        block = AudioBlock(samples, sample_time_ns(self.start_ns, self.samples, SAMPLE_RATE_HZ))
        self.samples += len(samples)
        return block


class FileSource:
    """A file cut into blocks; optionally paced at real time (for demos and soak tests)."""

    def __init__(self, path: Path, start_ns: int | None, block_s: float, realtime: bool) -> None:
        self.path = path
        self.start_ns = start_ns
        self.block = round(block_s * SAMPLE_RATE_HZ)
        self.realtime = realtime

    def blocks(self) -> Iterator[AudioBlock]:
        samples = read_audio(self.path)
        clock = SampleClock(self.start_ns if self.start_ns is not None else now_ns())
        began = time.monotonic()
        for start in range(0, len(samples), self.block):
            if self.realtime:
                time.sleep(max(0.0, began + start / SAMPLE_RATE_HZ - time.monotonic()))
            yield clock.stamp(samples[start : start + self.block])


class MicrophoneSource:
    """A PortAudio input (sounddevice, imported here: PortAudio may be absent). The first
    block's time is the wall clock minus the input latency PortAudio reports."""

    def __init__(self, device: str | int | None, rate_hz: int, block_s: float) -> None:
        self.device = device
        self.rate_hz = rate_hz
        self.block = round(block_s * rate_hz)

    def blocks(self) -> Iterator[AudioBlock]:
        try:
            import sounddevice as sd
        except OSError as error:  # the PortAudio library is missing
            raise RuntimeError(f"microphone input needs PortAudio: {error}") from None
        chunks: queue.Queue[np.ndarray] = queue.Queue()

        def on_audio(indata: np.ndarray, frames: int, when: object, status: object) -> None:
            chunks.put(indata[:, 0].copy())

        with sd.InputStream(
            device=self.device,
            channels=1,
            samplerate=self.rate_hz,
            blocksize=self.block,
            dtype="float32",
            callback=on_audio,
        ) as stream:
            first = chunks.get()
            latency_ns = round(float(stream.latency) * 1e9)
            clock = SampleClock(now_ns() - latency_ns - round(len(first) / self.rate_hz * 1e9))
            chunk = first
            while True:
                yield clock.stamp(resample(chunk, self.rate_hz))
                chunk = chunks.get()


class NetworkStreamSource:
    """The audio track of a network stream (RTSP of an IP camera, HTTP, or anything FFmpeg
    opens) through PyAV, resampled to 16 kHz mono by FFmpeg. The first sample's time is the wall
    clock when it is decoded, less its presentation time; later blocks follow the sample count."""

    def __init__(self, url: str, block_s: float) -> None:
        self.url = url
        self.block = round(block_s * SAMPLE_RATE_HZ)

    def blocks(self) -> Iterator[AudioBlock]:
        import av

        options = {"rtsp_transport": "tcp"} if self.url.startswith("rtsp") else {}
        try:
            container = av.open(self.url, options=options, timeout=10.0)
        except av.error.FFmpegError as error:
            raise RuntimeError(f"cannot open {self.url}: {error}") from None
        with container:
            if not container.streams.audio:
                raise RuntimeError(f"{self.url}: no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE_HZ)
            clock: SampleClock | None = None
            pending = np.zeros(0, np.float32)
            for frame in container.decode(stream):
                if clock is None:
                    pts_ns = round(float(frame.time or 0.0) * 1e9)
                    clock = SampleClock(now_ns() - pts_ns)
                for mono in resampler.resample(frame):
                    pending = np.concatenate([pending, mono.to_ndarray().reshape(-1)])
                while len(pending) >= self.block:
                    yield clock.stamp(pending[: self.block])
                    pending = pending[self.block :]
            if clock is not None and len(pending):
                yield clock.stamp(pending)
