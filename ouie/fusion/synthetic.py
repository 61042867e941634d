"""Report-level simulation: the reports a sensor network would send for known events.

Fast and independent of audio, it isolates fusion: onsets from geometry (straight-line
propagation at c), Gaussian clock jitter, late non-line-of-sight (NLOS) paths on a fraction of
sensor paths, missed detections growing with distance, extra (false) detections, duplicated
and late network deliveries. The end-to-end path (audio → detector → fusion) is `ouie locate`
on a rendered recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

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
) -> list[Delivery]:
    """Reports for `truth` plus false alarms over `span_ns`, sorted by arrival time.

    Per sensor i at distance dᵢ: detected with probability (1 − miss_rate)·clip((R − dᵢ)/(R −
    R_sure), 0, 1); onset tᵢ = t₀ + dᵢ/c + offsetᵢ + N(0, jitterᵢ²) + (NLOS? U(delay range) : 0);
    peak level L = L_src − 20·log₁₀(dᵢ) − 0.005·dᵢ + N(0, 2²) dB SPL − full scale. `clocks`
    gives each sensor's timing; by default no offset and `noise.jitter_s`, reported honestly.
    """
    positions = sensor_positions_enu_m(sensors, frame)
    ids = list(positions)
    sites = np.array([positions[i] for i in ids])
    reports: list[EventReport] = []
    seq = dict.fromkeys(ids, 0)
    honest = SensorClock(0.0, noise.jitter_s, max(noise.jitter_s, 1e-6))
    timing = [(clocks or {}).get(i, honest) for i in ids]
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
                onset_uncertainty_s=timing[ids.index(sensor_id)].reported_sigma_s,
                duration_s=0.3,
                peak_dbfs=float(np.clip(peak_dbfs, -200.0, 0.0)),
                model=SYNTHETIC_MODEL,
            )
        )
        seq[sensor_id] += 1

    for event in truth:
        if event.class_ not in set(EventClass):
            continue
        source = frame.to_enu(event.lat, event.lon, frame.origin_height_m + source_height_m)
        distance_m = np.linalg.norm(sites - source, axis=1)
        ramp = (noise.hearing_range_m - distance_m) / (noise.hearing_range_m - noise.sure_range_m)
        detected = rng.random(len(ids)) < (1 - noise.miss_rate) * np.clip(ramp, 0.0, 1.0)
        delay_s = (
            distance_m / c_mps
            + offsets_s
            + rng.normal(0.0, 1.0, len(ids)) * jitters_s
            + np.where(
                rng.random(len(ids)) < noise.nlos_fraction,
                rng.uniform(*noise.nlos_delay_s, len(ids)),
                0.0,
            )
        )
        level_db = (
            noise.source_level_db
            - 20 * np.log10(np.maximum(distance_m, 1.0))
            - 0.005 * distance_m
            + rng.normal(0.0, 2.0, len(ids))
        )
        for k in np.flatnonzero(detected):
            onset_ns = event.onset_ns + round(float(delay_s[k]) * NS_PER_S)
            report(
                ids[k], EventClass(event.class_), onset_ns, level_db[k] - noise.full_scale_db_spl
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
    lat, lon, _ = frame.to_wgs84(east_m, north_m, frame.origin_height_m)
    return TruthEvent.model_validate(
        {"class": cls, "onset_utc": ns_to_iso(onset_ns), "lat": float(lat), "lon": float(lon)}
    )
