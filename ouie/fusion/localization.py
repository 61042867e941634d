"""From the reports of one sound to an `Incident`: class vote, then a fix, hyperbola or single.

This is the glue between association (which reports belong together) and the numerical
multilateration (`ouie.fusion.multilateration`): it converts sites to the ENU frame, onsets to
seconds relative to the first one, and the fit back to WGS84, ellipse and radius.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ouie.core.classes import ALERTING_CLASSES, EventClass
from ouie.core.geo import LocalFrame
from ouie.core.incident import (
    Ellipse95,
    Hyperbola,
    Incident,
    IncidentStatus,
    RejectedSensor,
)
from ouie.core.recording import SensorSite
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S
from ouie.fusion.config import FusionConfig
from ouie.fusion.multilateration import (
    Array,
    ellipse_95,
    hyperbola_branch_en_m,
    locate_source,
    radius_95,
)


def sensor_positions_enu_m(sensors: Sequence[SensorSite], frame: LocalFrame) -> dict[str, Array]:
    """Each sensor's microphone in the local frame: (east_m, north_m, up_m), up = height_m above
    the ground at the origin (flat ground assumed)."""
    return {
        site.id: frame.to_enu(site.lat, site.lon, frame.origin_height_m + site.height_m)
        for site in sensors
    }


def vote_class(reports: Sequence[EventReport]) -> EventClass:
    """The class with the largest sum of scores; ties go to an alerting class, then by name."""
    totals: dict[EventClass, float] = defaultdict(float)
    for report in reports:
        totals[report.class_] += report.score
    return max(totals, key=lambda cls: (totals[cls], cls in ALERTING_CLASSES, cls.value))


def onset_sigmas_s(reports: Sequence[EventReport], config: FusionConfig) -> Array:
    """σᵢ = √(onset_uncertainty_sᵢ² + model_sigma_s²), floored at 1 µs, s."""
    reported = np.array([r.onset_uncertainty_s for r in reports])
    return np.maximum(np.sqrt(reported**2 + config.model_sigma_s**2), 1e-6)


def locate_reports(
    reports: Sequence[EventReport],
    positions_enu_m: dict[str, Array],
    frame: LocalFrame,
    config: FusionConfig,
    incident_id: str,
    revision: int = 1,
) -> Incident:
    """An incident from reports of one sound, one per sensor (all sensors must be known).

    Reports are sorted by (sensor_id, report_id) first so that arrival order changes nothing.
    """
    ordered = sorted(reports, key=lambda r: (r.sensor_id, r.report_id))
    common = {
        "incident_id": incident_id,
        "revision": revision,
        "class_": vote_class(ordered),
        "report_ids": [r.report_id for r in ordered],
        "score": max(r.score for r in ordered),
    }
    if len(ordered) >= 3:
        return _fix_incident(ordered, positions_enu_m, frame, config, common)
    if len(ordered) == 2:
        return _hyperbola_incident(ordered, positions_enu_m, frame, config, common)
    (only,) = ordered
    site = positions_enu_m[only.sensor_id]
    lat, lon, _ = frame.to_wgs84(site[0], site[1], site[2])
    return Incident(
        **common,
        status=IncidentStatus.SINGLE,
        onset_ns=only.onset_ns,
        lat=float(lat),
        lon=float(lon),
        east_m=float(site[0]),
        north_m=float(site[1]),
        uncertainty_m=config.single_sensor_radius_m,
        sensors_used=[only.sensor_id],
    )


def _fix_incident(
    reports: list[EventReport],
    positions_enu_m: dict[str, Array],
    frame: LocalFrame,
    config: FusionConfig,
    common: dict[str, object],
) -> Incident:
    """A `fix` incident from ≥ 3 reports (see `multilateration.locate_source`)."""
    reference_ns = min(r.onset_ns for r in reports)
    onsets_s = np.array([(r.onset_ns - reference_ns) / NS_PER_S for r in reports])
    sigmas_s = onset_sigmas_s(reports, config)
    sensors = np.array([positions_enu_m[r.sensor_id] for r in reports])
    levels_db = np.array([r.peak_dbfs for r in reports])
    fix = locate_source(sensors, onsets_s, sigmas_s, config.speed_of_sound_mps, config, levels_db)
    covariance = fix.covariance_en_m2
    semi_major, semi_minor, bearing = ellipse_95(covariance)
    lat, lon, _ = frame.to_wgs84(fix.east_m, fix.north_m, config.source_height_m)
    used_residuals = fix.normalized_residuals[fix.used] * sigmas_s[fix.used]
    rejected = [
        RejectedSensor(
            sensor_id=r.sensor_id,
            report_id=r.report_id,
            reason=_rejection_reason(float(z), float(sigma)),
        )
        for r, z, sigma, used in zip(
            reports, fix.normalized_residuals, sigmas_s, fix.used, strict=True
        )
        if not used
    ]
    return Incident(
        **common,
        status=IncidentStatus.FIX,
        onset_ns=reference_ns + round(fix.emission_s * NS_PER_S),
        onset_uncertainty_s=float(np.sqrt(max(fix.covariance[2, 2], 0.0))),
        lat=float(lat),
        lon=float(lon),
        east_m=fix.east_m,
        north_m=fix.north_m,
        covariance_m2=covariance.tolist(),
        ellipse95=Ellipse95(
            semi_major_m=semi_major, semi_minor_m=semi_minor, orientation_deg=bearing
        ),
        uncertainty_m=radius_95(covariance),
        residual_rms_s=float(np.sqrt(np.mean(used_residuals**2))),
        sensors_used=[r.sensor_id for r, used in zip(reports, fix.used, strict=True) if used],
        sensors_rejected=rejected,
    )


def _rejection_reason(z: float, sigma_s: float) -> str:
    """Why an onset was left out, in words: how far and which way it missed the consensus."""
    ms = z * sigma_s * 1e3
    if z > 0:
        return f"onset {ms:+.1f} ms ({z:.0f} σ) late: likely a non-line-of-sight path"
    return f"onset {ms:+.1f} ms ({-z:.0f} σ) early: clock error or another sound"


def _hyperbola_incident(
    reports: list[EventReport],
    positions_enu_m: dict[str, Array],
    frame: LocalFrame,
    config: FusionConfig,
    common: dict[str, object],
) -> Incident:
    """A `hyperbola` incident from 2 reports: no point, the branch the source lies on."""
    near, far = sorted(reports, key=lambda r: (r.onset_ns, r.sensor_id))
    difference_m = (far.onset_ns - near.onset_ns) / NS_PER_S * config.speed_of_sound_mps
    points_en = hyperbola_branch_en_m(
        positions_enu_m[near.sensor_id][:2],
        positions_enu_m[far.sensor_id][:2],
        difference_m,
        reach_m=config.range_m(near.class_, far.class_),
    )
    lats, lons, _ = frame.to_wgs84(points_en[:, 0], points_en[:, 1], config.source_height_m)
    return Incident(
        **common,
        status=IncidentStatus.HYPERBOLA,
        onset_ns=near.onset_ns,
        hyperbola=Hyperbola(
            near_sensor_id=near.sensor_id,
            far_sensor_id=far.sensor_id,
            range_difference_m=difference_m,
            points=[(float(a), float(b)) for a, b in zip(lats, lons, strict=True)],
        ),
        sensors_used=[near.sensor_id, far.sensor_id],
    )
