"""Class profiles by schedule: a supervisor raises the bar for an alerting class, or switches it
off, near given places and at given local hours (e.g. a fireworks night raises the gunshot bar
within 300 m of the venues; `scream` off around a stadium during a match).

A profile is typed config (`ClassProfile`, stored by `ouie.store` as JSON, set from the console,
audited there). The central service applies every profile active at an incident's onset
(`apply_profiles`) before it stores the incident: an incident a rule catches does not raise an
alert; it is kept and shown as *unconfirmed*, its assessment saying why in words. Profiles never
create, move or delete an incident, and never touch context classes or a camera's video events.

Time: a profile's window [`start`, `end`) is in its `time_zone`'s local time; `end` ≤ `start`
wraps past midnight (20:00–02:00), `start` = `end` is the whole day. `dates` lists the local
days on which the window *starts* (the night of 14 July runs 20:00 on the 14th to 02:00 on the
15th); empty means every day. Distance to a venue: haversine on a sphere of radius
6 371 008.8 m (error ≪ 1 m over a few km).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from math import asin, cos, radians, sin, sqrt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from ouie.core.classes import ALERTING_CLASSES, EventClass
from ouie.core.config import StrictModel
from ouie.core.incident import Assessment, Incident
from ouie.core.timebase import NS_PER_S

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), m."""


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance, m: 2R·asin(√(sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2)))."""
    p1, p2 = radians(lat1), radians(lat2)
    h = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * asin(min(1.0, sqrt(h)))


class Venue(StrictModel):
    """A known place a rule is about (a stadium, a park where fireworks are fired)."""

    name: str = Field(min_length=1, max_length=80, description="Shown in the reason.")
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees WGS84.")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees WGS84.")


class ProfileRule(StrictModel):
    """For one alerting class: a higher score bar (`min_score`), or off (`switch_off`), within
    `radius_m` of any of `near` (everywhere when `near` is empty)."""

    class_: EventClass = Field(alias="class", description="An alerting class.")
    min_score: float | None = Field(
        default=None, gt=0, le=1, description="Score an incident needs to raise an alert."
    )
    switch_off: bool = Field(default=False, description="No alert at all for this class.")
    near: list[Venue] = Field(
        default_factory=list, max_length=50, description="Places; empty: the whole site."
    )
    radius_m: float = Field(default=300.0, gt=0, le=20_000, description="Around each place, m.")

    model_config = StrictModel.model_config | {"populate_by_name": True}

    @field_validator("class_")
    @classmethod
    def _alerting(cls, value: EventClass) -> EventClass:
        if value not in ALERTING_CLASSES:
            raise ValueError(
                f"{value} is a context class (never alerted); a profile is for "
                + ", ".join(sorted(str(c) for c in ALERTING_CLASSES))
            )
        return value

    @model_validator(mode="after")
    def _one_action(self) -> ProfileRule:
        if self.switch_off == (self.min_score is not None):
            raise ValueError("a rule either sets min_score or switch_off: true (one of them)")
        return self

    def where(self) -> str:
        """The rule's zone in words."""
        if not self.near:
            return "anywhere on the site"
        return f"within {self.radius_m:.0f} m of " + ", ".join(v.name for v in self.near)

    def covers(self, incident: Incident) -> bool:
        """Whether the incident is of this class and inside the zone (an incident without a
        position is inside only a site-wide rule: nobody can say it is near a venue)."""
        if incident.class_ != self.class_:
            return False
        if not self.near:
            return True
        if incident.lat is None or incident.lon is None:
            return False
        return any(
            distance_m(incident.lat, incident.lon, v.lat, v.lon) <= self.radius_m for v in self.near
        )


class ClassProfile(StrictModel):
    """A named set of rules in force on some local days and hours (module docstring)."""

    name: str = Field(
        min_length=1, max_length=64, pattern=r"^[\w .'-]+$", description="Unique name."
    )
    description: str = Field(default="", max_length=300)
    time_zone: str = Field(default="Europe/Paris", description="IANA zone of dates and hours.")
    dates: list[date] = Field(
        default_factory=list,
        max_length=366,
        description="Local days on which the window starts; empty: every day.",
    )
    start: time = Field(default=time(0, 0), description="Window start, local time.")
    end: time = Field(default=time(0, 0), description="Window end (excluded), local time.")
    rules: list[ProfileRule] = Field(min_length=1, max_length=20)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name)") from None
        return value

    def window_start_day(self, t_ns: int) -> date | None:
        """The local day on which the window holding `t_ns` started; None outside it."""
        local = datetime.fromtimestamp(t_ns / NS_PER_S, ZoneInfo(self.time_zone))
        clock, today = local.time(), local.date()
        if self.start == self.end:
            return today
        if self.start < self.end:
            return today if self.start <= clock < self.end else None
        if clock >= self.start:
            return today
        return today - timedelta(days=1) if clock < self.end else None

    def active_at(self, t_ns: int) -> bool:
        """Whether the profile is in force at `t_ns` (UTC ns)."""
        day = self.window_start_day(t_ns)
        return day is not None and (not self.dates or day in self.dates)

    def hours(self) -> str:
        """The window in words, e.g. '20:00–02:00 Europe/Paris on 2026-07-14'."""
        span = (
            "all day"
            if self.start == self.end
            else f"{self.start:%H:%M}–{self.end:%H:%M} {self.time_zone}"
        )
        days = ", ".join(d.isoformat() for d in self.dates) if self.dates else "every day"
        return f"{span} on {days}" if self.dates else f"{span}, {days}"

    def summary(self) -> str:
        """One line for the banner: name, hours and what each rule does."""
        rules = "; ".join(
            f"{r.class_} {'off' if r.switch_off else f'needs score ≥ {r.min_score:.2f}'} "
            f"{r.where()}"
            for r in self.rules
        )
        return f"{self.name} ({self.hours()}): {rules}"


def profile_reason(profile: ClassProfile, rule: ProfileRule, incident: Incident) -> str | None:
    """Why `rule` keeps `incident` from raising an alert, in words; None when it does not."""
    if not rule.covers(incident):
        return None
    if rule.switch_off:
        return (
            f"profile '{profile.name}': {rule.class_} is switched off {rule.where()} "
            f"({profile.hours()}); not alerted"
        )
    assert rule.min_score is not None
    if incident.score >= rule.min_score:
        return None
    return (
        f"profile '{profile.name}': {rule.class_} needs a score of at least "
        f"{rule.min_score:.2f} {rule.where()} ({profile.hours()}); this one scored "
        f"{incident.score:.2f}, so it is not alerted"
    )


def apply_profiles(incident: Incident, profiles: list[ClassProfile]) -> Incident:
    """`incident` as the profiles in force at its onset leave it: unchanged, or with an
    assessment that does not confirm it (an alert no more) and says which profile and why.
    Only incidents that would raise an alert are looked at."""
    if not incident.raises_alert:
        return incident
    reasons = [
        reason
        for profile in profiles
        if profile.active_at(incident.onset_ns)
        for rule in profile.rules
        if (reason := profile_reason(profile, rule, incident)) is not None
    ]
    if not reasons:
        return incident
    heard_by = len(incident.sensors_used) + len(incident.sensors_rejected)
    before = incident.assessment or Assessment(
        confirmed=True, heard_by=heard_by, expected_sensors=heard_by
    )
    assessment = before.model_copy(
        update={"confirmed": False, "reasons": [*reasons, *before.reasons]}
    )
    return incident.model_copy(update={"assessment": assessment})
