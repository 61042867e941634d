"""Speed of the city simulator: render a scenario (default: the built-in `saint-etienne`, 50
sensors × 10 minutes) into a temporary recording folder and print JSON with the wall-clock and
CPU time, the real-time factor and what was written.

    PYTHONPATH=. .venv/bin/python bench/simulate.py [--scenario NAME|FILE] [--audio-dir DIR]

Method: one process on one core (numpy/scipy FFTs are single-threaded; the BLAS thread count is
pinned to 1 below), `time.perf_counter` for wall time and `time.process_time` for CPU time of the
whole `ouie.sim.render.simulate` call, output written to a temporary folder on local disk. On a
shared machine the wall time includes waiting for the CPU, the CPU time does not: both are given.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from ouie.sim.render import nlos_fractions, simulate  # noqa: E402
from ouie.sim.scenario import load_scenario  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="saint-etienne")
    parser.add_argument("--audio-dir", type=Path, default=None)
    parser.add_argument("--duration", type=float, default=None, help="Override the length, s.")
    args = parser.parse_args()

    scenario = load_scenario(args.scenario)
    with tempfile.TemporaryDirectory(prefix="ouie-bench-sim-") as out:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        folder = simulate(
            scenario, Path(out), audio_dir=args.audio_dir, duration_s=args.duration, progress=False
        )
        wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
        written_mb = sum(p.stat().st_size for p in Path(out).iterdir()) / 1e6
    duration_s = args.duration or scenario.duration_s
    truth = folder.truth or []
    nlos_all, nlos_near = nlos_fractions(scenario, 300.0)
    print(
        json.dumps(
            {
                "benchmark": "simulate",
                "scenario": scenario.name,
                "sensors": len(scenario.sensors),
                "events": len(truth),
                "buildings": len(scenario.buildings),
                "duration_s": duration_s,
                "sample_rate_hz": scenario.microphone.sample_rate_hz,
                "audio_dir": str(args.audio_dir) if args.audio_dir else None,
                "wall_s": round(wall_s, 2),
                "cpu_s": round(cpu_s, 2),
                "sensor_seconds_per_cpu_second": round(len(scenario.sensors) * duration_s / cpu_s),
                "written_mb": round(written_mb, 1),
                "nlos_fraction_all_pairs": round(nlos_all, 3),
                "nlos_fraction_pairs_within_300_m": round(nlos_near, 3),
                "cpu_count": os.cpu_count(),
                "method": "one process, BLAS threads 1; perf_counter (wall) and process_time "
                "(CPU) around simulate(); output to a temporary folder",
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
