"""The detection chain: windows → hysteresis → events with sample-accurate onsets → reports,
in one go or streamed block by block (same result)."""

from __future__ import annotations

import numpy as np
import pytest

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.core.classes import EventClass
from ouie.core.report import EventReport
from ouie.core.timebase import iso_to_ns
from ouie.sensor.config import DetectorConfig
from ouie.sensor.example import EXAMPLE_IMPULSE_S, EXAMPLE_SIREN_S, example_scene
from ouie.sensor.pipeline import SensorPipeline, gate_and_compete
from ouie.sensor.scoring import EVENT_CLASSES, WindowScores
from tests.builders import ScriptedSiren

START_NS = iso_to_ns("2026-11-25T18:00:00Z")


@pytest.fixture(scope="module")
def builtin() -> SensorPipeline:
    return SensorPipeline(DetectorConfig(backend="builtin"))


def test_builtin_finds_the_example_impulse_to_the_sample_and_the_siren(
    builtin: SensorPipeline,
) -> None:
    events = builtin.events(example_scene())
    impulses = [e for e in events if e.event_class == EventClass.GUNSHOT]
    sirens = [e for e in events if e.event_class == EventClass.SIREN]
    assert abs(impulses[0].onset_sample - EXAMPLE_IMPULSE_S * SAMPLE_RATE_HZ) <= 2
    assert len(sirens) == 1
    assert sirens[0].start_s <= EXAMPLE_SIREN_S[0] + 0.5
    assert sirens[0].end_s >= EXAMPLE_SIREN_S[1] - 0.5
    assert abs(sirens[0].onset_s - EXAMPLE_SIREN_S[0]) < 0.05
    assert -4.0 < impulses[0].peak_dbfs < -2.0  # burst peak 0.7 plus noise


def test_reports_carry_exact_utc_onsets_and_increasing_seq(builtin: SensorPipeline) -> None:
    samples = example_scene()
    events = builtin.events(samples)
    reports = builtin.reports(samples, START_NS, "s-01", seq_start=7)
    assert [r.seq for r in reports] == list(range(7, 7 + len(events)))
    for report, event in zip(reports, events, strict=True):
        assert report.onset_ns == START_NS + event.onset_sample * 62_500
        assert report.class_ == event.event_class
        assert report.model.name == "builtin/1"
        assert EventReport.from_json(report.to_json()) == report


@pytest.mark.parametrize("block_s", [0.1, 0.37, 2.0])
def test_streaming_in_blocks_gives_the_same_reports_as_one_pass(
    builtin: SensorPipeline, block_s: float
) -> None:
    samples = example_scene()
    whole = builtin.reports(samples, START_NS, "s-01")
    stream = builtin.stream("s-01")
    block = round(block_s * SAMPLE_RATE_HZ)
    streamed = []
    for start in range(0, len(samples), block):
        streamed += stream.feed(samples[start : start + block], START_NS + start * 62_500)
    streamed += stream.flush()
    assert len(whole) >= 2
    assert sorted((r.class_, r.onset_ns, r.score) for r in whole) == sorted(
        (r.class_, r.onset_ns, r.score) for r in streamed
    )
    assert sorted(r.seq for r in streamed) == list(range(len(whole)))


def test_a_gap_in_block_stamps_starts_a_new_run_at_the_new_time(builtin: SensorPipeline) -> None:
    samples = example_scene()
    stream = builtin.stream("s-01")
    half = len(samples) // 2
    later_ns = START_NS + 3_600 * 10**9
    reports = stream.feed(samples[:half], START_NS) + stream.feed(samples[half:], later_ns)
    reports += stream.flush()
    impulse = next(r for r in reports if r.class_ == EventClass.GUNSHOT)
    true_onset_ns = START_NS + round(EXAMPLE_IMPULSE_S * SAMPLE_RATE_HZ) * 62_500
    assert abs(impulse.onset_ns - true_onset_ns) <= 2 * 62_500  # two samples
    assert any(r.onset_ns > later_ns for r in reports)


def test_short_clip_is_scored_padded(builtin: SensorPipeline) -> None:
    samples = example_scene()[int(1.3 * SAMPLE_RATE_HZ) : int(1.8 * SAMPLE_RATE_HZ)]
    events = builtin.events(samples)
    assert [e.event_class for e in events] == [EventClass.GUNSHOT]
    assert abs(events[0].onset_s - 0.2) < 0.001


def test_speech_dominated_window_is_silenced_but_a_stronger_event_survives() -> None:
    scores = np.zeros((2, len(EVENT_CLASSES)), np.float32)
    gun, explosion = (
        EVENT_CLASSES.index(EventClass.GUNSHOT),
        EVENT_CLASSES.index(EventClass.EXPLOSION),
    )
    scores[:, gun] = [0.6, 0.9]
    scores[:, explosion] = [0.1, 0.5]
    gated = gate_and_compete(WindowScores(scores, np.array([0.8, 0.8], np.float32)), 0.5)
    assert gated[0].max() == 0.0  # speech 0.8 beats every class: silenced
    assert gated[1, gun] == pytest.approx(0.9)
    assert gated[1, explosion] == 0.0  # gunshot and explosion compete per window


def test_hysteresis_opens_at_threshold_and_releases_below_ratio() -> None:
    hop = round(0.5 * SAMPLE_RATE_HZ)
    samples = np.zeros(hop * 9 + 15_600, np.float32)
    samples[::hop] = np.arange(len(samples[::hop]), dtype=np.float32)  # window k starts with k
    config = DetectorConfig(backend="builtin", hop_s=0.5, release_ratio=0.6, min_windows={})
    events = SensorPipeline(config, scorer=ScriptedSiren()).events(samples)
    spans = [(e.start_s, round(e.end_s, 3)) for e in events]
    assert spans == [(0.5, 1.5 + 0.975), (2.5, 2.5 + 0.975)]
    # a siren must last two windows by default: the lone window at 2.5 s raises nothing
    default = SensorPipeline(DetectorConfig(hop_s=0.5, release_ratio=0.6), scorer=ScriptedSiren())
    assert [(e.start_s, round(e.end_s, 3)) for e in default.events(samples)] == [(0.5, 2.475)]
