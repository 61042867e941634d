"""Scoring video events against a hand-made annotation (bench/data/vtest_annotation.yaml's
format): people per frame, line crossings, zone episodes.

Crossings: a found crossing of n people may stand for up to n annotated crossings of the same
line and direction within `tolerance_s`; matching is greedy by time difference. Found is
recall's numerator, false the crossings (people) left unmatched. Episodes: an annotated episode
is found when an event of the same zone overlaps it; an event overlapping none is false.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import Field

from ouie.core.config import StrictModel, validate_config
from ouie.video.events import Crossing, VideoEvent


class AnnotatedCrossing(StrictModel):
    frame: int = Field(ge=0)
    direction: str = Field(pattern="^(left_to_right|right_to_left)$")
    note: str | None = None


class AnnotatedEpisode(StrictModel):
    start_s: float
    end_s: float
    count: int = Field(ge=1)
    note: str | None = None


class Annotation(StrictModel):
    """Ground truth of one clip, made by looking at its frames (see the file's header)."""

    video: str
    fps: float = Field(gt=0)
    frames: int = Field(gt=0)
    people: dict[int, int] = Field(description="Frame index → people visible.")
    people_notes: dict[int, str] = Field(default_factory=dict)
    crossings: list[AnnotatedCrossing] = Field(description="Crossings of the clip's one line.")
    intrusions: dict[str, list[AnnotatedEpisode]] = Field(description="Zone → episodes ≥ dwell.")
    short_visits: dict[str, list[AnnotatedEpisode]] = Field(default_factory=dict)


def load_annotation(path: str | Path) -> Annotation:
    """Read and validate an annotation file."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return validate_config(data, Annotation, source=str(path))


@dataclass(frozen=True)
class Score:
    """found (true positives), missed, false; precision and recall (None when undefined)."""

    found: int
    missed: int
    false: int

    @property
    def precision(self) -> float | None:
        return None if self.found + self.false == 0 else self.found / (self.found + self.false)

    @property
    def recall(self) -> float | None:
        return None if self.found + self.missed == 0 else self.found / (self.found + self.missed)

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "found": self.found,
            "missed": self.missed,
            "false": self.false,
            "precision": self.precision,
            "recall": self.recall,
        }


def score_crossings(
    truth_s: Sequence[float], found: Sequence[Crossing], tolerance_s: float
) -> Score:
    """Annotated crossing times against found crossings (same line and direction already)."""
    capacity = [crossing.people for crossing in found]
    pairs = sorted(
        (abs(crossing.t_s - t), ti, fi)
        for ti, t in enumerate(truth_s)
        for fi, crossing in enumerate(found)
        if abs(crossing.t_s - t) <= tolerance_s
    )
    matched: set[int] = set()
    used = [0] * len(found)
    for _, ti, fi in pairs:
        if ti in matched or used[fi] >= capacity[fi]:
            continue
        matched.add(ti)
        used[fi] += 1
    unmatched_people = sum(capacity[fi] for fi in range(len(found)) if used[fi] == 0)
    return Score(len(matched), len(truth_s) - len(matched), unmatched_people)


def score_episodes(truth: Sequence[AnnotatedEpisode], events: Sequence[VideoEvent]) -> Score:
    """Annotated episodes of one zone against its closed events (overlap in time)."""

    def overlaps(episode: AnnotatedEpisode, event: VideoEvent) -> bool:
        return event.start_s <= episode.end_s and episode.start_s <= event.end_s

    found = sum(any(overlaps(episode, event) for event in events) for episode in truth)
    false = sum(not any(overlaps(episode, event) for episode in truth) for event in events)
    return Score(found, len(truth) - found, false)


def count_errors(truth: dict[int, int], counted: dict[int, int]) -> np.ndarray:
    """counted − truth on each annotated frame (counted: frame index → people)."""
    return np.array([counted[frame] - people for frame, people in sorted(truth.items())])
