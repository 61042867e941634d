"""The three video events of one camera, from the people found on each analysed frame.

- `intrusion`: a zone holds at least one person's feet (the bottom centre of a detection,
  or the points of a detection split among its people) during ≥ `min_dwell_s`;
- `density`: people in the zone / the zone's ground area (m²) stays above
  `max_people_per_m2` during ≥ `min_density_s`;
- `wrong_way`: a detection's feet point crosses a line against its allowed direction d:
  between two analysed frames it moves from p to q, p and q lie on the two sides of the line
  ab (a point on it counts with the side its orientation (b − a) × (p − a) ≥ 0 names, so a
  step onto the line and the next step off it make one crossing), a and b do not both lie on
  one side of pq, and (q − p)·d < 0. Crossings of one line closer than
  `merge_gap_s` make one event; its `count` adds up the people of each crossing.

An episode is a run of frames where the condition holds, bridged over gaps of up to
`GAP_S` (a person missed on one or two frames); its `count` is the most people in the zone on
two successive frames (one frame's over-count of a merged blob does not make it). An event is
raised once when its episode reaches the threshold (`ongoing`, for the operator now) and once
more when it ends (with its end time, what `ouie video detect` prints).

Crossings need the same people on successive frames: detections are matched frame to frame
by nearest feet point (greedy, within 0.5 × the expected person height), and a match is
forgotten `TRACK_MEMORY_S` after it was last seen. Nothing else is kept: no appearance, no
identity, no track longer than the detections that make it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import Point, Polygon

from ouie.core.classes import VideoEventKind
from ouie.video.config import Line, VideoCamera, Zone
from ouie.video.people import Detection, PeopleDetector
from ouie.video.source import Frame

GAP_S = 1.0
"""An episode survives frames without its condition for up to this long, s."""

TRACK_MEMORY_S = 1.0
"""A detection not matched for this long is forgotten, s."""

GATE_HEIGHTS = 0.5
"""A detection matches one of the previous frame within this many person heights."""


class VideoEvent(BaseModel):
    """One video event: what, where (camera, zone or line), when (s from the stream's start,
    and UTC), and how many people; nothing about who."""

    model_config = ConfigDict(extra="forbid")

    kind: VideoEventKind
    camera: str = Field(description="Camera id.")
    zone: str = Field(description="Zone or line id.")
    start_s: float = Field(description="Start, s from the start of the stream.")
    end_s: float = Field(description="End (so far, while ongoing), s from the stream's start.")
    start_utc: datetime = Field(description="Start, UTC.")
    count: int = Field(ge=1, description="Most people in the zone at once; wrong_way: crossings.")
    peak_people_per_m2: float | None = Field(default=None, description="density: the highest.")
    ongoing: bool = Field(description="The episode has reached its threshold and goes on.")


@dataclass(frozen=True)
class Crossing:
    """People crossing a line between two analysed frames (at the later one's time)."""

    t_s: float
    line: str
    wrong_way: bool
    people: int


@dataclass(frozen=True)
class FrameResult:
    """What one analysed frame gave: its time, the people on it, the line crossings that ended
    on it, and the events raised or closed on it."""

    t_s: float
    people: int
    detections: list[Detection]
    crossings: list[Crossing]
    events: list[VideoEvent]


@dataclass
class _Episode:
    start_s: float
    last_s: float
    count: int
    peak: float | None = None
    raised: bool = False
    previous: int = 0


@dataclass
class _Track:
    feet_px: tuple[float, float]
    last_s: float
    crossed_s: dict[str, float] = field(default_factory=dict)


def _orientation(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """Sign of the turn a → b → c (z of (b − a) × (c − a))."""
    return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))


def crosses(p: Iterable[float], q: Iterable[float], line: Line) -> int:
    """+1 when the move p → q crosses the line in its allowed direction, −1 against it, 0 when
    it does not cross."""
    p_, q_ = np.asarray(list(p), float), np.asarray(list(q), float)
    a, b = np.asarray(line.a_px, float), np.asarray(line.b_px, float)
    if (_orientation(a, b, p_) >= 0) == (_orientation(a, b, q_) >= 0):
        return 0
    if _orientation(p_, q_, a) * _orientation(p_, q_, b) > 0:
        return 0
    return 1 if float(np.dot(q_ - p_, line.allowed_direction_px)) > 0 else -1


class CameraAnalyser:
    """Turns one camera's analysed frames into people counts, crossings and events."""

    def __init__(self, camera: VideoCamera, start_utc: datetime) -> None:
        self.camera = camera
        self.start_utc = start_utc
        self.detector = PeopleDetector(camera.detector, camera.person_scale, camera.analysis_fps)
        self._polygons = {zone.id: Polygon(camera.zone_polygon_px(zone)) for zone in camera.zones}
        self._areas_m2 = {zone.id: camera.zone_area_m2(zone) for zone in camera.zones}
        self._episodes: dict[tuple[VideoEventKind, str], _Episode] = {}
        self._tracks: list[_Track] = []

    def step(self, frame: Frame) -> FrameResult:
        """Analyse one frame."""
        detections = self.detector.detect(frame.image)
        local = (self.start_utc + timedelta(seconds=frame.t_s)).astimezone(self.camera.tz)
        events: list[VideoEvent] = []
        for zone in self.camera.zones:
            inside = self._people_in(zone, detections) if zone.active(local) else 0
            if VideoEventKind.INTRUSION in zone.events:
                events += self._update(
                    VideoEventKind.INTRUSION,
                    zone.id,
                    frame.t_s,
                    inside,
                    inside > 0,
                    zone.min_dwell_s,
                )
            area_m2 = self._areas_m2[zone.id]
            if VideoEventKind.DENSITY in zone.events and area_m2 is not None:
                limit = zone.max_people_per_m2 or 0.0
                density = inside / area_m2
                events += self._update(
                    VideoEventKind.DENSITY,
                    zone.id,
                    frame.t_s,
                    inside,
                    density > limit,
                    zone.min_density_s,
                    density,
                )
        crossings = self._track(frame.t_s, detections, local)
        for line in self.camera.lines:
            against = [c for c in crossings if c.line == line.id and c.wrong_way]
            events += self._wrong_way(line, frame.t_s, against)
        people = sum(detection.people for detection in detections)
        return FrameResult(frame.t_s, people, detections, crossings, events)

    def finish(self) -> list[VideoEvent]:
        """Close every open episode (the stream ended); the events among them."""
        closed = []
        for (kind, zone_id), episode in list(self._episodes.items()):
            if episode.raised:
                closed.append(self._event(kind, zone_id, episode, ongoing=False))
        self._episodes.clear()
        self._tracks.clear()
        return closed

    def _people_in(self, zone: Zone, detections: list[Detection]) -> int:
        polygon = self._polygons[zone.id]
        return sum(
            polygon.covers(Point(point))
            for detection in detections
            for point in detection.feet_points_px()
        )

    def _event(
        self, kind: VideoEventKind, zone_id: str, episode: _Episode, *, ongoing: bool
    ) -> VideoEvent:
        return VideoEvent(
            kind=kind,
            camera=self.camera.id,
            zone=zone_id,
            start_s=round(episode.start_s, 3),
            end_s=round(episode.last_s, 3),
            start_utc=(self.start_utc + timedelta(seconds=episode.start_s)).astimezone(UTC),
            count=episode.count,
            peak_people_per_m2=None if episode.peak is None else round(episode.peak, 4),
            ongoing=ongoing,
        )

    def _update(
        self,
        kind: VideoEventKind,
        zone_id: str,
        t_s: float,
        count: int,
        holds: bool,
        threshold_s: float,
        density: float | None = None,
    ) -> list[VideoEvent]:
        """Advance the episode of (kind, zone) by one frame; the events raised or closed."""
        key = (kind, zone_id)
        episode = self._episodes.get(key)
        out: list[VideoEvent] = []
        if episode is not None and t_s - episode.last_s > GAP_S:
            if episode.raised:
                out.append(self._event(kind, zone_id, episode, ongoing=False))
            del self._episodes[key]
            episode = None
        if not holds:
            return out
        if episode is None:
            episode = self._episodes[key] = _Episode(t_s, t_s, 1, density)
        episode.last_s = t_s
        episode.count = max(episode.count, min(count, episode.previous))
        episode.previous = count
        if density is not None:
            episode.peak = max(episode.peak or 0.0, density)
        if not episode.raised and t_s - episode.start_s >= threshold_s:
            episode.raised = True
            out.append(self._event(kind, zone_id, episode, ongoing=True))
        return out

    def _wrong_way(self, line: Line, t_s: float, against: list[Crossing]) -> list[VideoEvent]:
        key = (VideoEventKind.WRONG_WAY, line.id)
        episode = self._episodes.get(key)
        out: list[VideoEvent] = []
        if episode is not None and t_s - episode.last_s > line.merge_gap_s:
            out.append(self._event(VideoEventKind.WRONG_WAY, line.id, episode, ongoing=False))
            del self._episodes[key]
            episode = None
        if not against:
            return out
        people = sum(crossing.people for crossing in against)
        if episode is None:
            episode = self._episodes[key] = _Episode(t_s, t_s, people, raised=True)
            out.append(self._event(VideoEventKind.WRONG_WAY, line.id, episode, ongoing=True))
        else:
            episode.last_s = t_s
            episode.count += people
        return out

    def _track(self, t_s: float, detections: list[Detection], local: datetime) -> list[Crossing]:
        """Match detections to the previous frame's (greedy nearest feet points within the
        gate); the line crossings of the matched moves."""
        self._tracks = [track for track in self._tracks if t_s - track.last_s <= TRACK_MEMORY_S]
        feet = [detection.feet_px for detection in detections]
        gates = [GATE_HEIGHTS * float(self.camera.person_scale.height_px(y)) for _, y in feet]
        pairs = sorted(
            (float(np.hypot(x - track.feet_px[0], y - track.feet_px[1])), ti, di)
            for ti, track in enumerate(self._tracks)
            for di, (x, y) in enumerate(feet)
        )
        used_tracks: set[int] = set()
        matched: dict[int, _Track] = {}
        for distance, ti, di in pairs:
            if ti in used_tracks or di in matched or distance > gates[di]:
                continue
            used_tracks.add(ti)
            matched[di] = self._tracks[ti]
        crossings = []
        active_lines = [line for line in self.camera.lines if line.active(local)]
        for di, detection in enumerate(detections):
            track = matched.get(di)
            if track is None:
                self._tracks.append(_Track(feet[di], t_s))
                continue
            for line in active_lines:
                way = crosses(track.feet_px, feet[di], line)
                if way and t_s - track.crossed_s.get(line.id, -np.inf) > line.recross_s:
                    track.crossed_s[line.id] = t_s
                    crossings.append(Crossing(t_s, line.id, way < 0, detection.people))
            track.feet_px = feet[di]
            track.last_s = t_s
        return crossings


def analyse(
    camera: VideoCamera, frames: Iterable[Frame], start_utc: datetime
) -> Iterator[FrameResult]:
    """Every analysed frame's result; the last one also closes the episodes still open."""
    analyser = CameraAnalyser(camera, start_utc)
    last: FrameResult | None = None
    for frame in frames:
        if last is not None:
            yield last
        last = analyser.step(frame)
    if last is not None:
        yield FrameResult(
            last.t_s,
            last.people,
            last.detections,
            last.crossings,
            last.events + analyser.finish(),
        )
