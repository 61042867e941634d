"""Speech is never a target: real and synthesised speech raise no report, no report carries a
speech label or score, and a gunshot over people talking is still reported."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ouie.audio.io import read_audio
from ouie.core.classes import ALERTING_CLASSES, EventClass
from ouie.core.timebase import iso_to_ns
from ouie.sensor.config import DetectorConfig
from ouie.sensor.pipeline import SensorPipeline

START_NS = iso_to_ns("2026-11-25T18:00:00Z")
SENTENCES = (
    "Good evening everyone, the meeting starts in five minutes, please take your seats.",
    "Excuse me, do you know where the nearest metro station is? I think it is on the left.",
)


@pytest.fixture(scope="module")
def pipeline(yamnet_model_path: Path) -> SensorPipeline:
    return SensorPipeline(DetectorConfig(backend="yamnet", model_path=yamnet_model_path))


@pytest.fixture(scope="module")
def synthetic_talk(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Two voices (espeak-ng, offline), one after the other."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (scripts/system-deps.sh installs it)")
    folder = tmp_path_factory.mktemp("talk")
    parts = []
    for i, (voice, text) in enumerate(zip(("en", "fr"), SENTENCES, strict=True)):
        wav = folder / f"{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
        parts.append(read_audio(wav))
    return np.concatenate(parts)


def real_speech(audio_dir: Path, n: int = 16) -> list[np.ndarray]:
    """Conversations and spoken digits from ../shared/audio/speech, spread over the folder."""
    paths = sorted((audio_dir / "speech").glob("*"))
    return [read_audio(p) for p in paths[:: max(1, len(paths) // n)][:n]]


def test_real_and_synthetic_speech_raise_no_alerting_report(
    pipeline: SensorPipeline, shared_audio_dir: Path, synthetic_talk: np.ndarray
) -> None:
    clips = [*real_speech(shared_audio_dir), synthetic_talk]
    reports = [r for clip in clips for r in pipeline.reports(clip, START_NS, "s-1")]
    assert not [r for r in reports if r.class_ in ALERTING_CLASSES], reports
    for report in reports:
        assert "speech" not in report.to_json().lower()


def test_a_gunshot_over_talking_is_still_reported(
    pipeline: SensorPipeline, shared_audio_dir: Path, synthetic_talk: np.ndarray
) -> None:
    """Gunshots the detector reports on their own are still reported with people talking under
    them, real conversation or synthetic, the talk's RMS 40 dB below the shot's peak (a shot a
    few tens of metres away, a conversation nearby). Measured on every 6th gunshot clip (69):
    ouie-head/5 reported 45 on their own, 42 of those over conversation and 41 over synthetic
    voices; ouie-head/6 (YAMNet's gunshot score as a prior, gunshot at 0.8) 46, 40 and 41.
    Every 12th clip is sampled here; 12 clips of one source (before) swung from 4 of 4 to 2 of 5
    between two heads that do the same on 69. The head was never trained on mixtures
    (docs/results/detection.md weighs what that costs)."""
    shots = [read_audio(p) for p in sorted((shared_audio_dir / "gunshot").glob("*"))[::12]]
    alone = [
        s
        for s in shots
        if any(r.class_ == EventClass.GUNSHOT for r in pipeline.reports(s, START_NS, "s-1"))
    ]
    assert len(alone) >= len(shots) / 2
    conversation = np.concatenate(
        [read_audio(p) for p in sorted((shared_audio_dir / "speech").glob("scream-detector*"))[:6]]
    )
    for talk in (conversation, synthetic_talk):
        found = 0
        for shot in alone:
            length = max(len(shot) + 32_000, 64_000)
            mixture = np.tile(talk, -(-length // len(talk)))[:length].astype(np.float64)
            mixture *= 0.005 / np.sqrt(np.mean(mixture**2))  # talk RMS at 0.5 / 100: −40 dB
            mixture[16_000 : 16_000 + len(shot)] += shot * (0.5 / np.abs(shot).max())
            reports = pipeline.reports(mixture.astype(np.float32), START_NS, "s-1")
            found += any(r.class_ == EventClass.GUNSHOT for r in reports)
        assert found >= 0.75 * len(alone), f"{found} of {len(alone)} gunshots over talk reported"
