"""Report-level simulation: the reports a sensor network would send for known events.

Fast and independent of audio, it isolates fusion: onsets from geometry (straight-line
propagation at c), Gaussian clock jitter, late non-line-of-sight (NLOS) paths on a fraction of
sensor paths, missed detections growing with distance, extra (false) detections, duplicated
and late network deliveries. The end-to-end path (audio → detector → fusion) is `ouie locate`
on a rendered recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import Field
from scipy.spatial import cKDTree

from ouie.core.classes import EventClass
from ouie.core.config import StrictModel
from ouie.core.geo import LocalFrame
from ouie.core.recording import SensorSite, TruthEvent
from ouie.core.report import EventReport, ModelId
from ouie.core.timebase import NS_PER_S, ns_to_iso
from ouie.fusion.localization import sensor_positions_enu_m

SYNTHETIC_MODEL = ModelId(name="synthetic/1", sha256="0" * 64)


class ReportNoise(StrictModel):
    """What goes wrong between a sound and the reports that reach the central service."""

    jitter_s: float = Field(default=0.0003, ge=0, description="1-σ onset/clock jitter, s.")
    nlos_fraction: float = Field(
        default=0.1, ge=0, le=1, description="Fraction of sensor paths that arrive late (NLOS)."
    )
    nlos_delay_s: tuple[float, float] = Field(
        default=(0.002, 0.03), description="Range of the uniform extra delay of an NLOS path, s."
    )
    hearing_range_m: float = Field(
        default=250.0, gt=0, description="Detection probability falls linearly to 0 here, m."
    )
    sure_range_m: float = Field(
        default=120.0, gt=0, description="Within this range detection only misses at miss_rate, m."
    )
    miss_rate: float = Field(default=0.05, ge=0, le=1, description="Misses even when close.")
    false_alarms_per_sensor_hour: float = Field(
        default=2.0, ge=0, description="Extra detections not caused by any scripted event."
    )
    duplicate_rate: float = Field(
        default=0.05, ge=0, le=1, description="Reports delivered twice (QoS 1 re-delivery)."
    )
    latency_mean_s: float = Field(default=0.3, ge=0, description="Mean network latency, s.")
    late_rate: float = Field(
        default=0.03, ge=0, le=1, description="Reports held up 5-20 s (store-and-forward)."
    )
    source_level_db: float = Field(default=140.0, description="Source level at 1 m, dB SPL.")
    full_scale_db_spl: float = Field(default=130.0, description="SPL that reads 0 dBFS.")


@dataclass(frozen=True)
class SensorClock:
    """One sensor's timing: a constant offset (sensor − true) and a per-event jitter, both s,
    and the 1-σ uncertainty the sensor puts in its reports."""

    offset_s: float
    jitter_s: float
    reported_sigma_s: float


@dataclass(frozen=True)
class Delivery:
    """A report and when it reaches the central service (UTC ns)."""

    arrival_ns: int
    report: EventReport


def synthesize_deliveries(
    sensors: list[SensorSite],
    frame: LocalFrame,
    truth: list[TruthEvent],
    c_mps: float,
    noise: ReportNoise,
    rng: np.random.Generator,
    source_height_m: float = 1.5,
    span_ns: tuple[int, int] | None = None,
    clocks: dict[str, SensorClock] | None = None,
    audible_only: bool = False,
) -> list[Delivery]:
    """Reports for `truth` plus false alarms over `span_ns`, sorted by arrival time.

    Per sensor i at distance dᵢ: detected with probability (1 − miss_rate)·clip((R − dᵢ)/(R −
    R_sure), 0, 1); onset tᵢ = t₀ + dᵢ/c + offsetᵢ + N(0, jitterᵢ²) + (NLOS? U(delay range) : 0);
    peak level L = L_src − 20·log₁₀(dᵢ) − 0.005·dᵢ + N(0, 2²) dB SPL − full scale. `clocks`
    gives each sensor's timing; by default no offset and `noise.jitter_s`, reported honestly.
    `audible_only` draws an event's randomness for the sensors within R of it only (found in a
    k-d tree; the others cannot hear it): the same distribution, another random stream, and a
    cost per event that follows its neighbourhood instead of the city (a 10,000-sensor bench).
    """
    positions = sensor_positions_enu_m(sensors, frame)
    ids = list(positions)
    sites = np.array([positions[i] for i in ids])
    reports: list[EventReport] = []
    seq = dict.fromkeys(ids, 0)
    honest = SensorClock(0.0, noise.jitter_s, max(noise.jitter_s, 1e-6))
    timing = [(clocks or {}).get(i, honest) for i in ids]
    timing_of = dict(zip(ids, timing, strict=True))
    offsets_s = np.array([t.offset_s for t in timing])
    jitters_s = np.array([t.jitter_s for t in timing])

    def report(sensor_id: str, cls: EventClass, onset_ns: int, peak_dbfs: float) -> None:
        reports.append(
            EventReport(
                sensor_id=sensor_id,
                seq=seq[sensor_id],
                class_=cls,
                score=float(rng.uniform(0.5, 1.0)),
                onset_ns=onset_ns,
                onset_uncertainty_s=timing_of[sensor_id].reported_sigma_s,
                duration_s=0.3,
                peak_dbfs=float(np.clip(peak_dbfs, -200.0, 0.0)),
                model=SYNTHETIC_MODEL,
            )
        )
        seq[sensor_id] += 1

    events = [event for event in truth if event.class_ in set(EventClass)]
    sources = frame.to_enu(
        [e.lat for e in events], [e.lon for e in events], frame.origin_height_m + source_height_m
    ).reshape(-1, 3)
    tree = cKDTree(sites[:, :2]) if audible_only and ids else None
    everyone = np.arange(len(ids))
    for event, source in zip(events, sources, strict=True):
        near = (
            everyone
            if tree is None
            else np.sort(np.array(tree.query_ball_point(source[:2], noise.hearing_range_m), int))
        )
        distance_m = np.linalg.norm(sites[near] - source, axis=1)
        ramp = (noise.hearing_range_m - distance_m) / (noise.hearing_range_m - noise.sure_range_m)
        detected = rng.random(len(near)) < (1 - noise.miss_rate) * np.clip(ramp, 0.0, 1.0)
        delay_s = (
            distance_m / c_mps
            + offsets_s[near]
            + rng.normal(0.0, 1.0, len(near)) * jitters_s[near]
            + np.where(
                rng.random(len(near)) < noise.nlos_fraction,
                rng.uniform(*noise.nlos_delay_s, len(near)),
                0.0,
            )
        )
        level_db = (
            noise.source_level_db
            - 20 * np.log10(np.maximum(distance_m, 1.0))
            - 0.005 * distance_m
            + rng.normal(0.0, 2.0, len(near))
        )
        for k in np.flatnonzero(detected):
            onset_ns = event.onset_ns + round(float(delay_s[k]) * NS_PER_S)
            report(
                ids[near[k]],
                EventClass(event.class_),
                onset_ns,
                level_db[k] - noise.full_scale_db_spl,
            )
    if span_ns is not None:
        hours = (span_ns[1] - span_ns[0]) / NS_PER_S / 3600
        for sensor_id in ids:
            for _ in range(rng.poisson(noise.false_alarms_per_sensor_hour * hours)):
                cls = EventClass(rng.choice([c.value for c in EventClass]))
                onset_ns = int(rng.integers(span_ns[0], span_ns[1]))
                report(sensor_id, cls, onset_ns, float(rng.uniform(-40, -10)))
    return _deliver(reports, noise, rng)


def _deliver(
    reports: list[EventReport], noise: ReportNoise, rng: np.random.Generator
) -> list[Delivery]:
    """Arrival = onset + 0.2 s processing + Exp(latency) (+ U(5, 20) s when held up), with
    some reports delivered twice."""
    deliveries = []
    for report in reports:
        copies = 2 if rng.random() < noise.duplicate_rate else 1
        for _ in range(copies):
            latency_s = 0.2 + rng.exponential(noise.latency_mean_s)
            if rng.random() < noise.late_rate:
                latency_s += rng.uniform(5.0, 20.0)
            deliveries.append(Delivery(report.onset_ns + round(latency_s * NS_PER_S), report))
    return sorted(deliveries, key=lambda d: d.arrival_ns)


def truth_event(
    frame: LocalFrame, cls: str, onset_ns: int, east_m: float, north_m: float
) -> TruthEvent:
    """A truth record (the recording-folder contract) for a source at (east_m, north_m)."""
    (event,) = truth_events(frame, [cls], [onset_ns], [east_m], [north_m])
    return event


def truth_events(
    frame: LocalFrame,
    classes: Sequence[str],
    onsets_ns: Sequence[int],
    east_m: Sequence[float],
    north_m: Sequence[float],
) -> list[TruthEvent]:
    """`truth_event` for many sources at once (one conversion to WGS84 for all)."""
    lats, lons, _ = frame.to_wgs84(east_m, north_m, frame.origin_height_m)
    return [
        TruthEvent.model_validate(
            {"class": cls, "onset_utc": ns_to_iso(int(onset)), "lat": float(lat), "lon": float(lon)}
        )
        for cls, onset, lat, lon in zip(classes, onsets_ns, lats, lons, strict=True)
    ]
