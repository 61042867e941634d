"""What the operator's blurred view keeps and what it removes, on vtest.avi's annotated frames
(bench/data/vtest_annotation.yaml), with the default detector (MOG2) and the config of
bench/data/vtest_video.yaml, as `ouie serve` would show them (`ouie.video.privacy`).

What an operator needs from the view, made concrete: (1) to count the people (in a zone);
(2) to see where they stand relative to the zones and lines; (3) to see which way they move.
What the blur must remove: faces and bodies a detector (or a person) could recognise.

Measured per annotated frame (every 2 s, 40 frames):
- cover: the fraction of the annotated people the blur covers, counted as the people the
  detector put in blurred boxes (sum of its detections' people, at most the annotated count);
  the others are shown unblurred (still people faded into the background);
- bodies: OpenCV's HOG people detector (the `hog` method, ×1.5) and the upper-body Haar cascade
  on the frame before and after blurring; how many of the original's HOG boxes lie (centre) in a
  blurred box;
- faces: the frontal (alt2) and profile Haar face cascades on the grey frame enlarged ×2
  (faces here are 8–15 px), before and after; those left after blurring, inside or outside a
  blurred box;
- motion: dense optical flow (Farnebäck) between the frame and the next analysed one (0.2 s
  later), each blurred with its own detections, against the same on the unblurred frames: for
  each detection that moved (mean flow ≥ 1 px), the angle between the two mean flows in its box;
  the fraction within 45° is how often the blurred views still show which way people go.

`--mosaics DIR` also writes the blurred views (zones and lines drawn) of the frames every 8 s as
2 × 2 mosaics, for a person to count people on (how the visual count in docs/results/video.md
was made). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ouie.video.config import load_video_config
from ouie.video.events import CameraAnalyser
from ouie.video.people import Detection, PeopleDetector
from ouie.video.privacy import MARGIN, blur_people, operator_view
from ouie.video.scoring import load_annotation
from ouie.video.source import read_frames

DATA = Path(__file__).parent / "data"
FACE_UPSCALE = 2.0
MOVED_PX = 1.0
SAME_WAY_DEG = 45.0
MOSAIC_EVERY = 4
"""Every 4th annotated frame (every 8 s) goes into the mosaics."""


def blurred_mask(shape: tuple[int, ...], detections: list[Detection]) -> np.ndarray:
    """Where `blur_people` blurs: each box grown by MARGIN of its height."""
    mask = np.zeros(shape[:2], bool)
    for detection in detections:
        x0, y0, x1, y1 = detection.box_px
        margin = MARGIN * (y1 - y0)
        mask[
            max(0, int(y0 - margin)) : int(y1 + margin) + 1,
            max(0, int(x0 - margin)) : int(x1 + margin) + 1,
        ] = True
    return mask


def centres_in(boxes: list[tuple[float, float, float, float]], mask: np.ndarray) -> int:
    """How many boxes (x0, y0, x1, y1) have their centre in `mask`."""
    height, width = mask.shape
    inside = 0
    for x0, y0, x1, y1 in boxes:
        x, y = int((x0 + x1) / 2), int((y0 + y1) / 2)
        inside += bool(mask[min(y, height - 1), min(x, width - 1)])
    return inside


def cascade_boxes(
    cascade: cv2.CascadeClassifier, image: np.ndarray, scale: float, min_px: int
) -> list[tuple[float, float, float, float]]:
    """A Haar cascade's boxes on the grey image enlarged by `scale`, in original pixels."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if scale != 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    found = cascade.detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=3, minSize=(min_px, min_px)
    )
    return [
        (x / scale, y / scale, (x + w) / scale, (y + h) / scale)
        for x, y, w, h in np.reshape(found, (-1, 4))
    ]


def mean_flow(flow: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The mean (dx, dy) of the flow in a box, px."""
    x0, y0, x1, y1 = (int(v) for v in box)
    patch = flow[max(0, y0) : y1 + 1, max(0, x0) : x1 + 1].reshape(-1, 2)
    return patch.mean(axis=0) if len(patch) else np.zeros(2)


def farneback(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Dense optical flow between two BGR frames, px per frame pair."""
    grey = [cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) for image in (first, second)]
    flow = np.zeros((*grey[0].shape, 2), np.float32)
    return cv2.calcOpticalFlowFarneback(grey[0], grey[1], flow, 0.5, 3, 15, 3, 5, 1.2, 0)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """The angle between two vectors, degrees (180 when one is zero)."""
    norms = float(np.hypot(*a) * np.hypot(*b))
    if norms == 0:
        return 180.0
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / norms, -1, 1))))


def measure(video: str, mosaics: Path | None) -> dict[str, Any]:
    """The figures of the module docstring, per frame and in total."""
    annotation = load_annotation(DATA / "vtest_annotation.yaml")
    camera = load_video_config(DATA / "vtest_video.yaml").cameras[0]
    hog = PeopleDetector(
        camera.detector.model_copy(update={"method": "hog"}),
        camera.person_scale,
        camera.analysis_fps,
    )
    faces = [
        cv2.CascadeClassifier(cv2.data.haarcascades + name)  # type: ignore[attr-defined]
        for name in ("haarcascade_frontalface_alt2.xml", "haarcascade_profileface.xml")
    ]
    upper_body = cv2.CascadeClassifier(
        cv2.data.haarcascades + "haarcascade_upperbody.xml"  # type: ignore[attr-defined]
    )
    wanted = set(annotation.people)
    kept: dict[int, tuple[np.ndarray, list[Detection]]] = {}
    following: dict[int, tuple[np.ndarray, list[Detection]]] = {}
    analyser = CameraAnalyser(camera, datetime(2026, 1, 1, tzinfo=UTC))
    previous: int | None = None
    for frame in read_frames(video, camera.analysis_fps):
        detections = analyser.step(frame).detections
        index = round(frame.t_s * annotation.fps)
        if index in wanted:
            kept[index] = (frame.image, detections)
        if previous in wanted:
            following[previous] = (frame.image, detections)
        previous = index
    per_frame: dict[int, dict[str, Any]] = {}
    angles: list[float] = []
    for index in sorted(kept):
        image, detections = kept[index]
        blurred = blur_people(image, detections)
        mask = blurred_mask(image.shape, detections)
        hog_before = [d.box_px for d in hog.detect(image)]
        hog_after = [d.box_px for d in hog.detect(blurred)]
        face_before = [b for c in faces for b in cascade_boxes(c, image, FACE_UPSCALE, 20)]
        face_after = [b for c in faces for b in cascade_boxes(c, blurred, FACE_UPSCALE, 20)]
        body_before = cascade_boxes(upper_body, image, 1.0, 24)
        body_after = cascade_boxes(upper_body, blurred, 1.0, 24)
        truth = annotation.people[index]
        per_frame[index] = {
            "annotated_people": truth,
            "people_in_blurred_boxes": sum(d.people for d in detections),
            "covered_people": min(truth, sum(d.people for d in detections)),
            "hog_before": len(hog_before),
            "hog_before_in_blurred_boxes": centres_in(hog_before, mask),
            "hog_after": len(hog_after),
            "hog_after_in_blurred_boxes": centres_in(hog_after, mask),
            "upper_body_before": len(body_before),
            "upper_body_after_in_blurred_boxes": centres_in(body_after, mask),
            "upper_body_after": len(body_after),
            "faces_before": len(face_before),
            "faces_before_in_blurred_boxes": centres_in(face_before, mask),
            "faces_after": len(face_after),
            "faces_after_in_blurred_boxes": centres_in(face_after, mask),
        }
        if index in following:
            later, later_detections = following[index]
            sharp = farneback(image, later)
            soft = farneback(blurred, blur_people(later, later_detections))
            for detection in detections:
                moved = mean_flow(sharp, detection.box_px)
                if float(np.hypot(*moved)) >= MOVED_PX:
                    angles.append(angle_deg(moved, mean_flow(soft, detection.box_px)))
    if mosaics is not None:
        write_mosaics(camera, kept, mosaics)
    total = {
        key: int(sum(frame[key] for frame in per_frame.values()))
        for key in next(iter(per_frame.values()))
    }
    return {
        "frames": len(per_frame),
        "total": total,
        "cover_fraction": round(total["covered_people"] / total["annotated_people"], 3),
        "motion": {
            "moving_detections": len(angles),
            "same_way_fraction": round(float(np.mean(np.asarray(angles) <= SAME_WAY_DEG)), 3),
            "median_angle_deg": round(float(np.median(angles)), 1),
        },
        "per_frame": per_frame,
    }


def write_mosaics(
    camera: Any, kept: dict[int, tuple[np.ndarray, list[Detection]]], folder: Path
) -> None:
    """The blurred operator views of every MOSAIC_EVERY-th annotated frame, 2 × 2 per PNG,
    each labelled with a letter only (the frame numbers are in mosaics.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = sorted(kept)[::MOSAIC_EVERY]
    labels = {}
    for start in range(0, len(chosen), 4):
        tiles = []
        for offset, index in enumerate(chosen[start : start + 4]):
            image, detections = kept[index]
            view = operator_view(image, detections, camera)
            label = f"{start // 4}{'abcd'[offset]}"
            labels[label] = index
            cv2.putText(view, label, (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 255), 3)
            tiles.append(view)
        while len(tiles) < 4:
            tiles.append(np.zeros_like(tiles[0]))
        mosaic = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
        cv2.imwrite(str(folder / f"mosaic-{start // 4}.png"), mosaic)
    (folder / "mosaics.json").write_text(json.dumps(labels), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(Path("..") / "shared/video/vtest.avi"))
    parser.add_argument("--mosaics", type=Path, help="Write blurred views for a visual count.")
    args = parser.parse_args()
    if not Path(args.video).is_file():
        raise SystemExit(f"{args.video}: no such file (see ../shared/video/README.md)")
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    report = {
        "bench": "video_blur",
        "video": Path(args.video).name,
        "annotation": "bench/data/vtest_annotation.yaml",
        "config": "bench/data/vtest_video.yaml",
        "opencv": cv2.__version__,
        **measure(args.video, args.mosaics),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
