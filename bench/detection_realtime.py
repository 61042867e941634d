"""Real-time factor of the full sensor pipeline vs the bare YAMNet model, on one core.

A 20-minute 44.1 kHz mono file is made from ../shared/audio clips laid over street noise (or from
the synthetic example scene when ../shared is absent). Then, pinned to one core (taskset):
- pipeline: `ouie detect FILE --json --model M` as a fresh process (start, imports, reading,
  resampling, YAMNet + head, speech gate, hysteresis, onsets: everything);
- bare model: YAMNet alone over the same audio (already 16 kHz in memory) at its standard
  0.48 s hop, no preserve-all-tensors, timing the invocations only.
RTF = audio duration / wall time. Prints JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from ouie.audio.io import SAMPLE_RATE_HZ, read_audio, resample

SHARED = Path(__file__).resolve().parents[2] / "shared"
DURATION_S = 20 * 60
RATE_HZ = 44_100


def make_long_file(path: Path, rng: np.random.Generator) -> None:
    """Street noise with a real clip every ~10 s."""
    from ouie.sensor.example import example_scene, street_noise

    total = DURATION_S * SAMPLE_RATE_HZ
    scene = street_noise(total, rng, level_dbfs=-35.0)
    audio_dir = SHARED / "audio"
    clips = sorted(audio_dir.glob("*/*.flac")) if audio_dir.is_dir() else []
    for start in range(0, total - 12 * SAMPLE_RATE_HZ, 10 * SAMPLE_RATE_HZ):
        clip = read_audio(clips[rng.integers(len(clips))]) if clips else example_scene()
        clip = clip[: 8 * SAMPLE_RATE_HZ]
        scene[start : start + len(clip)] += 0.5 * clip
    sf.write(str(path), np.clip(resample(scene, SAMPLE_RATE_HZ, RATE_HZ), -1, 1), RATE_HZ)


def bare_model_seconds(model: Path, samples: np.ndarray) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    output = interpreter.get_output_details()[0]["index"]
    hop = round(0.48 * SAMPLE_RATE_HZ)
    started = time.perf_counter()
    for start in range(0, len(samples) - 15_600 + 1, hop):
        interpreter.set_tensor(source, samples[start : start + 15_600])
        interpreter.invoke()
        interpreter.get_tensor(output)
    return time.perf_counter() - started


def main() -> None:
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else SHARED / "models" / "yamnet.tflite"
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    with tempfile.TemporaryDirectory() as tmp:
        long_file = Path(tmp) / "long.wav"
        make_long_file(long_file, np.random.default_rng(0))
        ouie = str(Path(sys.executable).with_name("ouie"))
        started = time.perf_counter()
        result = subprocess.run(
            [*pin, ouie, "detect", str(long_file), "--json", "--model", str(model)],
            capture_output=True,
            text=True,
            check=True,
        )
        pipeline_s = time.perf_counter() - started
        events = sum(1 for line in result.stdout.splitlines() if line.startswith("{"))
        if pin:
            os.sched_setaffinity(0, {0})
        bare_s = bare_model_seconds(model, read_audio(long_file))
    print(
        json.dumps(
            {
                "bench": "detection_realtime",
                "method": "20-min 44.1 kHz file; pipeline = `ouie detect --json` process incl. "
                "start; bare = YAMNet invocations at 0.48 s hop; both on one core (taskset)",
                "cpu_count": os.cpu_count(),
                "audio_s": DURATION_S,
                "pipeline_s": round(pipeline_s, 2),
                "pipeline_rtf": round(DURATION_S / pipeline_s, 1),
                "bare_model_s": round(bare_s, 2),
                "bare_model_rtf": round(DURATION_S / bare_s, 1),
                "pipeline_over_bare": round(pipeline_s / bare_s, 2),
                "events": events,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
