"""Network confirmation: is an alerting incident heard where the geometry says it should be?

A gunshot 50 m from a sensor is heard by every sensor within a few hundred metres; a detector's
false alarm (a door slam, a dropped pallet) is heard as *that* class by one sensor only. So an
alerting incident is **confirmed** when it holds at least

    required = min(min_sensors, |E|),   E = H ∪ {s : min_p ‖s − p‖ ≤ r_class}

sensors, where H are the sensors that heard it (used or left out by the fix), r_class the
class's sure range (`ConfirmationConfig.sure_range_m`) and p runs over where the source may be:
the fix for a `fix` incident, else the sensors of H (a single sensor places the source around
itself). The rule uses sensor spacing rather than a fixed count: a scream (r = 150 m) heard by
one sensor of a corner whose neighbours are 200 m away is confirmed as far as the network can
(|E| = 1), the same scream in the dense centre, with 3 sensors within 150 m, is not. Two or more
sensors in one incident are consistent in time by construction (association's TDOA rules).

A fix whose onsets do not fit one position, RMS residual above `max_nlos_delay_s` (the most a
detour around buildings adds; beyond it association speaks of a wrong association), is not
confirmed: its reports are sounds of different moments (on the false-alarm bench, an explosion
"located" 2.5 km outside the site with a 3.2 s residual).

The class must also agree: when k sensors outside the incident reported, at onsets that the
pairwise rule allows for the same sound (|Δt| ≤ d/c + slack to one of its sensors), a context
class it is confused with (fireworks), the incident needs |H| / (|H| + k) ≥
`min_class_agreement` (0.5: most of the sensors that heard it call it alerting). A firecracker
that three sensors call a gunshot and eight call fireworks is not confirmed; a gunshot that one
sensor calls fireworks still is.

A gunshot or explosion near an open firework episode (within `context_radius_m`, the episode
heard within context_episode_gap_s) is marked `context_nearby`: the console ranks it lower and
says why. There, with `verified_near_fireworks`, it must also be a *verified* fix (`is_verified`:
VERIFIED_SENSORS onsets or more, one of them redundant): three onsets fit one position exactly
whatever they are, and three sensors picking a crackle at different moments make such a fix
(on the everyday-sound bench, 3-sensor "gunshots" 60–270 m from the firecracker that made them).

An unconfirmed incident is kept and shown apart ("unconfirmed"), never raised as an alert
(`Incident.raises_alert`).
"""

from __future__ import annotations

import numpy as np

from ouie.core.classes import EventClass
from ouie.core.incident import Assessment, Incident, IncidentStatus
from ouie.fusion.config import FusionConfig
from ouie.fusion.multilateration import Array

FIRECRACKER_LIKE = frozenset({EventClass.GUNSHOT, EventClass.EXPLOSION})
"""Alerting classes a firecracker is taken for."""

VERIFIED_SENSORS = 4
"""Sensors of a fix whose position can be trusted to tell two sources apart (one redundant
onset: a wrong association or a late path shows as an inconsistent fit)."""


def is_verified(incident: Incident) -> bool:
    """A fix with a redundant onset (VERIFIED_SENSORS or more sensors used): its position can
    tell two sources apart. Three onsets fit exactly whatever they are, and a hyperbola or a
    single sensor places nothing precisely."""
    return incident.status == IncidentStatus.FIX and incident.n_sensors >= VERIFIED_SENSORS


def source_points_en_m(incident: Incident, positions_enu_m: dict[str, Array]) -> Array:
    """Where the source may be, (n, 2) east/north m: the fix, else the sensors that heard it."""
    if incident.status == IncidentStatus.FIX and incident.east_m is not None:
        return np.array([[incident.east_m, incident.north_m]], dtype=np.float64)
    return np.array([positions_enu_m[s][:2] for s in heard_by(incident)], dtype=np.float64)


def heard_by(incident: Incident) -> list[str]:
    """Sensors whose reports the incident holds (used by the fix or left out), sorted."""
    return sorted({*incident.sensors_used, *(r.sensor_id for r in incident.sensors_rejected)})


def assess(
    incident: Incident,
    positions_enu_m: dict[str, Array],
    config: FusionConfig,
    fireworks_nearby: tuple[float, float] | None = None,
    called_otherwise: int = 0,
) -> Incident:
    """The incident with its `Assessment` (module docstring); unchanged when the policy is off
    or the class is context. `fireworks_nearby`: (s since, m away) of the closest open firework
    episode within context_radius_m, or None; `called_otherwise`: sensors outside it that
    reported the same sound as a context class it is confused with (fireworks)."""
    policy = config.confirmation
    if not policy.enabled or not incident.alerting:
        return incident
    heard = heard_by(incident)
    sure_m = (
        policy.sure_range_m.get(incident.class_)
        if isinstance(incident.class_, EventClass)
        else None  # a camera's video event: its own camera saw it
    )
    reasons: list[str] = []
    if sure_m is None:
        expected = set(heard)
        confirmed = True
    else:
        points = source_points_en_m(incident, positions_enu_m)
        expected = set(heard) | {
            sensor_id
            for sensor_id, site in positions_enu_m.items()
            if float(np.min(np.linalg.norm(points - site[:2], axis=1))) <= sure_m
        }
        confirmed = len(heard) >= min(policy.min_sensors, len(expected))
        if not confirmed:
            reasons.append(
                f"only {len(heard)} of the {len(expected)} sensors within {sure_m:.0f} m heard "
                "it: the network does not confirm it"
            )
        elif len(heard) == 1:
            reasons.append(
                f"heard by 1 sensor; no other sensor is within {sure_m:.0f} m to confirm it"
            )
    residual_s = incident.residual_rms_s
    if confirmed and residual_s is not None and residual_s > config.max_nlos_delay_s:
        confirmed = False
        reasons.append(
            f"its onsets do not fit one position (residual {residual_s * 1e3:.0f} ms RMS, more "
            f"than the {config.max_nlos_delay_s * 1e3:.0f} ms a detour can add): sounds of "
            "different moments, not one"
        )
    share = len(heard) / (len(heard) + called_otherwise)
    if confirmed and called_otherwise and share < policy.min_class_agreement:
        confirmed = False
        reasons.append(
            f"{called_otherwise} other sensors heard a sound at the same moment and called it "
            f"fireworks; only {len(heard)} of {len(heard) + called_otherwise} called it "
            f"{incident.class_}: the network does not agree"
        )
    context = incident.class_ in FIRECRACKER_LIKE and fireworks_nearby is not None
    if confirmed and context and policy.verified_near_fireworks and not is_verified(incident):
        confirmed = False
        reasons.append(
            f"near fireworks, placed by {incident.n_sensors} sensor(s) only: {VERIFIED_SENSORS} "
            "or more must agree on one position there (three onsets of a crackle fit any "
            "position)"
        )
    if confirmed and len(heard) >= 2:
        reasons.append(f"heard by {len(heard)} sensors, their onsets consistent in time")
    if context and fireworks_nearby is not None:
        since_s, away_m = fireworks_nearby
        reasons.append(
            f"fireworks heard {since_s:.0f} s before, {away_m:.0f} m away: may be a firecracker"
        )
    assessment = Assessment(
        confirmed=confirmed,
        heard_by=len(heard),
        expected_sensors=len(expected),
        context_nearby=context,
        reasons=reasons,
    )
    return incident.model_copy(update={"assessment": assessment})
