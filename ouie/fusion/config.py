"""Configuration of fusion: association windows, localization model and robustness thresholds.

Load it from YAML with `ouie.core.config.load_yaml_config(path, FusionConfig)`; every field has a
default, so an empty file (or `FusionConfig()`) is a working configuration.
"""

from __future__ import annotations

from pydantic import Field

from ouie.core.classes import EventClass
from ouie.core.config import StrictModel
from ouie.core.geo import speed_of_sound_mps

DEFAULT_HEARING_RANGE_M: dict[EventClass, float] = {
    EventClass.GUNSHOT: 1000.0,
    EventClass.EXPLOSION: 1500.0,
    EventClass.FIREWORKS: 1000.0,
    EventClass.GLASS_BREAK: 300.0,
    EventClass.SCREAM: 500.0,
    EventClass.SIREN: 1500.0,
    EventClass.ALARM: 600.0,
}
"""Detection ranges over street background (the saint-etienne simulation hears gunshots at
700 m with 10 dB SNR, screams at 400 m): generous, since a range too short splits a sound."""


DEFAULT_SURE_RANGE_M: dict[EventClass, float] = {
    EventClass.GUNSHOT: 300.0,
    EventClass.EXPLOSION: 500.0,
    EventClass.GLASS_BREAK: 150.0,
    EventClass.SCREAM: 200.0,
}
"""Distance within which a sensor should hear an alerting class (well inside the hearing range:
a scream or breaking glass carries over a street, a gunshot over blocks)."""


class ConfirmationConfig(StrictModel):
    """Network confirmation: an alerting incident must be heard by the sensors that the geometry
    says should have heard it (`ouie.fusion.confirmation`)."""

    enabled: bool = Field(
        default=True,
        description="Assess alerting incidents; off: every alerting incident raises an alert.",
    )
    min_sensors: int = Field(
        default=2,
        ge=1,
        description="Sensors required where at least that many are within the class's sure "
        "range of the source; fewer where fewer are (a sparse corner of the network). 3 would "
        "also refuse two onsets (a hyperbola: no check, no position); measured, it withdraws "
        "true alerts (docs/results/operator.md).",
    )
    sure_range_m: dict[EventClass, float] = Field(
        default_factory=lambda: dict(DEFAULT_SURE_RANGE_M),
        description="Per alerting class, the distance within which a sensor should hear it, m "
        "(a class left out is never marked unconfirmed).",
    )
    min_class_agreement: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of the sensors that heard the same sound that must call it an "
        "alerting class: other sensors reporting it, at onsets the pairwise rule allows, as a "
        "context class it is confused with (fireworks) count against it; 0: not used. 0.5 "
        "halves the false alerts on everyday sound but withdraws a true shot that most "
        "sensors call fireworks (docs/results/operator.md), so it is off by default.",
    )
    context_radius_m: float = Field(
        default=500.0,
        ge=0,
        description="A firework episode still open (context_episode_gap_s) this close to a "
        "gunshot or explosion lowers its rank, m.",
    )
    verified_near_fireworks: bool = Field(
        default=False,
        description="A gunshot or explosion within context_radius_m of an open firework "
        "episode raises an alert only as a verified fix (4 or more sensors: one redundant "
        "onset); a hyperbola or a 3-sensor fix there, which fits any three onsets of a "
        "crackle exactly, is shown unconfirmed. Measured: false alerts on the everyday-sound "
        "hour 14 -> 6 per hour, none lost on the three evenings, but 2 of the 9 true alerts "
        "of the real-detector latency bench lost (sensors that call a gunshot fireworks open "
        "the episode that then withholds the next shot), so it is off by default "
        "(docs/results/operator.md).",
    )


class BurstConfig(StrictModel):
    """Repeats of one alerting sound (a burst of shots) folded into one alert that grows
    (`ouie.fusion.bursts`)."""

    gap_s: float = Field(
        default=2.5,
        ge=0,
        description="An alerting incident whose onset is at most this from a shot of an open "
        "burst of its family, at the same place, joins it (shots come 0.3–2 s apart; a "
        "single's onset is an arrival, up to a few hundred ms after the emission); 0: never, s.",
    )
    place_slack_m: float = Field(
        default=20.0,
        ge=0,
        description="Two located shots are at the same place when their distance is at most "
        "the sum of their 95 % radii plus this (a shooter walking, a muzzle and its echo), m.",
    )
    in_earshot: bool = Field(
        default=True,
        description="A hyperbola or a fix of 3 sensors (whose own position says little) is "
        "also at the place of a verified fix (4+ sensors) when every sensor that heard it is "
        "within the class's hearing range of that fix, or of a 3-sensor fix when within the "
        "class's sure range of it: it may be that sound's later bang or echo, picked by other "
        "sensors. A second source so weakly heard within gap_s folds in as a shot of the "
        "burst (false alerts of the live demo evening 4 -> 2; docs/results/operator.md).",
    )
    one_area: bool = Field(
        default=True,
        description="Two sounds neither of which is a verified fix (4+ sensors) are also at "
        "the same place when every sensor that heard either lies within the class's sure "
        "range (confirmation.sure_range_m) of one point: a scream's later part picked by two "
        "other sensors a second after its first fix is then a repeat, not a second alert.",
    )


class FusionConfig(StrictModel):
    """How reports are grouped into incidents and how incidents are located."""

    air_temperature_c: float = Field(
        default=15.0, ge=-40, le=50, description="Air temperature that sets the speed of sound, °C."
    )
    source_height_m: float = Field(
        default=1.5, description="Assumed source height above ground (a hand, a window), m."
    )
    clock_tolerance_s: float = Field(
        default=0.005,
        ge=0,
        description="Slack added to distance/c when deciding whether two onsets can be the same "
        "sound (clock offsets, onset picking, non-line-of-sight delays), s.",
    )
    window_margin_s: float = Field(
        default=2.0,
        ge=0,
        description="Wait after the last possible arrival before an incident is emitted "
        "(sensor processing and network latency), s.",
    )
    hearing_range_m: dict[EventClass, float] = Field(
        default_factory=lambda: dict(DEFAULT_HEARING_RANGE_M),
        description="Farthest a sensor detects each class, m: two sensors farther apart than "
        "twice this never share an incident, two onsets of one sound differ by at most "
        "range/c, and the waiting window never exceeds range/c + margin. Classes left out "
        "use the largest range given.",
    )
    late_report_grace_s: float = Field(
        default=30.0,
        ge=0,
        description="How long after emission an incident still accepts late reports, s.",
    )
    camera_sound_weight: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="How much a camera's own audio detection counts: it raises an incident's "
        "score s to 1 − (1 − s)(1 − weight·camera score) (`ouie.fusion.corroboration`).",
    )
    camera_sound_latency_s: float = Field(
        default=5.0,
        ge=0,
        description="How late after the sound reaches a camera its detector may stamp it "
        "(detection delay and the camera clock's error), s.",
    )
    max_open_incidents: int = Field(
        default=256, ge=1, description="Bound on incidents kept in memory (oldest dropped)."
    )
    max_placements_per_report: int = Field(
        default=64,
        ge=1,
        description="Bound on placements one arriving report may cause (itself, then the "
        "strays it expels, placed again); beyond it a stray is rejected and counted.",
    )
    max_remembered_report_ids: int = Field(
        default=10_000, ge=1, description="Bound on report ids remembered for de-duplication."
    )
    min_sensors: int = Field(
        default=1, ge=1, le=3, description="Fewest sensors for an incident to be emitted at all."
    )
    model_sigma_s: float = Field(
        default=0.0001,
        ge=0,
        description="Timing error of the propagation model itself (source height, wind, "
        "temperature), added in quadrature to each report's onset_uncertainty_s, 1-σ s.",
    )
    unverified_sigma_s: tuple[float, float] = Field(
        default=(0.010, 0.003),
        description="Extra 1-σ timing error assumed for fixes from exactly 3 sensors (no "
        "redundancy: a late non-line-of-sight path or a wrong association cannot be seen) and "
        "from 4 (one redundant sensor: it can be seen but not always attributed); it widens "
        "their ellipse so that it stays honest, s.",
    )
    robust_scale_sigma: float = Field(
        default=2.0,
        gt=0,
        description="Scale of the robust loss (late onsets) in units of each onset's σ: late "
        "residuals well beyond it barely pull the fit.",
    )
    outlier_sigma: float = Field(
        default=4.0,
        gt=0,
        description="A sensor whose normalized onset residual exceeds this is inconsistent "
        "(candidate non-line-of-sight path) and may be rejected.",
    )
    max_nlos_delay_s: float = Field(
        default=0.1,
        gt=0,
        description="Largest extra delay a non-line-of-sight path (around buildings) can add; "
        "a later onset is not explained as NLOS but as a wrong association, s.",
    )
    consistency_p: float = Field(
        default=0.001,
        gt=0,
        lt=0.5,
        description="False-alarm probability of the χ² test that declares a fit inconsistent and "
        "starts outlier rejection.",
    )
    single_sensor_radius_m: float = Field(
        default=150.0,
        gt=0,
        description="Uncertainty radius given to an incident heard by one sensor only "
        "(it is placed at that sensor), m.",
    )
    context_episode_gap_s: float = Field(
        default=60.0,
        ge=0,
        description="A siren, alarm or fireworks incident joins the open episode of its class "
        "heard at most this long before, nearby (one `area` incident for an ambulance crossing "
        "the district or a firework show instead of one per sensor or bang); 0: never, s.",
    )
    confirmation: ConfirmationConfig = Field(
        default_factory=ConfirmationConfig,
        description="Network confirmation policy for alerting incidents.",
    )
    burst: BurstConfig = Field(
        default_factory=BurstConfig,
        description="Folding the repeats of one alerting sound into one alert.",
    )
    provisional_incidents: bool = Field(
        default=True,
        description="Emit an incident before its waiting window closes as soon as its reports "
        "give a trustworthy fix (see provisional_min_sensors), then revise it as later reports "
        "improve it; off: wait for the window.",
    )
    provisional_min_sensors: int = Field(
        default=4,
        ge=4,
        description="Fewest sensors, all consistent with one fix (χ² test, none rejected), for "
        "a provisional incident: 3 fit exactly and cannot be checked.",
    )
    provisional_exact_max_radius_m: float = Field(
        default=50.0,
        ge=0,
        description="An alerting incident heard by exactly 3 sensors is also emitted early "
        "when their exact fix has one solution (no mirror) and its 95 % radius, widened as "
        "unverified (unverified_sigma_s), is at most this, m: the camera turns on the third "
        "report, and the incident is revised as the others arrive; 0: never.",
    )

    def range_m(self, *classes: EventClass) -> float:
        """The largest hearing range among `classes` (all classes when none is given), m."""
        known = [self.hearing_range_m[c] for c in classes if c in self.hearing_range_m]
        return max(known or self.hearing_range_m.values(), default=1000.0)

    @property
    def speed_of_sound_mps(self) -> float:
        """c at `air_temperature_c` (see `ouie.core.geo.speed_of_sound_mps`)."""
        return speed_of_sound_mps(self.air_temperature_c)
