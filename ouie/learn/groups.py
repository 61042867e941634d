"""Recording-group keys of the sources added to ../shared/audio in December 2026 (its README's
table): which clips are slices of one recording, so that a fold keeps them on one side.

Each key is prefixed by a short name of its source, so that no group spans two sources.
Sources not listed here keep `ouie.learn.dataset.recording_group`'s patterns (UrbanSound8K,
ESC, FSDD, the first glass-break set, SirenDetection) or are one group per file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath


def _gun_model(path: str) -> str | None:
    """`dataset/AK-12/3 (1).wav` → `AK-12`: no video id survives, a gun model is one group."""
    parts = PurePosixPath(path).parts
    return parts[-2] if len(parts) >= 2 else None


def _stem_before_part(path: str) -> str | None:
    """`.../zkIlnWqrDQE_part1s4.ogg` → `zkIlnWqrDQE` (a video id); an ESC-50 clip id
    (`1-115545-A-48`) → its Freesound id `esc-115545`: ESC's A/B/C clips of one id are cut from
    one Freesound recording, so they are one group (stricter than the stem alone)."""
    match = re.match(r"(.+?)_part", PurePosixPath(path).name)
    if not match:
        return None
    esc = re.fullmatch(r"\d+-(\d+)-[A-Z]-\d+", match.group(1))
    return f"esc-{esc.group(1)}" if esc else match.group(1)


def _first_36(path: str) -> str | None:
    """The first 36 characters of the file name (the app instance: about one baby)."""
    return PurePosixPath(path).name[:36]


def _speaker(path: str) -> str | None:
    """`2CVI_15_11_0_15_0_0_0.wav` → `2CVI`: the speaker id."""
    return PurePosixPath(path).name[:4]


def _edge_impulse_recording(path: str) -> str | None:
    """`...glass.cbor.5s48f1sm.ingestion-...` → `5s48f1sm`; `...glass.1748587834262.wav` →
    `1748587834262`: the Edge-Impulse recording a 1 s window was cut from."""
    match = re.search(r"\.cbor\.([0-9a-z]{8})\.", path) or re.search(r"\.(\d{10,})\.wav", path)
    return match.group(1) if match else None


SOURCE_GROUP_KEYS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "heyadrsh/gunshot-detection-system": ("heyadrsh", _gun_model),
    "tuantje/firework_thesis": ("fireworks", _stem_before_part),
    "gveres/donateacry-corpus": ("donateacry", _first_36),
    "ahmetnihat/ses_analizi": ("ses", _speaker),
    "prathambansal-swaja/Glass_break_sound_classification_using_transfer_learning": (
        "eiglass",
        _edge_impulse_recording,
    ),
}
"""source_repo → (key prefix, the key read from source_path)."""


def source_group(source_repo: str, source_path: str) -> str | None:
    """The recording-group key of a clip of one of `SOURCE_GROUP_KEYS`' sources, `prefix-key`;
    None for other sources (and for a path the source's rule cannot read)."""
    rule = SOURCE_GROUP_KEYS.get(source_repo)
    if rule is None:
        return None
    prefix, key_of = rule
    key = key_of(source_path)
    return f"{prefix}-{key}" if key else None
