"""False alerting incidents per hour on everyday sound only (no gunshot, scream, glass, blast).

Method: every sensor of the saint-etienne scenario (50 sensors, its buildings, weather, clocks,
street background) hears a dense script of real NON-alerting recordings from an audio directory
(`labels.csv` rows with alerting=False: traffic, music, cries, dogs, door slams, works,
fireworks, horns, ...), rendered by the simulator (`ouie.sim.render.simulate`) in segments of
`--segment-s`, at street points drawn as the scenario's generator draws them, one sound every
`--mean-gap-s` on average over the site, plus a firework show (`--show-s` of crackers over one
spot) in every 4th segment. The real sensor pipeline (YAMNet + head + verifier) detects on every
sensor; each segment's reports are cached (`~/.cache/ouie/false_alarms/<digest>/`), its audio
deleted, so that a killed run resumes and the fusion part re-runs in seconds.

Fusion runs the streaming associator over all cached reports, with the network confirmation
policy on (the default `FusionConfig`) and off; every alerting incident it raises is false by
construction. Prints one JSON object: simulated hours, reports, incidents by class and status,
false alerting incidents per hour with and without confirmation, context episodes.

    nice -n 19 .venv/bin/python bench/false_alarms_per_hour.py --hours 1 --detect   # slow
    .venv/bin/python bench/false_alarms_per_hour.py                   # fusion on the cache
    ... --hours 0.05 --segment-s 60 --detect --out docs/results/false_alarms.json   # a taste
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from street_options import add_detector_options
from window_cache import RememberingScorer

from ouie.app.demo import simulated_street_detector
from ouie.app.locate import Detect, frame_for, fuse_reports
from ouie.audio.io import read_audio
from ouie.core.incident import Incident
from ouie.core.report import EventReport
from ouie.core.timebase import NS_PER_S, iso_to_ns, ns_to_iso
from ouie.fusion.config import FusionConfig
from ouie.fusion.localization import sensor_positions_enu_m
from ouie.fusion.multilateration import Array
from ouie.sensor.backends import build_scorer
from ouie.sensor.config import DetectorConfig
from ouie.sensor.pipeline import SensorPipeline
from ouie.sim.saint_etienne import street_point
from ouie.sim.scenario import Scenario, ScriptedEvent, load_scenario

EVERYDAY_LEVEL_DB_SPL: dict[str, float] = {
    "air_conditioner": 80.0,
    "alarm": 105.0,
    "baby_cry": 95.0,
    "background_breaking_glass": 95.0,
    "background_noise": 80.0,
    "background_unknown": 80.0,
    "bikebell": 90.0,
    "boom": 120.0,
    "car_horn": 110.0,
    "carengine": 90.0,
    "casual": 75.0,
    "chainsaw": 110.0,
    "children_playing": 85.0,
    "clapping": 85.0,
    "crying": 90.0,
    "dog": 100.0,
    "dog_bark": 100.0,
    "doorslam": 95.0,
    "drilling": 110.0,
    "engine_idling": 90.0,
    "fireworks": 140.0,
    "helicopter": 110.0,
    "jackhammer": 115.0,
    "knock": 85.0,
    "knocking": 85.0,
    "laughter": 85.0,
    "motorcycle": 100.0,
    "rain": 80.0,
    "speech": 72.0,
    "street_music": 95.0,
    "thunder": 120.0,
    "traffic": 90.0,
    "truckengine": 95.0,
}
"""Source level of each everyday folder (loudest 10 ms RMS at 1 m, dB SPL); folders left out
(indoor sounds: keyboard, page turns, ...) are not played in the street."""

SHOW_SPOT_EN_M = (120.0, -60.0)
SHOW_EVERY_SEGMENTS = 4


def everyday_recordings(audio_dir: Path) -> dict[str, list[Path]]:
    """Folder → its non-alerting recordings (labels.csv alerting=False), folders with a level."""
    by_folder: dict[str, list[Path]] = {}
    with (audio_dir / "labels.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["alerting"] == "False" and row["class"] in EVERYDAY_LEVEL_DB_SPL:
                by_folder.setdefault(row["class"], []).append(audio_dir / row["file"])
    return {k: sorted(v) for k, v in sorted(by_folder.items())}


def segment_scenario(
    base: Scenario,
    index: int,
    segment_s: float,
    mean_gap_s: float,
    show_s: float,
    recordings: dict[str, list[Path]],
) -> Scenario:
    """Segment `index`: the base scenario's site, starting index × segment_s after its start,
    with a Poisson script of everyday recordings (folder drawn uniformly, then a file), and a
    firework show every SHOW_EVERY_SEGMENTS segments."""
    rng = np.random.default_rng([base.seed, index])
    folders = list(recordings)
    events: list[ScriptedEvent] = []
    t = float(rng.exponential(mean_gap_s))
    while t < segment_s - 2.0:
        folder = folders[int(rng.integers(len(folders)))]
        path = recordings[folder][int(rng.integers(len(recordings[folder])))]
        lat, lon = street_point(rng)
        events.append(_event(t, folder, path, lat, lon))
        t += float(rng.exponential(mean_gap_s))
    if index % SHOW_EVERY_SEGMENTS == SHOW_EVERY_SEGMENTS - 1 and "fireworks" in recordings:
        lat, lon = base.frame.to_wgs84(*SHOW_SPOT_EN_M, base.frame.origin_height_m)[:2]
        start = float(rng.uniform(10.0, max(segment_s - show_s - 10.0, 10.0)))
        for t in np.sort(rng.uniform(start, start + show_s, round(show_s / 3.0))):
            path = recordings["fireworks"][int(rng.integers(len(recordings["fireworks"])))]
            events.append(_event(float(t), "fireworks", path, float(lat), float(lon), 20.0))
    start_ns = iso_to_ns(base.start_utc) + round(index * segment_s * NS_PER_S)
    return base.model_copy(
        update={
            "name": f"{base.name}-everyday-{index}",
            "start_utc": ns_to_iso(start_ns).replace("+00:00", "Z"),
            "duration_s": segment_s,
            "seed": base.seed * 1000 + index,
            "events": sorted(events, key=lambda e: e.time_s),
        }
    )


def _event(
    time_s: float, folder: str, path: Path, lat: float, lon: float, height_m: float = 1.5
) -> ScriptedEvent:
    return ScriptedEvent.model_validate(
        {
            "time_s": round(time_s, 3),
            "class": folder,
            "lat": lat,
            "lon": lon,
            "height_m": height_m,
            "source": str(path),
            "source_level_db_spl": EVERYDAY_LEVEL_DB_SPL[folder],
        }
    )


def cache_folder(args: argparse.Namespace, config: DetectorConfig) -> Path:
    """Where this configuration's segments are cached (digest of what shapes the reports: the
    script, the model and the detector's whole configuration)."""
    key = (
        f"{args.scenario}|{args.segment_s}|{args.mean_gap_s}|{args.show_s}|{args.model}|"
        f"{config.model_dump_json()}|v3"  # v3: headroom gain
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "ouie" / "false_alarms" / digest


def detect_segments(
    args: argparse.Namespace,
    folder: Path,
    detect: Detect,
    detector: str,
    after_segment: Callable[[], None],
) -> None:
    """Render and detect each missing segment; cache its reports and script, drop its audio;
    `after_segment` is called after each (the window scores are saved then)."""
    from ouie.sim.render import simulate

    base = load_scenario(args.scenario)
    recordings = everyday_recordings(args.audio_dir)
    n_segments = int(np.ceil(args.hours * 3600.0 / args.segment_s))
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(n_segments):
        done = folder / f"segment-{index:03d}.jsonl"
        if done.is_file():
            continue
        scenario = segment_scenario(
            base, index, args.segment_s, args.mean_gap_s, args.show_s, recordings
        )
        started = time.monotonic()
        audio = folder / f"audio-{index:03d}"
        recording = simulate(scenario, audio, audio_dir=args.audio_dir, progress=False)
        rendered = time.monotonic()
        reports = [
            r
            for site in recording.sensors
            for r in detect(recording.wav_path(site.id), recording.start_ns, site.id)
        ]
        script = Counter(e.class_ for e in scenario.events)
        meta = {
            "index": index,
            "start_utc": scenario.start_utc,
            "duration_s": args.segment_s,
            "detector": detector,
            "script": dict(script),
            "render_s": round(rendered - started, 1),
            "detect_s": round(time.monotonic() - rendered, 1),
        }
        (folder / f"segment-{index:03d}.json").write_text(json.dumps(meta), encoding="utf-8")
        tmp = done.with_suffix(".tmp")
        tmp.write_text("".join(r.to_json() + "\n" for r in reports), encoding="utf-8")
        tmp.rename(done)
        shutil.copy(audio / "sensors.geojson", folder / "sensors.geojson")
        shutil.rmtree(audio)
        after_segment()
        print(json.dumps(meta), flush=True)


def false_alerting(incidents: list[Incident]) -> list[Incident]:
    """Alerting incidents an operator would be alerted by (every one is false here)."""
    return [i for i in incidents if i.raises_alert]


def played_sounds(
    args: argparse.Namespace, metas: list[dict[str, object]], base: Scenario
) -> list[tuple[int, str, str, Array]]:
    """(emission UTC ns, folder, file name, east/north m) of every sound the cached segments
    played, their scripts regenerated (`segment_scenario` is deterministic)."""
    recordings = everyday_recordings(args.audio_dir)
    out = []
    for meta in metas:
        index = int(str(meta["index"]))
        scenario = segment_scenario(
            base, index, args.segment_s, args.mean_gap_s, args.show_s, recordings
        )
        start_ns = iso_to_ns(scenario.start_utc)
        for event in scenario.events:
            east, north, _ = base.frame.to_enu(event.lat, event.lon, base.frame.origin_height_m)
            out.append(
                (
                    start_ns + round(event.time_s * NS_PER_S),
                    str(event.class_),
                    Path(str(event.source)).name,
                    np.array([east, north]),
                )
            )
    return out


def explain(
    incident: Incident,
    sounds: list[tuple[int, str, str, Array]],
    positions_en_m: dict[str, Array],
    c_mps: float,
) -> dict[str, object]:
    """What a false alert was: class, sensors, fix residual, distance from its position to the
    nearest sensor, and the played sound that best explains its onset (a fix's onset is the
    emission; otherwise the first arrival = emission + distance to its nearest sensor / c)."""
    here = (
        np.array([incident.east_m, incident.north_m])
        if incident.east_m is not None and incident.north_m is not None
        else None
    )
    sites = np.array([positions_en_m[s][:2] for s in incident.sensors_used])
    every_site = np.array([p[:2] for p in positions_en_m.values()])

    def miss_s(sound: tuple[int, str, str, Array]) -> float:
        emission_ns, _, _, where = sound
        if incident.status != "fix":
            emission_ns += round(np.min(np.linalg.norm(sites - where, axis=1)) / c_mps * NS_PER_S)
        return abs(emission_ns - incident.onset_ns) / NS_PER_S

    best = min(sounds, key=miss_s, default=None)
    residual_s = incident.residual_rms_s
    return {
        "onset_utc": incident.onset_utc,
        "class": str(incident.class_),
        "status": str(incident.status),
        "sensors": incident.n_sensors,
        "score": round(incident.score, 2),
        "residual_ms": None if residual_s is None else round(residual_s * 1e3, 2),
        "uncertainty_m": None if incident.uncertainty_m is None else round(incident.uncertainty_m),
        "nearest_sensor_m": None
        if here is None
        else round(float(np.min(np.linalg.norm(every_site - here, axis=1)))),
        "shots": len(incident.burst.shots) if getattr(incident, "burst", None) else 1,
        "heard_of_expected": [incident.assessment.heard_by, incident.assessment.expected_sensors]
        if incident.assessment
        else None,
        "near_fireworks": bool(incident.assessment and incident.assessment.context_nearby),
        "sound": None
        if best is None
        else {
            "folder": best[1],
            "file": best[2],
            "miss_s": round(miss_s(best), 2),
            "from_fix_m": None if here is None else round(float(np.linalg.norm(best[3] - here))),
        },
    }


def fuse_cached(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    """Fuse every cached segment with and without network confirmation; count what is raised."""
    from ouie.core.recording import read_sensors_geojson

    segments = sorted(folder.glob("segment-*.jsonl"))
    if not segments:
        raise SystemExit(f"no cached segment in {folder}: run with --detect first")
    metas = [json.loads(p.with_suffix(".json").read_text()) for p in segments]
    reports = [
        EventReport.from_json(line)
        for p in segments
        for line in p.read_text(encoding="utf-8").splitlines()
    ]
    sensors = read_sensors_geojson(folder / "sensors.geojson")
    base = load_scenario(args.scenario)
    frame = base.frame if base.sensors else frame_for(sensors)
    hours = sum(m["duration_s"] for m in metas) / 3600.0
    config = FusionConfig(air_temperature_c=base.weather.air_temperature_c)
    variants = {
        "with_confirmation": config,
        "without_confirmation": config.model_copy(
            update={"confirmation": config.confirmation.model_copy(update={"enabled": False})}
        ),
    }
    out: dict[str, object] = {
        "bench": "false_alarms_per_hour",
        "cpu_count": os.cpu_count(),
        "cache": str(folder),
        "segments": len(segments),
        "simulated_hours": round(hours, 3),
        "detector": metas[0]["detector"],
        "input_gain_db": args.input_gain_db,
        "everyday_sounds_played": sum(sum(m["script"].values()) for m in metas),
        "reports": len(reports),
        "reports_by_class": dict(Counter(str(r.class_) for r in reports).most_common()),
    }
    sounds = played_sounds(args, metas, base)
    positions_en_m = sensor_positions_enu_m(sensors, frame)
    for name, variant in variants.items():
        started = time.process_time()
        incidents, associator = fuse_reports(reports, sensors, frame, variant)
        raised = false_alerting(incidents)
        out[name] = {
            "incidents": len(incidents),
            "by_class_status": dict(
                Counter(f"{i.class_}/{i.status}" for i in incidents).most_common()
            ),
            "unconfirmed": sum(i.unconfirmed for i in incidents),
            "false_alerting_incidents": len(raised),
            "false_alerting_per_hour": round(len(raised) / hours, 3) if hours else None,
            "false_alerting_by_class": dict(Counter(str(i.class_) for i in raised)),
            "false_alerting_sensors": sorted(i.n_sensors for i in raised),
            "false_alerting_ranked_down_by_fireworks": sum(
                bool(i.assessment and i.assessment.context_nearby) for i in raised
            ),
            "rejected": dict(associator.stats.rejected),
            "fusion_cpu_s": round(time.process_time() - started, 2),
            "false_alerting_detail": [
                explain(i, sounds, positions_en_m, variant.speed_of_sound_mps) for i in raised
            ],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="saint-etienne")
    parser.add_argument("--audio-dir", type=Path, default=Path("../shared/audio"))
    parser.add_argument("--model", type=Path, default=Path("../shared/models/yamnet.tflite"))
    parser.add_argument("--hours", type=float, default=1.0, help="Simulated hours to detect.")
    parser.add_argument("--segment-s", type=float, default=300.0)
    parser.add_argument("--mean-gap-s", type=float, default=6.0, help="Mean s between sounds.")
    parser.add_argument("--show-s", type=float, default=90.0, help="Firework show length, s.")
    parser.add_argument("--detect", action="store_true", help="Render and detect what's missing.")
    add_detector_options(parser)
    parser.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    args = parser.parse_args()
    args.model = args.model.resolve()
    args.audio_dir = args.audio_dir.resolve()
    microphone = load_scenario(args.scenario).microphone
    config = simulated_street_detector(
        args.model, microphone.full_scale_db_spl, args.profile, args.input_gain_db
    )
    args.input_gain_db = config.input_gain_db
    rules = json.loads(args.rules) if args.rules else {}
    config = DetectorConfig.model_validate({**config.model_dump(), **rules})
    scorer = build_scorer(config)
    detector = scorer.model_id.name
    folder = cache_folder(args, config)
    scores_key = config.model_copy(update={"thresholds": {}, "min_windows": {}})
    remembering = RememberingScorer(scorer, cache_folder(args, scores_key).with_suffix(".pickle"))
    pipeline = SensorPipeline(config, remembering)

    def detect(path: Path, start_ns: int, sensor_id: str) -> list[EventReport]:
        return pipeline.reports(read_audio(path), start_ns, sensor_id)

    if rules:
        detector += f", {json.dumps(rules, sort_keys=True)}"
    if args.detect:
        detect_segments(args, folder, detect, detector, remembering.save)
    result = json.dumps(fuse_cached(args, folder), indent=2)
    print(result)
    if args.out is not None:
        args.out.write_text(result + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
