"""Frames of a camera's stream at the analysis rate: a video file or a network stream (RTSP,
HTTP, anything FFmpeg opens) decoded with PyAV, as the audio side reads a camera's sound.

Of the decoded frames, one is kept each 1/analysis_fps s of presentation time (the first at or
after t = k/analysis_fps); the others are decoded and dropped, since most codecs cannot skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


class VideoReadError(RuntimeError):
    """A video source that cannot be opened or holds no video; the message names it."""


@dataclass(frozen=True)
class Frame:
    """One analysed frame: its presentation time from the start of the stream, s, and its
    pixels (H × W × 3, BGR, uint8)."""

    t_s: float
    image: np.ndarray


def read_frames(source: str, analysis_fps: float) -> Iterator[Frame]:
    """The frames of `source` (a file path or a URL) at `analysis_fps` frames per second of
    video. Raises VideoReadError when the source cannot be opened or has no video track."""
    import av

    options = {"rtsp_transport": "tcp"} if source.startswith("rtsp") else {}
    try:
        container = av.open(source, options=options, timeout=10.0)
    except (av.error.FFmpegError, OSError) as error:
        raise VideoReadError(f"cannot open {source}: {error}") from None
    with container:
        if not container.streams.video:
            raise VideoReadError(f"{source}: no video track")
        stream = container.streams.video[0]
        step_s = 1.0 / analysis_fps
        next_s = 0.0
        first_s: float | None = None
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            if first_s is None:
                first_s = float(frame.time)
            t_s = float(frame.time) - first_s
            if t_s + 1e-6 < next_s:
                continue
            next_s += step_s * max(1, int((t_s - next_s) / step_s + 1e-6) + 1)
            yield Frame(t_s, frame.to_ndarray(format="bgr24"))
