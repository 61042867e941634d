"""What the operator is shown on the demo scenario, per hour: alerts (true and false),
unconfirmed incidents, context episodes, all incidents; run it under another checkout's
PYTHONPATH to get that checkout's figures on the very same reports (before/after).

Method: the scenario rendered as `ouie demo` renders it (`ouie.app.demo.prepare_recording`, same
cache), every sensor's audio through the sensor pipeline once (reports cached under
`~/.cache/ouie/operator_view/`, keyed by the recording, the model and the detector's config, head
version included), then the streaming associator with each report delivered at its
onset (as `ouie.app.locate.fuse_reports`, but a report whose fusion raises is logged and skipped,
as the central service does), scored against the scenario's truth
(`ouie.fusion.evaluation.evaluate`). Prints one JSON object.

    PYTHONPATH=. nice python bench/operator_view.py --duration-s 300 --out after.json
    PYTHONPATH=/work/main nice python bench/operator_view.py --duration-s 300 --out before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

from street_options import add_detector_options
from window_cache import RememberingScorer

from ouie.app.demo import prepare_recording, simulated_street_detector
from ouie.audio.io import read_audio
from ouie.core.classes import ALERTING_CLASSES
from ouie.core.incident import Incident
from ouie.core.recording import RecordingFolder
from ouie.core.report import EventReport
from ouie.fusion.association import Associator
from ouie.fusion.config import FusionConfig
from ouie.fusion.evaluation import evaluate
from ouie.sensor.backends import build_scorer
from ouie.sensor.config import DetectorConfig
from ouie.sensor.model_files import cache_dir
from ouie.sensor.pipeline import SensorPipeline
from ouie.sim.scenario import Scenario, load_scenario

CONTEXT_CLASSES = {"siren", "alarm", "fireworks"}


def cached_reports(
    args: argparse.Namespace,
) -> tuple[list[EventReport], RecordingFolder, Scenario, str]:
    """(reports of every sensor, the recording, its scenario, detector name), detected once per
    input."""
    args.audio_dir, args.model = args.audio_dir.resolve(), args.model.resolve()
    scenario = load_scenario(args.scenario)
    args.duration_s = min(args.duration_s, scenario.duration_s)
    recording = prepare_recording(scenario, args.duration_s, cache_dir() / "demo", args.audio_dir)
    config = simulated_street_detector(
        args.model, scenario.microphone.full_scale_db_spl, args.profile, args.input_gain_db
    )
    rules = json.loads(args.rules) if args.rules else {}
    config = DetectorConfig.model_validate({**config.model_dump(), **rules})
    gain_db = config.input_gain_db
    scorer = build_scorer(config)
    detector = scorer.model_id.name
    key = f"{recording.path.name}|{args.model}|{detector}|{gain_db:g}|v2"  # v2: headroom gain
    cache = Path.home() / ".cache" / "ouie"
    reports_key = f"{key}|{config.model_dump_json()}"  # every rule that shapes the reports
    path = (
        cache / "operator_view" / (hashlib.sha256(reports_key.encode()).hexdigest()[:12] + ".jsonl")
    )
    if not path.is_file():
        windows = cache / "windows" / (hashlib.sha256(key.encode()).hexdigest()[:12] + ".pickle")
        remembering = RememberingScorer(scorer, windows)
        pipeline = SensorPipeline(config, remembering)
        reports = [
            r
            for site in recording.sensors
            for r in pipeline.reports(
                read_audio(recording.wav_path(site.id)), recording.start_ns, site.id
            )
        ]
        remembering.save()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        label = f"{detector}, input gain {gain_db:g} dB" + (f", {args.rules}" if rules else "")
        lines = [json.dumps({"detector": label})] + [r.to_json() for r in reports]
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.rename(path)
    first, *rest = path.read_text(encoding="utf-8").splitlines()
    detector = json.loads(first)["detector"]
    return [EventReport.from_json(line) for line in rest], recording, scenario, detector


def fuse(
    reports: list[EventReport],
    recording: RecordingFolder,
    scenario: Scenario,
    errors: Counter[str] | None = None,
) -> tuple[list[Incident], Associator]:
    """The last revision of every incident, each report delivered at its onset (a report whose
    fusion raises is counted in `errors` and skipped, as the central service does)."""
    config = FusionConfig(air_temperature_c=scenario.weather.air_temperature_c)
    associator = Associator(recording.sensors, scenario.frame, config)
    latest: dict[str, Incident] = {}
    for report in sorted(reports, key=lambda r: (r.onset_ns, r.sensor_id)):
        try:
            emitted = associator.add(report, report.onset_ns)
        except Exception as error:  # the central service logs and skips such a report
            if errors is None:
                raise
            errors[type(error).__name__] += 1
            continue
        latest.update({i.incident_id: i for i in emitted})
    latest.update({i.incident_id: i for i in associator.flush()})
    return list(latest.values()), associator


def raises_alert(incident: Incident) -> bool:
    """Alerting and not unconfirmed (a checkout without the policy: alerting)."""
    return bool(getattr(incident, "raises_alert", incident.alerting))


def parser_with_common_options(description: str) -> argparse.ArgumentParser:
    """The options that choose the rendering and the sensors' detector (shared with
    bench/alerting_events.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scenario", default="saint-etienne")
    parser.add_argument("--duration-s", type=float, default=600.0)
    parser.add_argument("--audio-dir", type=Path, default=Path("../shared/audio"))
    parser.add_argument("--model", type=Path, default=Path("../shared/models/yamnet.tflite"))
    add_detector_options(parser)
    return parser


def main() -> None:
    parser = parser_with_common_options(__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    reports, recording, scenario, detector = cached_reports(args)
    errors: Counter[str] = Counter()
    started = time.process_time()
    incidents, associator = fuse(reports, recording, scenario, errors)
    fusion_cpu_s = time.process_time() - started
    hours = args.duration_s / 3600.0
    truth = recording.truth or []
    evaluation = evaluate(incidents, truth, scenario.frame)
    matched = {m.incident_id for m in evaluation.matches if m.incident_id}
    alerts = [i for i in incidents if raises_alert(i)]
    unconfirmed = [i for i in incidents if i.alerting and not raises_alert(i)]
    context = [i for i in incidents if i.class_ not in ALERTING_CLASSES]
    commit = subprocess.run(
        [
            "git",
            "-C",
            str(Path(__import__("ouie").__file__).parent),
            "rev-parse",
            "--short",
            "HEAD",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    result = {
        "bench": "operator_view",
        "ouie_commit": commit,
        "cpu_count": os.cpu_count(),
        "scenario": args.scenario,
        "simulated_s": args.duration_s,
        "detector": detector,
        "reports": len(reports),
        "fusion_errors": dict(errors),
        "fusion_cpu_s": round(fusion_cpu_s, 2),
        "alerting_true_events": evaluation.alerting_events,
        "detected": evaluation.detected,
        "fixed": evaluation.fixed,
        "fixed_within_10_m": evaluation.fixed_within_10_m,
        "incidents": len(incidents),
        "incidents_per_hour": round(len(incidents) / hours, 1),
        "alerts": len(alerts),
        "alerts_true": sum(i.incident_id in matched for i in alerts),
        "false_alerts": sum(i.incident_id not in matched for i in alerts),
        "false_alerts_per_hour": round(
            sum(i.incident_id not in matched for i in alerts) / hours, 1
        ),
        "unconfirmed": len(unconfirmed),
        "unconfirmed_true": sum(i.incident_id in matched for i in unconfirmed),
        "context_episodes": len(context),
        "context_sounds": sum(
            e.class_ in CONTEXT_CLASSES and e.time_s < args.duration_s for e in scenario.events
        ),
        "by_class_status": dict(Counter(f"{i.class_}/{i.status}" for i in incidents).most_common()),
        "alerts_detail": [
            {
                "t_s": round((i.onset_ns - recording.start_ns) / 1e9, 2),
                "class": str(i.class_),
                "status": str(i.status),
                "sensors": i.n_sensors,
                "east_m": None if i.east_m is None else round(i.east_m, 1),
                "north_m": None if i.north_m is None else round(i.north_m, 1),
                "uncertainty_m": None if i.uncertainty_m is None else round(i.uncertainty_m, 1),
                "shots": len(i.burst.shots) if getattr(i, "burst", None) else 1,
                "heard_of_expected": [i.assessment.heard_by, i.assessment.expected_sensors]
                if i.assessment
                else None,
                "score": round(i.score, 2),
                "near_fireworks": bool(i.assessment and i.assessment.context_nearby),
                "true": i.incident_id in matched,
            }
            for i in sorted(alerts, key=lambda i: i.onset_ns)
        ],
        "rejected": dict(associator.stats.rejected),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
