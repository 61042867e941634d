"""A streaming sensor reports an event as soon as it is confirmed (its `min_windows` windows
scored and, for a verified class, the verifier's yes), not when the event closes. One event gives
exactly one report, whose onset is the closed event's."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ouie.audio.io import SAMPLE_RATE_HZ, read_audio
from ouie.core.classes import EventClass
from ouie.core.report import EventReport
from ouie.core.timebase import iso_to_ns
from ouie.learn.onset_trials import loudest_power
from ouie.sensor.config import DetectorConfig
from ouie.sensor.pipeline import SensorPipeline
from ouie.sensor.scoring import WINDOW_SAMPLES
from tests.builders import ScriptedSiren

START_NS = iso_to_ns("2026-11-25T18:00:00Z")
NS_PER_SAMPLE = 62_500
BLOCK = round(0.1 * SAMPLE_RATE_HZ)


def stream_block_by_block(
    pipeline: SensorPipeline, samples: np.ndarray
) -> list[tuple[int, EventReport]]:
    """Feed BLOCK-sample blocks; each report with the number of samples fed when it came out."""
    stream = pipeline.stream("s-01")
    arrivals = []
    for start in range(0, len(samples), BLOCK):
        block = samples[start : start + BLOCK]
        fed = start + len(block)
        arrivals += [(fed, r) for r in stream.feed(block, START_NS + start * NS_PER_SAMPLE)]
    arrivals += [(len(samples), r) for r in stream.flush()]
    return arrivals


@pytest.fixture(scope="module")
def yamnet(yamnet_model_path: Path) -> SensorPipeline:
    return SensorPipeline(DetectorConfig(backend="yamnet", model_path=yamnet_model_path))


def gunshot_in_traffic(audio_dir: Path, name_prefix: str, snr_db: float) -> np.ndarray:
    """A real gunshot clip at 3 s into 10 s of a real traffic recording, at `snr_db` (loudest
    100 ms of the clip over the traffic's mean power)."""
    clip = read_audio(next((audio_dir / "gunshot").glob(f"{name_prefix}*")))
    traffic = read_audio(sorted((audio_dir / "traffic").glob("*"))[0]).astype(np.float64)
    n = 10 * SAMPLE_RATE_HZ
    background = np.tile(traffic, math.ceil(n / len(traffic)))[:n]
    gain = math.sqrt(loudest_power(clip) / np.mean(background**2) / 10 ** (snr_db / 10))
    scene = gain * background
    at = 3 * SAMPLE_RATE_HZ
    scene[at : at + len(clip)] += clip[: n - at]
    return scene.astype(np.float32)


def gunshot_clip_names(audio_dir: Path, count: int) -> list[str]:
    return [p.name[:-5] for p in sorted((audio_dir / "gunshot").glob("*"))[::40][:count]]


def test_a_real_gunshot_is_reported_with_the_block_that_completes_its_first_window(
    shared_audio_dir: Path, yamnet: SensorPipeline
) -> None:
    """No verifier ships (ouie-head/5): a gunshot is confirmed by its first window ≥ threshold,
    so its report comes with the block that completes that window, once per event. (With a
    verifier it would wait for the window that starts 0.1 s before the strongest edge:
    `tests/test_sensor_verifier.py` checks that on scripted scores.)"""
    assert yamnet.scorer.verifier is None
    checked = 0
    for name in gunshot_clip_names(shared_audio_dir, 6):
        scene = gunshot_in_traffic(shared_audio_dir, name, snr_db=20.0)
        closed = [e for e in yamnet.events(scene) if e.event_class == EventClass.GUNSHOT]
        if not closed:
            continue  # the head misses this one: latency is not what this test is about
        checked += 1
        arrivals = stream_block_by_block(yamnet, scene)
        gunshots = [(fed, r) for fed, r in arrivals if r.class_ == EventClass.GUNSHOT]
        assert len(gunshots) == len(closed), name  # one report per event, none when it ends
        fed, report = gunshots[0]
        event = closed[0]
        first_window_start = round(event.start_s * SAMPLE_RATE_HZ)
        first_window_end = first_window_start + WINDOW_SAMPLES
        assert fed - BLOCK < first_window_end <= fed, name
        assert report.onset_ns == START_NS + event.onset_sample * NS_PER_SAMPLE
        heard_s = (first_window_end - event.onset_sample) / SAMPLE_RATE_HZ
        assert heard_s - 1e-6 <= report.duration_s <= event.end_s - event.onset_s + 1e-6
    assert checked >= 2


def yamnet_hop(pipeline: SensorPipeline) -> int:
    return round(pipeline.config.hop_s * SAMPLE_RATE_HZ)


def test_a_two_window_class_is_reported_at_its_second_window_once() -> None:
    """Siren windows 1–3 (0.55, 0.35, 0.31 ≥ 0.6 × 0.5), closed by window 4; window 5 alone.
    With min_windows 2 the event is confirmed by window 2; the lone window is never reported."""
    hop = round(0.5 * SAMPLE_RATE_HZ)
    samples = np.zeros(hop * 12 + WINDOW_SAMPLES, np.float32)
    samples[::hop] = np.arange(len(samples[::hop]), dtype=np.float32)
    pipeline = SensorPipeline(DetectorConfig(hop_s=0.5), scorer=ScriptedSiren())
    arrivals = stream_block_by_block(pipeline, samples)
    assert len(arrivals) == 1
    fed, report = arrivals[0]
    second_window_end = 2 * hop + WINDOW_SAMPLES
    assert fed - BLOCK < second_window_end <= fed
    assert fed < 4 * hop + WINDOW_SAMPLES  # the closing window (4) was not heard yet
    assert report.duration_s == pytest.approx(
        (second_window_end - report_onset_sample(report)) / SAMPLE_RATE_HZ
    )
    (closed,) = pipeline.events(samples)
    assert closed.end_s == pytest.approx((3 * hop + WINDOW_SAMPLES) / SAMPLE_RATE_HZ)
    assert report.onset_ns == START_NS + closed.onset_sample * NS_PER_SAMPLE
    assert pipeline.reports(samples, START_NS, "s-01")[0].duration_s == report.duration_s


def report_onset_sample(report: EventReport) -> int:
    return (report.onset_ns - START_NS) // NS_PER_SAMPLE
