"""From 16 kHz samples to events and `ouie.report/1` reports.

Windows of 0.975 s every `hop_s` are scored by the backend (YAMNet + head, or the built-in).
Per window, a speech-dominated window is silenced (speech is never a target) and, among the
alerting classes and fireworks, only the best-scoring class keeps its score (gunshot *or*
explosion, not both); siren and alarm are context and stand alone. Per class, hysteresis turns
window scores into events: an event opens when the score reaches the class threshold T and goes
on while it stays ≥ release_ratio · T; sustained classes must last `min_windows` windows.

An event is **confirmed** by the window that gives it `min_windows` windows (a gunshot: its
first window ≥ T), and **closed** by the first window below release_ratio · T. The report is
made at confirmation, not at the close: the onset lies inside the first windows, so it is picked
then (`ouie.sensor.onset`, once per event), and the sensor does not wait to hear past the end of
the sound (≥ one more hop, 0.48 s) before telling the central service. A report's `duration_s`,
`peak_dbfs` and `score` therefore cover the audio heard up to confirmation (for a gunshot, the
whole ≈ 1 s window that contains it). Closed events (`SensorPipeline.events`, `ouie detect`)
keep the same onset and span the whole event. One event gives one report and one closed event.

The same engine serves files (`SensorPipeline.events`/`reports`: one block then flush) and live
sources (`SensorPipeline.stream`: blocks stamped with the UTC ns of their first sample).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.core.classes import ALERTING_CLASSES, EventClass
from ouie.core.report import EventReport
from ouie.core.timebase import sample_time_ns
from ouie.sensor.config import DetectorConfig
from ouie.sensor.onset import LEAD_IN_S, PICKER_UNCERTAINTY_S, pick_onset
from ouie.sensor.scoring import EVENT_CLASSES, WINDOW_SAMPLES, WindowScorer, WindowScores

EXCLUSIVE_CLASSES = ALERTING_CLASSES | {EventClass.FIREWORKS}
"""Classes that compete per window: one sound is a gunshot or an explosion or fireworks..."""
MIN_PEAK_DBFS = -200.0


@dataclass(frozen=True)
class DetectedEvent:
    """One event, times in s from the first sample of the analysed audio. A closed event spans
    the whole event; a confirmed one (what a report says) ends, peaks and scores with the audio
    heard when it was confirmed."""

    event_class: EventClass
    score: float
    start_s: float
    end_s: float
    onset_s: float
    peak_dbfs: float
    onset_sample: int

    def as_dict(self) -> dict[str, object]:
        """The `ouie detect --json` fields (less `file`)."""
        return {
            "class": self.event_class.value,
            "score": round(self.score, 4),
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "onset_s": round(self.onset_s, 6),
            "peak_dbfs": round(self.peak_dbfs, 2),
        }


def gate_and_compete(scores: WindowScores, speech_gate: float) -> np.ndarray:
    """Class scores after the speech gate and the per-window competition.

    A window is silenced when speech ≥ speech_gate and speech ≥ every class score; among
    EXCLUSIVE_CLASSES only the row maximum survives."""
    class_scores = scores.class_scores.copy()
    speech_dominates = (scores.speech >= speech_gate) & (scores.speech >= class_scores.max(axis=1))
    class_scores[speech_dominates] = 0.0
    exclusive = [j for j, c in enumerate(EVENT_CLASSES) if c in EXCLUSIVE_CLASSES]
    block = class_scores[:, exclusive]
    keep = block == block.max(axis=1, keepdims=True)
    class_scores[:, exclusive] = np.where(keep, block, 0.0)
    return class_scores


@dataclass
class _OpenEvent:
    first_window: int
    last_window: int
    score: float
    confirmed: DetectedEvent | None = None
    """Set by the window that gives the event `min_windows` windows."""


class EventStream:
    """The incremental engine over one continuous run of samples (indices from its start)."""

    def __init__(self, scorer: WindowScorer, config: DetectorConfig) -> None:
        self.scorer = scorer
        self.config = config
        self.thresholds = {**scorer.default_thresholds, **config.thresholds}
        self.hop = round(config.hop_s * SAMPLE_RATE_HZ)
        self.max_event_windows = max(1, math.ceil(config.max_event_s * SAMPLE_RATE_HZ / self.hop))
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0
        self._n_samples = 0
        self._next_window = 0
        self._open: dict[EventClass, _OpenEvent] = {}
        self._confirmed: list[DetectedEvent] = []

    def feed(self, samples: np.ndarray) -> list[DetectedEvent]:
        """Append samples; return the events that closed (`pop_confirmed` gives those that were
        confirmed)."""
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        self._n_samples += len(samples)
        n_ready = (self._n_samples - WINDOW_SAMPLES) // self.hop + 1 - self._next_window
        events = self._score_windows(max(0, n_ready), pad=False)
        self._trim()
        return events

    def flush(self) -> list[DetectedEvent]:
        """Score the tail (zero-padded) and close every open event."""
        n_tail = max(0, math.ceil(self._n_samples / self.hop) - self._next_window)
        if self._next_window == 0 and self._n_samples > 0:
            n_tail = max(n_tail, 1)
        events = self._score_windows(n_tail, pad=True)
        for event_class, event in self._open.items():
            events += self._close_if_confirmed(event_class, event)
        self._open.clear()
        return sorted(events, key=lambda e: e.onset_s)

    def pop_confirmed(self) -> list[DetectedEvent]:
        """The events confirmed since the last call, by onset (each event appears once)."""
        confirmed = sorted(self._confirmed, key=lambda e: e.onset_s)
        self._confirmed.clear()
        return confirmed

    def _window(self, k: int) -> np.ndarray:
        start = k * self.hop - self._buffer_start
        window = self._buffer[start : start + WINDOW_SAMPLES]
        if len(window) < WINDOW_SAMPLES:
            window = np.pad(window, (0, WINDOW_SAMPLES - len(window)))
        return window

    def _score_windows(self, n_windows: int, pad: bool) -> list[DetectedEvent]:
        if n_windows == 0:
            return []
        first = self._next_window
        windows = np.stack([self._window(first + i) for i in range(n_windows)])
        scores = gate_and_compete(self.scorer.score(windows), self.config.speech_gate)
        events: list[DetectedEvent] = []
        for i in range(n_windows):
            events += self._update(first + i, scores[i])
        self._next_window += n_windows
        return events

    def _update(self, k: int, row: np.ndarray) -> list[DetectedEvent]:
        """Hysteresis for window k: open at ≥ T, continue at ≥ release·T, else close; an open
        event is confirmed once it has `min_windows` windows."""
        closed = []
        for j, event_class in enumerate(EVENT_CLASSES):
            threshold = self.thresholds[event_class]
            score = float(row[j])
            current = self._open.get(event_class)
            if current is not None:
                too_long = k - current.first_window >= self.max_event_windows
                if score >= self.config.release_ratio * threshold and not too_long:
                    current.last_window = k
                    current.score = max(current.score, score)
                    self._confirm_if_long_enough(event_class, current)
                    continue
                closed += self._close_if_confirmed(event_class, current)
                del self._open[event_class]
            if score >= threshold:
                self._open[event_class] = _OpenEvent(k, k, score)
                self._confirm_if_long_enough(event_class, self._open[event_class])
        return closed

    def _confirm_if_long_enough(self, event_class: EventClass, event: _OpenEvent) -> None:
        n_windows = event.last_window - event.first_window + 1
        if event.confirmed is None and n_windows >= self.config.min_windows.get(event_class, 1):
            event.confirmed = self._describe(event_class, event, onset=None)
            self._confirmed.append(event.confirmed)

    def _close_if_confirmed(
        self, event_class: EventClass, event: _OpenEvent
    ) -> list[DetectedEvent]:
        if event.confirmed is None:
            return []  # shorter than min_windows
        return [self._describe(event_class, event, onset=event.confirmed.onset_sample)]

    def _describe(
        self, event_class: EventClass, event: _OpenEvent, onset: int | None
    ) -> DetectedEvent:
        """The event over its windows so far; the onset is picked unless given."""
        span_start = event.first_window * self.hop
        span_end = min(event.last_window * self.hop + WINDOW_SAMPLES, self._n_samples)
        local_start = span_start - self._buffer_start
        local_end = span_end - self._buffer_start
        if onset is None:
            onset = self._buffer_start + pick_onset(
                self._buffer, local_start, local_end, event_class
            )
        peak = float(np.abs(self._buffer[max(0, local_start) : local_end]).max(initial=0.0))
        peak_dbfs = (
            max(MIN_PEAK_DBFS, min(0.0, 20 * math.log10(peak))) if peak > 0 else MIN_PEAK_DBFS
        )
        return DetectedEvent(
            event_class=event_class,
            score=min(1.0, event.score),
            start_s=span_start / SAMPLE_RATE_HZ,
            end_s=span_end / SAMPLE_RATE_HZ,
            onset_s=onset / SAMPLE_RATE_HZ,
            peak_dbfs=peak_dbfs,
            onset_sample=onset,
        )

    def _trim(self) -> None:
        """Keep only what open events and the next window still need (plus the lead-in)."""
        keep_from = self._next_window * self.hop
        if self._open:
            keep_from = min(keep_from, min(e.first_window for e in self._open.values()) * self.hop)
        keep_from -= round(LEAD_IN_S * SAMPLE_RATE_HZ)
        drop = keep_from - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop


class SensorStream:
    """A live stream of one sensor: feed blocks stamped with the UTC ns of their first sample,
    get reports. A gap or overlap in the stamps (more than half a sample off) closes the
    current run and starts a new one at the new stamp."""

    def __init__(self, pipeline: SensorPipeline, sensor_id: str, seq_start: int = 0) -> None:
        self.pipeline = pipeline
        self.sensor_id = sensor_id
        self.seq = seq_start
        self._engine: EventStream | None = None
        self._run_start_ns = 0
        self._run_samples = 0

    def feed(self, block: np.ndarray, start_ns: int) -> list[EventReport]:
        """Add a 16 kHz block whose first sample is at `start_ns` (UTC ns)."""
        reports: list[EventReport] = []
        expected_ns = sample_time_ns(self._run_start_ns, self._run_samples, SAMPLE_RATE_HZ)
        if self._engine is None or abs(start_ns - expected_ns) > 1e9 / SAMPLE_RATE_HZ / 2:
            reports += self.flush()
            self._engine = EventStream(self.pipeline.scorer, self.pipeline.config)
            self._run_start_ns = int(start_ns)
            self._run_samples = 0
        self._run_samples += len(block)
        self._engine.feed(block)  # closed events were reported when confirmed
        reports += self._to_reports(self._engine.pop_confirmed())
        return reports

    def flush(self) -> list[EventReport]:
        """Close the current run (end of the source)."""
        if self._engine is None:
            return []
        self._engine.flush()
        reports = self._to_reports(self._engine.pop_confirmed())
        self._engine = None
        return reports

    def _to_reports(self, events: list[DetectedEvent]) -> list[EventReport]:
        reports = []
        for event in events:
            reports.append(
                self.pipeline.report(event, self._run_start_ns, self.sensor_id, self.seq)
            )
            self.seq += 1
        return reports


class SensorPipeline:
    """The sensor's detection chain, built from a DetectorConfig (see `build_scorer`)."""

    def __init__(self, config: DetectorConfig, scorer: WindowScorer | None = None) -> None:
        from ouie.sensor.backends import build_scorer

        self.config = config
        self.scorer = scorer if scorer is not None else build_scorer(config)

    def events(self, samples_16k: np.ndarray) -> list[DetectedEvent]:
        """Closed events in a whole recording, times from its first sample."""
        engine = EventStream(self.scorer, self.config)
        events = engine.feed(samples_16k)
        return sorted(events + engine.flush(), key=lambda e: e.onset_s)

    def confirmed_events(self, samples_16k: np.ndarray) -> list[DetectedEvent]:
        """Events of a whole recording as they were confirmed (what the reports say)."""
        engine = EventStream(self.scorer, self.config)
        engine.feed(samples_16k)
        engine.flush()
        return engine.pop_confirmed()

    def report(self, event: DetectedEvent, start_ns: int, sensor_id: str, seq: int) -> EventReport:
        """The `ouie.report/1` of an event whose sample 0 was at `start_ns`; its duration is
        the event's as heard when it was confirmed (end_s − onset_s)."""
        picker_s = PICKER_UNCERTAINTY_S[event.event_class]
        return EventReport(
            sensor_id=sensor_id,
            seq=seq,
            class_=event.event_class,
            score=round(event.score, 4),
            onset_ns=sample_time_ns(start_ns, event.onset_sample, SAMPLE_RATE_HZ),
            onset_uncertainty_s=math.hypot(picker_s, self.config.clock_uncertainty_s),
            duration_s=max(0.0, event.end_s - event.onset_s),
            peak_dbfs=event.peak_dbfs,
            model=self.scorer.model_id,
        )

    def reports(
        self, samples_16k: np.ndarray, start_ns: int, sensor_id: str, seq_start: int = 0
    ) -> list[EventReport]:
        """Reports for a whole recording whose first sample was at `start_ns` (UTC ns): the same
        as a stream fed the recording would send."""
        events = self.confirmed_events(samples_16k)
        return [
            self.report(event, start_ns, sensor_id, seq_start + i) for i, event in enumerate(events)
        ]

    def stream(self, sensor_id: str, seq_start: int = 0) -> SensorStream:
        """A live stream (see SensorStream)."""
        return SensorStream(self, sensor_id, seq_start)
