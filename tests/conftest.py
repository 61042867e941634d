"""Shared fixtures: the real data beside the project (`../shared`), skipped with a reason when a
bare checkout does not have it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.services"]
"""Real Mosquitto and PostgreSQL fixtures (tests/services.py)."""

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_AUDIO_DIR = SHARED_DIR / "audio"
YAMNET_MODEL_PATH = SHARED_DIR / "models" / "yamnet.tflite"


@pytest.fixture(scope="session")
def shared_audio_dir() -> Path:
    """`../shared/audio/` (real labelled recordings); skips when absent."""
    if not (SHARED_AUDIO_DIR / "labels.csv").is_file():
        pytest.skip(f"real recordings not found at {SHARED_AUDIO_DIR} (bare checkout)")
    return SHARED_AUDIO_DIR


@pytest.fixture(scope="session")
def yamnet_model_path() -> Path:
    """`../shared/models/yamnet.tflite`; skips when absent."""
    if not YAMNET_MODEL_PATH.is_file():
        pytest.skip(f"YAMNet model not found at {YAMNET_MODEL_PATH} (bare checkout)")
    return YAMNET_MODEL_PATH
