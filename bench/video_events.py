"""How well do the video events work on real footage, and how fast? `vtest.avi` against the
hand-made annotation `bench/data/vtest_annotation.yaml` (how it was made is in its header),
with the zones and line of `bench/data/vtest_video.yaml`.

Measures, per detector method: people-count error per annotated frame (mean absolute error on
all 40 frames, after the first 10 s while the background is learnt, and on each half of the clip:
the default silhouette fill was chosen on the first 40 s); line crossings found / missed / false,
wrong-way and allowed apart, within ±1 s; intrusion episodes found / missed / false per zone;
density episodes; and speed: analysed frames per second of processor time on one core
(decoding every frame included, OpenCV on one thread, the process pinned to one CPU), and how
many 5 frames/s cameras that makes; the same on a 1080p, 25 frames/s H.264 version of the clip
(made here with libx264), since decoding such a stream is most of a real camera's cost.

Prints JSON. Usage: `python bench/video_events.py [VIDEO] [--method mog2 --method hog]`
(`hog`, about 2.5 analysed frames per second of one core, runs on the first `--hog-seconds`
only, and only its people counts are scored).

`--held-out`: the settings tuned on vtest.avi (MOG2's `silhouette_fill` and
`variance_threshold`, the line's `recross_s`) chosen again on one half of the annotation and
scored on the other, both ways (`held_out`); prints that JSON instead.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ouie.video.config import VideoCamera, load_video_config
from ouie.video.events import Crossing, VideoEvent, analyse
from ouie.video.scoring import count_errors, load_annotation, score_crossings, score_episodes
from ouie.video.source import read_frames

DATA = Path(__file__).parent / "data"
TOLERANCE_S = 1.0
WARM_UP_S = 10.0


def evaluate(camera: VideoCamera, video: str, seconds: float | None) -> dict[str, object]:
    """Run one camera configuration on the clip (its first `seconds`, or all) and score it;
    only the people counts are scored on a cut clip."""
    annotation = load_annotation(DATA / "vtest_annotation.yaml")
    counted: dict[int, int] = {}
    crossings: list[Crossing] = []
    events: list[VideoEvent] = []
    frames = 0
    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    start_utc = datetime(2026, 1, 1, tzinfo=UTC)
    frames_in = read_frames(video, camera.analysis_fps)
    if seconds is not None:
        frames_in = (frame for frame in frames_in if frame.t_s < seconds)
    for result in analyse(camera, frames_in, start_utc):
        frames += 1
        counted[round(result.t_s * annotation.fps)] = result.people
        crossings += result.crossings
        events += [event for event in result.events if not event.ongoing]
    cpu_s = time.process_time() - cpu_start
    wall_s = time.perf_counter() - wall_start

    truth = {f: n for f, n in annotation.people.items() if f in counted}
    errors = count_errors(truth, counted)
    frames_of = sorted(truth)
    half = annotation.frames / 2

    def mae(keep: list[bool]) -> float:
        return round(float(np.mean(np.abs(errors[np.asarray(keep)]))), 3)

    line = camera.lines[0].id
    crossing_scores = {}
    for name, wrong_way in (("wrong_way", True), ("allowed", False)):
        truth_s = [
            c.frame / annotation.fps
            for c in annotation.crossings
            if (c.direction == "right_to_left") == wrong_way
        ]
        found = [c for c in crossings if c.line == line and c.wrong_way == wrong_way]
        crossing_scores[name] = score_crossings(truth_s, found, TOLERANCE_S).as_dict()
    intrusions = {}
    for zone, episodes in annotation.intrusions.items():
        zone_events = [e for e in events if e.kind == "intrusion" and e.zone == zone]
        intrusions[zone] = {
            **score_episodes(episodes, zone_events).as_dict(),
            "events": [[e.start_s, e.end_s, e.count] for e in zone_events],
            "annotated": [[e.start_s, e.end_s, e.count] for e in episodes],
        }
    speed = {
        "cpu_s": round(cpu_s, 2),
        "wall_s": round(wall_s, 2),
        "analysed_fps_per_core": round(frames / cpu_s, 1),
        "cameras_at_analysis_rate_per_core": round(frames / cpu_s / camera.analysis_fps, 1),
    }
    people_count = {
        "mae_all": mae([True] * len(frames_of)),
        "mae_after_warm_up": mae([f / annotation.fps >= WARM_UP_S for f in frames_of]),
        "mae_first_half": mae([f < half for f in frames_of]),
        "mae_second_half": mae([f >= half for f in frames_of]) if frames_of[-1] >= half else None,
        "bias": round(float(np.mean(errors)), 3),
        "frames_annotated": len(frames_of),
        "per_frame": {f: [truth[f], counted[f]] for f in frames_of},
    }
    if seconds is not None:
        return {
            "seconds": seconds,
            "frames_analysed": frames,
            "people_count": people_count,
            "speed": speed,
        }
    return {
        "frames_analysed": frames,
        "people_count": people_count,
        "crossings": crossing_scores,
        "intrusion": intrusions,
        "density": [
            [e.zone, e.start_s, e.end_s, e.count, e.peak_people_per_m2]
            for e in events
            if e.kind == "density"
        ],
        "wrong_way_events": sum(e.kind == "wrong_way" for e in events),
        "speed": speed,
    }


FILLS = (0.5, 0.6, 0.7, 0.8)
VARIANCE_THRESHOLDS = (10.0, 16.0, 25.0)
RECROSS_S = (0.6, 1.0, 2.0)
"""The grid the held-out check chooses from (it holds the values tried when the defaults were
picked: fill 0.5/0.6/0.8, variance 10/16/25, recross 0.6/1/2 s)."""
HALVES = ("first", "second")


@dataclass
class ClipRun:
    """What one configuration found on the whole clip."""

    counted: dict[int, int]
    crossings: list[Crossing]
    events: list[VideoEvent]


def run_clip(camera: VideoCamera, video: str) -> ClipRun:
    """The whole clip analysed once (frame index → people; crossings; closed events)."""
    annotation = load_annotation(DATA / "vtest_annotation.yaml")
    run = ClipRun({}, [], [])
    for result in analyse(
        camera, read_frames(video, camera.analysis_fps), datetime(2026, 1, 1, tzinfo=UTC)
    ):
        run.counted[round(result.t_s * annotation.fps)] = result.people
        run.crossings += result.crossings
        run.events += [event for event in result.events if not event.ongoing]
    return run


def half_scores(run: ClipRun, line: str, half: str) -> dict[str, Any]:
    """One half's figures: count MAE on its annotated frames, crossings (wrong way, allowed)
    and intrusion episodes found / missed / false; a crossing, an episode or an event belongs to
    the half its time (an event: its start) falls in (halves split at frames / 2)."""
    annotation = load_annotation(DATA / "vtest_annotation.yaml")
    middle_s = annotation.frames / 2 / annotation.fps

    def inside(t_s: float) -> bool:
        return (t_s < middle_s) == (half == "first")

    truth = {f: n for f, n in annotation.people.items() if inside(f / annotation.fps)}
    errors = count_errors(truth, run.counted)
    scores: dict[str, Any] = {
        "frames_annotated": len(truth),
        "people_mae": round(float(np.mean(np.abs(errors))), 3),
    }
    for name, wrong_way in (("wrong_way", True), ("allowed", False)):
        truth_s = [
            c.frame / annotation.fps
            for c in annotation.crossings
            if (c.direction == "right_to_left") == wrong_way and inside(c.frame / annotation.fps)
        ]
        found = [
            c
            for c in run.crossings
            if c.line == line and c.wrong_way == wrong_way and inside(c.t_s)
        ]
        scores[name] = score_crossings(truth_s, found, TOLERANCE_S).as_dict()
    for zone, episodes in annotation.intrusions.items():
        events = [
            e for e in run.events if e.kind == "intrusion" and e.zone == zone and inside(e.start_s)
        ]
        truth_episodes = [e for e in episodes if inside(e.start_s)]
        scores[f"intrusion_{zone}"] = score_episodes(truth_episodes, events).as_dict()
    return scores


def crossing_errors(scores: dict[str, Any]) -> int:
    """Missed plus false crossings, both directions: what `recross_s` is chosen on."""
    return sum(scores[name]["missed"] + scores[name]["false"] for name in ("wrong_way", "allowed"))


def configured(base: VideoCamera, fill: float, variance: float, recross_s: float) -> VideoCamera:
    """The camera with these detector settings and every line's `recross_s`."""
    detector = base.detector.model_copy(
        update={"silhouette_fill": fill, "variance_threshold": variance}
    )
    lines = [line.model_copy(update={"recross_s": recross_s}) for line in base.lines]
    return base.model_copy(update={"detector": detector, "lines": lines})


def held_out(base: VideoCamera, video: str) -> dict[str, Any]:
    """Tune on one half, report on the other, both ways. On the tuning half, (fill, variance)
    is the pair of least people-count MAE (recross_s does not change counts), then recross_s
    the value of fewest crossing errors with that pair (ties: the longer, which guards better
    against a feet point jittering on the line). Every run analyses the whole clip (the
    background model needs the frames before); only the annotation is split."""
    line = base.lines[0].id
    runs: dict[tuple[float, float, float], ClipRun] = {}

    def run_of(fill: float, variance: float, recross_s: float) -> ClipRun:
        key = (fill, variance, recross_s)
        if key not in runs:
            runs[key] = run_clip(configured(base, *key), video)
        return runs[key]

    default = (
        base.detector.silhouette_fill,
        base.detector.variance_threshold,
        base.lines[0].recross_s,
    )
    grid_mae = {
        half: {
            f"fill={fill} variance={variance}": half_scores(
                run_of(fill, variance, default[2]), line, half
            )["people_mae"]
            for fill in FILLS
            for variance in VARIANCE_THRESHOLDS
        }
        for half in HALVES
    }
    out: dict[str, Any] = {"grid_people_mae": grid_mae, "ways": {}}
    for tune, report in (("first", "second"), ("second", "first")):
        fill, variance = min(
            ((f, v) for f in FILLS for v in VARIANCE_THRESHOLDS),
            key=lambda fv: (half_scores(run_of(*fv, default[2]), line, tune)["people_mae"], fv),
        )
        errors = {
            recross: crossing_errors(half_scores(run_of(fill, variance, recross), line, tune))
            for recross in RECROSS_S
        }
        recross_s = min(RECROSS_S, key=lambda r: (errors[r], -r))
        chosen = run_of(fill, variance, recross_s)
        out["ways"][f"tune_{tune}_report_{report}"] = {
            "chosen": {
                "silhouette_fill": fill,
                "variance_threshold": variance,
                "recross_s": recross_s,
            },
            "crossing_errors_by_recross_s_on_tuning_half": errors,
            "in_sample": half_scores(chosen, line, tune),
            "held_out": half_scores(chosen, line, report),
        }
    shipped = run_of(*default)
    out["shipped_defaults"] = {
        "settings": dict(
            zip(("silhouette_fill", "variance_threshold", "recross_s"), default, strict=True)
        ),
        **{half: half_scores(shipped, line, half) for half in HALVES},
    }
    out["runs"] = len(runs)
    return out


def upscaled_h264(video: str, folder: Path, seconds: float = 40.0) -> Path:
    """The clip's first `seconds` as a camera would send it: 1920 × 1080, 25 frames/s, H.264
    (libx264, preset veryfast, CRF 23), each 10 frames/s frame repeated as the time falls."""
    import av

    path = folder / "vtest_1080p25.mp4"
    frames = [frame.image for frame in read_frames(video, 10.0)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for index in range(round(seconds * 25)):
            image = frames[min(index * 10 // 25, len(frames) - 1)]
            frame = av.VideoFrame.from_ndarray(cv2.resize(image, (1920, 1080)), format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def speed_1080p(camera: VideoCamera, video: str) -> dict[str, object]:
    """Processor time to decode and analyse a 1080p25 H.264 version of the clip (the zones and
    lines left out: the people found are the cost), and to decode it alone."""
    import tempfile

    import av

    scale_k = 1080 / 576
    scale = camera.person_scale.model_copy(
        update={
            name: getattr(camera.person_scale, name) * scale_k
            for name in ("near_y_px", "near_height_px", "far_y_px", "far_height_px")
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        path = upscaled_h264(video, Path(folder))
        start = time.process_time()
        with av.open(str(path)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        decode_s = time.process_time() - start
        hd = camera.model_copy(update={"person_scale": scale, "zones": [], "lines": []})
        start = time.process_time()
        start_utc = datetime(2026, 1, 1, tzinfo=UTC)
        analysed = sum(1 for _ in analyse(hd, read_frames(str(path), hd.analysis_fps), start_utc))
        cpu_s = time.process_time() - start
    return {
        "stream": "1920x1080, 25 frames/s, H.264 (libx264 veryfast, CRF 23), 40 s",
        "decode_only_fps_per_core": round(decoded / decode_s, 1),
        "analysed_frames": analysed,
        "cpu_s": round(cpu_s, 2),
        "analysed_fps_per_core": round(analysed / cpu_s, 1),
        "cameras_at_analysis_rate_per_core": round(analysed / cpu_s / hd.analysis_fps, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(Path("..") / "shared/video/vtest.avi"))
    parser.add_argument("--method", action="append", choices=["mog2", "knn", "hog"])
    parser.add_argument(
        "--hog-seconds",
        type=float,
        default=40.0,
        help="hog is slow: analyse only this many seconds of the clip with it (counts only).",
    )
    parser.add_argument(
        "--held-out", action="store_true", help="Tune on one half, score on the other (MOG2)."
    )
    args = parser.parse_args()
    if not Path(args.video).is_file():
        raise SystemExit(f"{args.video}: no such file (see ../shared/video/README.md)")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    config = load_video_config(DATA / "vtest_video.yaml")
    base = config.cameras[0]
    if args.held_out:
        report = {
            "bench": "video_events --held-out",
            "video": Path(args.video).name,
            "annotation": "bench/data/vtest_annotation.yaml",
            "config": "bench/data/vtest_video.yaml",
            "halves_split_at_s": 39.75,
            "crossing_tolerance_s": TOLERANCE_S,
            "opencv": cv2.__version__,
            **held_out(base, args.video),
        }
        print(json.dumps(report, indent=1))
        return
    results = {}
    for method in args.method or ["mog2"]:
        detector = base.detector.model_copy(update={"method": method})
        seconds = args.hog_seconds if method == "hog" else None
        camera = base.model_copy(update={"detector": detector})
        results[method] = evaluate(camera, args.video, seconds)
    hd = speed_1080p(base, args.video)
    print(
        json.dumps(
            {
                "bench": "video_events",
                "video": Path(args.video).name,
                "annotation": "bench/data/vtest_annotation.yaml",
                "config": "bench/data/vtest_video.yaml",
                "crossing_tolerance_s": TOLERANCE_S,
                "warm_up_s": WARM_UP_S,
                "cores_on_machine": os.cpu_count(),
                "cores_used": 1,
                "opencv": cv2.__version__,
                "results": results,
                "speed_1080p_h264_mog2": hd,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
