"""From 16 kHz samples to events and `ouie.report/2` reports.

Windows of 0.975 s every `hop_s` are scored by the backend (YAMNet + head, or the built-in).
Per window, a speech-dominated window is silenced (speech is never a target) and, among the
alerting classes and fireworks, only the best-scoring class keeps its score (gunshot *or*
explosion, not both); siren and alarm are context and stand alone. Per class, hysteresis turns
window scores into events: an event opens when the score reaches the class threshold T and goes
on while it stays ≥ release_ratio · T; sustained classes must last `min_windows` windows.

An event is **confirmed** by the window that gives it `min_windows` windows (a gunshot: its
first window ≥ T), and **closed** by the first window below release_ratio · T. With a verifier
(YAMNet + head backends), gunshot, explosion and glass_break are first **candidates** (window score
≥ `candidate_threshold`) and are confirmed only when the verifier, shown the window that starts
0.1 s before the candidate's strongest leading edge, gives the class ≥ T: up to 0.875 s after the
candidate's first window (see `EventStream`). The report is
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
from ouie.sensor.impulse import aligned_start
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
    """The best window score; for a verified class, the verifier's score once it has spoken."""
    confirmed: DetectedEvent | None = None
    """Set when the event is confirmed: `min_windows` windows and, for a verified class, the
    verifier's yes."""
    aligned_start: int | None = None
    """Verified classes: first sample of the window the verifier looks at."""
    verdict: float | None = None
    """Verified classes: the verifier's score for the class (None: not heard yet)."""


class EventStream:
    """The incremental engine over one continuous run of samples (indices from its start).

    With a verifier (`WindowScorer.verifier`), a class it decides opens a **candidate** at
    `DetectorConfig.candidate_threshold` instead of its threshold T. The candidate's first window
    gives its strongest leading edge (`impulse.strongest_edge`); once the audio up to
    edge − ALIGN_LEAD_S + 0.975 s has arrived, the verifier scores that aligned window and the
    candidate is confirmed if it gives the class ≥ T (its score becomes the event's), else it is
    dropped and a later window may raise a new candidate. Candidates that end before the
    verifier has spoken wait for it. Windows and verifications are processed in the order their
    audio ends (a window first on a tie), so the result does not depend on block boundaries."""

    def __init__(self, scorer: WindowScorer, config: DetectorConfig) -> None:
        self.scorer = scorer
        self.config = config
        self.verifier = scorer.verifier
        self.thresholds = {
            **scorer.default_thresholds,
            **(self.verifier.thresholds if self.verifier else {}),
            **config.thresholds,
        }
        self.verified = frozenset(self.verifier.thresholds if self.verifier else ())
        self.hop = round(config.hop_s * SAMPLE_RATE_HZ)
        self.max_event_windows = max(1, math.ceil(config.max_event_s * SAMPLE_RATE_HZ / self.hop))
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0
        self._n_samples = 0
        self._next_window = 0
        self._open: dict[EventClass, _OpenEvent] = {}
        self._awaiting: list[tuple[EventClass, _OpenEvent]] = []
        """Candidates that ended (long enough) before their verifier spoke."""
        self._verdicts: dict[int, np.ndarray] = {}
        """Verifier scores by aligned window start (candidates of one sound share them)."""
        self._confirmed: list[DetectedEvent] = []

    def feed(self, samples: np.ndarray) -> list[DetectedEvent]:
        """Append samples; return the events that closed (`pop_confirmed` gives those that were
        confirmed)."""
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        self._n_samples += len(samples)
        n_ready = (self._n_samples - WINDOW_SAMPLES) // self.hop + 1 - self._next_window
        events = self._score_windows(max(0, n_ready))
        events += self._verify_due(self._n_samples, inclusive=True)
        self._trim()
        return events

    def flush(self) -> list[DetectedEvent]:
        """Score the tail (zero-padded), let the verifier speak on what is pending (zero-padded)
        and close every open event."""
        n_tail = max(0, math.ceil(self._n_samples / self.hop) - self._next_window)
        if self._next_window == 0 and self._n_samples > 0:
            n_tail = max(n_tail, 1)
        events = self._score_windows(n_tail)
        events += self._verify_due(None, inclusive=True)
        for event_class, event in self._open.items():
            events += self._close(event_class, event)  # every candidate has its verdict now
        self._open.clear()
        return sorted(events, key=lambda e: e.onset_s)

    def pop_confirmed(self) -> list[DetectedEvent]:
        """The events confirmed since the last call, by onset (each event appears once)."""
        confirmed = sorted(self._confirmed, key=lambda e: e.onset_s)
        self._confirmed.clear()
        return confirmed

    def _samples(self, start: int) -> np.ndarray:
        """WINDOW_SAMPLES samples from stream index `start`, zeros before the run's first sample
        (an aligned window whose edge came within its lead) and past what was heard."""
        before = max(0, -start)
        window = self._buffer[start + before - self._buffer_start :][: WINDOW_SAMPLES - before]
        if len(window) < WINDOW_SAMPLES:
            window = np.pad(window, (before, WINDOW_SAMPLES - before - len(window)))
        return window

    def _score_windows(self, n_windows: int) -> list[DetectedEvent]:
        if n_windows == 0:
            return []
        first = self._next_window
        windows = np.stack([self._samples((first + i) * self.hop) for i in range(n_windows)])
        scores = gate_and_compete(self.scorer.score(windows), self.config.speech_gate)
        events: list[DetectedEvent] = []
        for i in range(n_windows):
            window_end = (first + i) * self.hop + WINDOW_SAMPLES
            events += self._verify_due(window_end, inclusive=False)
            events += self._update(first + i, scores[i])
            events += self._verify_due(window_end, inclusive=True)
        self._next_window += n_windows
        return events

    def _open_threshold(self, event_class: EventClass) -> float:
        if event_class in self.verified:
            return self.config.candidate_threshold
        return self.thresholds[event_class]

    def _update(self, k: int, row: np.ndarray) -> list[DetectedEvent]:
        """Hysteresis for window k: open at ≥ T (a verified class: at the candidate threshold),
        continue at ≥ release × that, else close; confirm what is ready (`_confirm_if_ready`)."""
        closed = []
        for j, event_class in enumerate(EVENT_CLASSES):
            threshold = self._open_threshold(event_class)
            score = float(row[j])
            current = self._open.get(event_class)
            if current is not None:
                too_long = k - current.first_window >= self.max_event_windows
                if score >= self.config.release_ratio * threshold and not too_long:
                    current.last_window = k
                    if current.aligned_start is None:
                        current.score = max(current.score, score)
                    self._confirm_if_ready(event_class, current)
                    continue
                closed += self._close(event_class, current)
                del self._open[event_class]
            if score >= threshold:
                event = self._open[event_class] = _OpenEvent(k, k, score)
                if event_class in self.verified:
                    event.aligned_start = aligned_start(k * self.hop, self._samples(k * self.hop))
                self._confirm_if_ready(event_class, event)
        return closed

    def _long_enough(self, event_class: EventClass, event: _OpenEvent) -> bool:
        n_windows = event.last_window - event.first_window + 1
        return n_windows >= self.config.windows_to_confirm.get(event_class, 1)

    def _confirm_if_ready(self, event_class: EventClass, event: _OpenEvent) -> None:
        """Confirm an event with `min_windows` windows whose verifier (if any) said yes."""
        verifier_agrees = event.aligned_start is None or (
            event.verdict is not None and event.verdict >= self.thresholds[event_class]
        )
        if event.confirmed is None and verifier_agrees and self._long_enough(event_class, event):
            event.confirmed = self._describe(event_class, event, onset=None)
            self._confirmed.append(event.confirmed)

    def _close(self, event_class: EventClass, event: _OpenEvent) -> list[DetectedEvent]:
        """The closed event if it was confirmed; a long-enough candidate still waiting for its
        verifier waits on (`_awaiting`); anything else ends unreported."""
        if event.confirmed is not None:
            return [self._describe(event_class, event, onset=event.confirmed.onset_sample)]
        waiting = event.verdict is None and event.aligned_start is not None
        if waiting and self._long_enough(event_class, event):
            self._awaiting.append((event_class, event))
        return []

    def _verify_due(self, heard_until: int | None, inclusive: bool) -> list[DetectedEvent]:
        """Let the verifier speak on every candidate whose aligned window ends before
        `heard_until` (or at it, when inclusive; None: all, zero-padded); a candidate it
        rejects is dropped. Returns the waiting candidates it confirmed, closed."""
        if self.verifier is None:
            return []
        closed: list[DetectedEvent] = []
        pending = [(c, e, True) for c, e in self._open.items()]
        pending += [(c, e, False) for c, e in self._awaiting]
        for event_class, event, is_open in pending:
            if event.aligned_start is None or event.verdict is not None:
                continue
            end = event.aligned_start + WINDOW_SAMPLES
            if heard_until is not None and (
                end > heard_until or (end == heard_until and not inclusive)
            ):
                continue
            event.verdict = self._verdict(event.aligned_start, event_class)
            event.score = event.verdict
            self._confirm_if_ready(event_class, event)  # or later, once long enough
            rejected = event.verdict < self.thresholds[event_class]
            if rejected and is_open:
                del self._open[event_class]  # a later window may raise a new candidate
            elif not is_open:
                self._awaiting.remove((event_class, event))
                if event.confirmed is not None:
                    closed.append(self._describe(event_class, event, event.confirmed.onset_sample))
        return closed

    def _verdict(self, aligned_start: int, event_class: EventClass) -> float:
        assert self.verifier is not None
        if aligned_start not in self._verdicts:
            window = self._samples(aligned_start)
            self._verdicts[aligned_start] = self.verifier.verify(window, aligned_start)
        return float(self._verdicts[aligned_start][EVENT_CLASSES.index(event_class)])

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
        """Keep only what open or waiting events and the next window still need (plus the
        lead-in); forget verdicts on windows before what is kept."""
        needed = [self._next_window * self.hop]
        needed += [e.first_window * self.hop for e in self._open.values()]
        needed += [e.first_window * self.hop for _, e in self._awaiting]
        needed += [
            e.aligned_start
            for e in [*self._open.values(), *(e for _, e in self._awaiting)]
            if e.aligned_start is not None and e.verdict is None
        ]
        keep_from = min(needed) - round(LEAD_IN_S * SAMPLE_RATE_HZ)
        drop = keep_from - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
        self._verdicts = {k: v for k, v in self._verdicts.items() if k >= self._buffer_start}


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
        """The `ouie.report/2` of an event whose sample 0 was at `start_ns`; its duration is
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
