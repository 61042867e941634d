"""Labelled audio sets: folder-per-class recordings, with `labels.csv` (source, license) when
present, and the recording each clip was cut from (the unit of grouped cross-validation)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ouie.core.classes import EventClass

NONE_LABEL = "none"
TRAINED_CLASSES: tuple[str, ...] = (
    EventClass.GUNSHOT.value,
    EventClass.EXPLOSION.value,
    EventClass.GLASS_BREAK.value,
    EventClass.SCREAM.value,
    EventClass.SIREN.value,
)
"""ouie classes with labelled data; every other folder is `none` (everyday sounds, speech)."""
STREET_BACKGROUND_FOLDERS = ("traffic", "background_noise", "engine_idling", "air_conditioner")
"""Folders whose clips serve as street backgrounds for mixing augmentation."""
SPEECH_FOLDERS = ("speech",)
"""Folders whose clips serve as talking backgrounds (a gunshot over speech is still a gunshot)."""
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".aiff", ".aif"}


@dataclass(frozen=True)
class LabelledClip:
    """One labelled recording."""

    path: Path
    folder: str
    label: str
    group: str
    license_note: str
    source: str = "unknown"
    """The dataset it comes from (`labels.csv`'s source_repo; the unit of cross-source
    evaluation, `training.cross_source`)."""


def ouie_label(folder: str) -> str:
    """The training label of a folder: its ouie class when it names one, else `none`."""
    return folder if folder in TRAINED_CLASSES else NONE_LABEL


_GROUP_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"UrbanSound8K/audio/fold\d+/(\d+)-", "us8k-{}"),  # freesound id of the recording
    (r"^\d+ - [^/]+/\d+-(\d+)-[A-Z]", "esc-{}"),  # ESC clip id (A/B/C: same recording)
    (r"recordings/\d+_([a-z]+)_\d+", "fsdd-{}"),  # one speaker's recordings
    (r"\.([0-9a-z]{8})\.ingestion-[^.]*\.s\d+\.json", "glass-{}"),  # windows of one recording
    (r"SirenDetection/([^/]+)/([a-z_]*\d+)(?:_\d+)?\.wav", "sirendet-{}"),  # ambulance10_0
    (r"SirenDetection/[^/]+/(\d+)-", "us8k-{}"),
)


def recording_group(source_repo: str, source_path: str) -> str:
    """The original recording a clip was cut from, as far as its source path tells.

    UrbanSound8K/ESC-10 slices share their freesound id; the glass-break set's 1 s windows share a
    recording hash; FSDD groups by speaker; other clips are their own recording."""
    for pattern, template in _GROUP_PATTERNS:
        match = re.search(pattern, source_path)
        if match:
            return template.format("-".join(match.groups()))
    return f"{source_repo}:{source_path}"


def load_labelled_set(data_dir: Path) -> list[LabelledClip]:
    """Clips of a folder-per-class set; `labels.csv` (file, class, source_repo, source_path,
    license_note) gives groups, sources and licenses, otherwise each file is its own group (of
    an unknown source)."""
    labels_csv = data_dir / "labels.csv"
    if labels_csv.is_file():
        with labels_csv.open(newline="", encoding="utf-8") as stream:
            return [
                LabelledClip(
                    path=data_dir / row["file"],
                    folder=row["class"],
                    label=ouie_label(row["class"]),
                    group=recording_group(row["source_repo"], row["source_path"]),
                    license_note=row.get("license_note", ""),
                    source=row.get("source_repo") or "unknown",
                )
                for row in csv.DictReader(stream)
            ]
    clips = []
    for path in sorted(data_dir.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES:
            folder = path.parent.name
            rel = str(path.relative_to(data_dir))
            clips.append(LabelledClip(path, folder, ouie_label(folder), rel, "not stated"))
    return clips
