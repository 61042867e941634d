"""End of sound → camera command, through the whole in-process chain, in real time (JSON).

Method: a generated scenario (six sensors around a 250 m square, one PTZ camera, `--events`
gunshots at seeded random places inside the square, one every `--spacing-s`) is rendered by the
simulator and replayed by `ouie demo`'s chain at speed 1 (so simulated time is wall time): the
sensors' detectors (built-in by default; `--detector yamnet` with a model) hear their audio in
0.5 s blocks and publish reports on the in-process bus, the central service validates, stores
and fuses them, and the cue controller moves a virtual ONVIF camera (cue mode auto, declared as
a demonstration) and confirms the move by GetStatus.

Per incident, from the store, two reference instants:
- `from_onset`: the latest onset among its reports (the sound's arrival at the last sensor
  used). The sound ends after its onset, so onset → camera bounds end of sound → camera from
  above: p99 < 1 s from the onset meets the target whatever the sound's length. It does not
  depend on what the reports' `duration_s` means, so it compares sensor versions fairly.
- `from_reported_end`: the latest onset + duration_s of its reports, as the central service
  computes its cue latency (`ouie_cue_latency_seconds`). Sensors that reported when an event
  closed (earlier versions) put that end at the end of the detected span (≥ the end of the
  sound, window-quantised); sensors that report at confirmation (now) put it at the end of the
  audio that confirmed the event, so this measures the processing chain alone.
From each: report_s (until the last of its reports reached the central service), incident_s
(until the incident was first stored), camera_s (until the camera move was commanded).

With `--notify`, the chain also sends every incident out as `ouie serve` does with CAP and the
JSON webhook enabled, to a loopback receiver (`ouie.notify`): the same figures show whether
alerting costs fusion or cueing anything; `notify` then says what the receiver got.

Usage: `python bench/e2e_latency.py [--events 20] [--spacing-s 5] [--detector builtin]
[--model M] [--no-verify] [--notify]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from street_options import add_input_gain_option

from ouie.app.demo import DemoOptions, running_demo
from ouie.core.geo import LocalFrame
from ouie.core.timebase import NS_PER_S
from ouie.notify.config import NotifyConfig
from ouie.sensor.config import Backend, DetectorConfig
from ouie.store.models import CueRow, IncidentRow, ReportRow

FRAME = LocalFrame(45.4397, 4.3872, 520.0)
SENSORS_ENU_M = [(-125, -125), (125, -125), (125, 125), (-125, 125), (0, 160), (0, -160)]
CAMERA_ENU_M = (-20.0, -150.0)
TARGET_P99_S = 1.0
REFERENCES = ("from_onset", "from_reported_end")


def wgs84(east_m: float, north_m: float) -> dict[str, float]:
    lat, lon, _ = FRAME.to_wgs84(east_m, north_m, FRAME.origin_height_m)
    return {"lat": round(float(lat), 7), "lon": round(float(lon), 7)}


def write_scenario(folder: Path, events: int, spacing_s: float, seed: int) -> Path:
    """The benchmark scenario as a YAML file."""
    rng = np.random.default_rng(seed)
    places = rng.uniform(-90, 90, size=(events, 2))
    scenario = {
        "name": f"latency-{events}x{spacing_s:g}s",
        "origin": {"lat": FRAME.origin_lat_deg, "lon": FRAME.origin_lon_deg, "height_m": 520.0},
        "start_utc": "2026-06-21T21:30:00Z",
        "duration_s": 2.0 + events * spacing_s,
        "seed": seed,
        "sensors": [
            {"id": f"s{i}", **wgs84(e, n), "height_m": 4.5}
            for i, (e, n) in enumerate(SENSORS_ENU_M)
        ],
        "cameras": [{"id": "cam-1", **wgs84(*CAMERA_ENU_M), "height_m": 8.0, "heading_deg": 0.0}],
        "events": [
            {"time_s": 2.0 + k * spacing_s, "class": "gunshot", **wgs84(float(e), float(n))}
            for k, (e, n) in enumerate(places)
        ],
    }
    path = folder / "latency.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return path


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """n, p50, p99 and max of `values`, s."""
    if not values:
        return {"n": 0, "p50_s": None, "p99_s": None, "max_s": None}
    array = np.asarray(values)
    return {
        "n": len(values),
        "p50_s": round(float(np.percentile(array, 50)), 4),
        "p99_s": round(float(np.percentile(array, 99)), 4),
        "max_s": round(float(array.max()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--spacing-s", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--detector", choices=[b.value for b in Backend], default="builtin")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument(
        "--no-verify", action="store_true", help="YAMNet: the window head alone (no verifier)."
    )
    parser.add_argument(
        "--notify", action="store_true", help="Send CAP and webhook alerts to a local receiver."
    )
    add_input_gain_option(parser)
    args = parser.parse_args()

    receiver = None
    with tempfile.TemporaryDirectory(prefix="ouie-latency-") as tmp:
        folder = Path(tmp)
        notify = NotifyConfig(outbox_dir=folder / "outbox")
        if args.notify:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.notify_receiver import Receiver

            receiver = Receiver()
            receiver.start()
            notify = NotifyConfig.model_validate(
                {
                    "outbox_dir": folder / "outbox",
                    "cap": {
                        "enabled": True,
                        "destinations": [{"name": "cap", "url": receiver.url}],
                    },
                    "webhook": {
                        "enabled": True,
                        "destinations": [{"name": "hook", "url": receiver.url + "/json"}],
                    },
                }
            )
        options = DemoOptions(
            scenario=str(write_scenario(folder, args.events, args.spacing_s, args.seed)),
            speed=1.0,
            auto_cue=True,
            port=0,
            detector=DetectorConfig(
                backend=Backend(args.detector),
                model_path=args.model,
                verify=not args.no_verify,
                **({} if args.input_gain_db is None else {"input_gain_db": args.input_gain_db}),
            ),
            cache_dir=folder / "cache",
            notify=notify,
        )
        with running_demo(options, folder) as (run, replay):
            replay.run()
            summary = replay.summary()
            stages = ("report_s", "incident_s", "camera_s")
            breakdown = {ref: {stage: [] for stage in stages} for ref in REFERENCES}
            with run.store.session() as session:
                for incident in session.query(IncidentRow).all():
                    reports = session.query(ReportRow).filter(
                        ReportRow.report_id.in_(incident.report_ids)
                    )
                    reports = list(reports)
                    if not reports:
                        continue
                    references_ns = {
                        "from_onset": max(r.onset_ns for r in reports),
                        "from_reported_end": max(
                            r.onset_ns + round(r.duration_s * NS_PER_S) for r in reports
                        ),
                    }
                    last_in_ns = max(r.received_at_ns for r in reports)
                    cues = session.query(CueRow).filter(CueRow.incident_id == incident.id)
                    commanded_ns = [c.executed_at_ns for c in cues if c.executed_at_ns]
                    for ref, at_ns in references_ns.items():
                        since = breakdown[ref]
                        since["report_s"].append((last_in_ns - at_ns) / NS_PER_S)
                        since["incident_s"].append((incident.created_at_ns - at_ns) / NS_PER_S)
                        since["camera_s"] += [(t - at_ns) / NS_PER_S for t in commanded_ns]

    camera = percentiles(breakdown["from_onset"]["camera_s"])
    print(
        json.dumps(
            {
                "benchmark": "e2e_latency",
                "method": "in-process chain at speed 1: simulated audio → detector (0.5 s blocks)"
                " → in-process bus → central (validation, store, association, TDOA) → cue "
                "controller → virtual ONVIF camera AbsoluteMove + GetStatus confirmation; "
                "latency on the replay clock from the latest onset of the incident's reports "
                "(an upper bound of end of sound → camera) and from their latest onset + "
                "duration_s (the central service's cue latency)",
                "cpu_count": os.cpu_count(),
                "detector": summary.detector,
                "input_gain_db": summary.input_gain_db,
                "events": args.events,
                "detected": summary.detected,
                "located": summary.fixed,
                "alerts_true": summary.alerts_true,
                "false_alerts": summary.false_incidents,
                "unconfirmed": summary.unconfirmed,
                "median_error_m": summary.median_error_m,
                "cue_states": summary.cue_states,
                "load_average_1min": round(os.getloadavg()[0], 2),
                "latency": {
                    ref: {stage: percentiles(v) for stage, v in since.items()}
                    for ref, since in breakdown.items()
                },
                "target_p99_s": TARGET_P99_S,
                "meets_target": camera["p99_s"] is not None and camera["p99_s"] < TARGET_P99_S,
                "notify": None
                if receiver is None
                else {
                    "outputs": ["cap", "webhook"],
                    "received": {
                        path: sum(r.path == path for r in receiver.received)
                        for path in ("/hook", "/hook/json")
                    },
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
