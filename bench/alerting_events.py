"""Each alerting event of a simulated evening, followed through the chain: which sensors heard
it (distance, level, SNR, line of sight: the renderer's truth), what each sensor reported near
its arrival (class, score, onset error), and what fusion made of those reports (class, status,
members, residual, fix error, network assessment) — with a one-word verdict per event.

Uses `bench/operator_view.py`'s cached reports (the same rendering, detector and fusion), so
it runs in seconds once those exist. Prints one JSON object (`events`: one row per alerting
event) and, with --table, a Markdown table on stderr.

    PYTHONPATH=. nice python bench/alerting_events.py --duration-s 600 --table
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ouie.core.classes import ALERTING_CLASSES
from ouie.core.incident import Incident
from ouie.core.recording import RecordingFolder, TruthEvent
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S, iso_to_ns
from ouie.fusion.evaluation import Match, evaluate

sys.path.insert(0, str(Path(__file__).parent))
from operator_view import cached_reports, fuse, parser_with_common_options

HEARD_SNR_DB = 0.0
"""A sensor 'heard' an event when the rendered direct or diffracted arrival stands this far
above the background (the renderer's `snr_db`)."""
REPORT_LEAD_S, REPORT_LAG_S = 0.3, 1.0
"""A report belongs to a sensor's arrival when its onset lies in [arrival − lead, arrival + lag]."""


def main() -> None:
    parser = parser_with_common_options(__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="Markdown table on stderr")
    args = parser.parse_args()
    reports, recording, scenario, detector = cached_reports(args)
    incidents, _ = fuse(reports, recording, scenario)
    truth = [
        t
        for t in (recording.truth or [])
        if t.onset_ns < recording.start_ns + args.duration_s * NS_PER_S
    ]
    evaluation = evaluate(incidents, truth, scenario.frame)
    matches = {m.truth_index: m for m in evaluation.matches}
    by_report = {r: i for i in incidents for r in i.report_ids}
    rows = []
    for index, event in enumerate(truth):
        if event.class_ not in ALERTING_CLASSES:
            continue
        rows.append(describe(index, event, reports, by_report, matches[index], recording))
    result = {
        "bench": "alerting_events",
        "scenario": args.scenario,
        "simulated_s": args.duration_s,
        "detector": detector,
        "detected": evaluation.detected,
        "fixed": evaluation.fixed,
        "fixed_within_10_m": sum(
            m.error_m is not None and m.error_m <= 10.0 for m in evaluation.matches
        ),
        "events": rows,
    }
    print(json.dumps(result, indent=2))
    if args.table:
        print(markdown(rows), file=sys.stderr)


def describe(
    index: int,
    event: TruthEvent,
    reports: list[EventReport],
    by_report: dict[str, Incident],
    match: Match,
    recording: RecordingFolder,
) -> dict[str, object]:
    """One row: the event, its sensors and reports, the incidents its reports went to."""
    extra = event.model_extra or {}
    arrivals = extra.get("arrivals", {})
    heard = sorted(
        ((sensor_id, a) for sensor_id, a in arrivals.items() if a["snr_db"] > HEARD_SNR_DB),
        key=lambda item: item[1]["distance_m"],
    )
    sensors = []
    own_reports = []
    for sensor_id, arrival in heard:
        at_ns = iso_to_ns(arrival["recorded_utc"])
        near = [
            r
            for r in reports
            if r.sensor_id == sensor_id
            and at_ns - REPORT_LEAD_S * NS_PER_S <= r.onset_ns <= at_ns + REPORT_LAG_S * NS_PER_S
        ]
        sensors.append(
            {
                "sensor": sensor_id,
                "distance_m": round(arrival["distance_m"]),
                "level_db_spl": round(arrival["level_db_spl"], 1),
                "snr_db": round(arrival["snr_db"], 1),
                "nlos": arrival["nlos"],
                "reports": [
                    {
                        "class": str(r.class_),
                        "score": round(r.score, 2),
                        "onset_error_ms": round((r.onset_ns - at_ns) / 1e6, 1),
                        "incident": by_report[r.report_id].incident_id
                        if r.report_id in by_report
                        else None,
                    }
                    for r in near
                ],
            }
        )
        own_reports += near
    incidents = list(
        {
            by_report[r.report_id].incident_id: by_report[r.report_id]
            for r in sorted(own_reports, key=lambda r: r.onset_ns)
            if r.report_id in by_report
        }.values()
    )
    matched = match.incident_id
    verdict = judge(event, heard, own_reports, incidents, match)
    return {
        "t_s": round((event.onset_ns - recording.start_ns) / NS_PER_S, 2),
        "class": str(event.class_),
        "source_level_db_spl": extra.get("source_level_db_spl"),
        "source": extra.get("source"),
        "heard_by": len(heard),
        "nearest_m": [round(a["distance_m"]) for _, a in heard[:3]],
        "sensors_reporting": len({r.sensor_id for r in own_reports}),
        "report_classes": dict(
            sorted(
                {
                    str(c): sum(r.class_ == c for r in own_reports)
                    for c in {r.class_ for r in own_reports}
                }.items()
            )
        ),
        "incidents": [
            {
                "id": i.incident_id,
                "class": str(i.class_),
                "status": str(i.status),
                "sensors": i.n_sensors,
                "reports": len(i.report_ids),
                "residual_ms": round(i.residual_rms_s * 1e3, 2) if i.residual_rms_s else None,
                "uncertainty_m": round(i.uncertainty_m, 1) if i.uncertainty_m else None,
                "raises_alert": i.raises_alert,
                "matched": i.incident_id == matched,
            }
            for i in incidents
        ],
        "matched_error_m": None if match.error_m is None else round(match.error_m, 2),
        "verdict": verdict,
        "sensors": sensors,
    }


def judge(
    event: TruthEvent,
    heard: list[tuple[str, dict[str, object]]],
    own: list[EventReport],
    incidents: list[Incident],
    match: Match,
) -> str:
    """missed (no sensor reported it) / context (reported, fused as a context class) /
    unlocated (detected, no fix) / located (fix within 10 m) / off (fix over 10 m)."""
    if match.incident_id is None:
        if not own:
            return "missed: no report"
        if any(i.class_ not in ALERTING_CLASSES for i in incidents):
            return "missed: fused as context"
        return "missed: reports elsewhere"
    matched = next((i for i in incidents if i.incident_id == match.incident_id), None)
    context = matched is not None and matched.class_ not in ALERTING_CLASSES
    error = match.error_m
    if error is None:
        status = matched.status if matched else "?"
        return f"detected, not located ({status})" + (" as context" if context else "")
    where = "located" if error <= 10.0 else "off"
    return f"{where} {error:.1f} m" + (" as context" if context else "")


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| t (s) | class | heard by (SNR > 0) | nearest (m) | sensors reporting | report classes "
        "| incidents (class/status/sensors) | verdict |",
        "|---|---|---:|---|---:|---|---|---|",
    ]
    for row in rows:
        incidents = "; ".join(
            f"{i['class']}/{i['status']}/{i['sensors']}{'*' if i['matched'] else ''}"
            for i in row["incidents"]
        )
        classes = ", ".join(f"{k} {v}" for k, v in row["report_classes"].items())
        lines.append(
            f"| {row['t_s']} | {row['class']} | {row['heard_by']} | {row['nearest_m']} | "
            f"{row['sensors_reporting']} | {classes} | {incidents} | {row['verdict']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
