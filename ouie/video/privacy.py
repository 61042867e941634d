"""What an operator may see of a video camera: its current frame with every person found on it
blurred, encoded as JPEG in memory and never stored.

Each detection's box, grown by `MARGIN` of its height on every side, is replaced by a Gaussian
blur of standard deviation σ = h/`SIGMA_DIVISOR` (h the box height): for a person 100 px tall,
σ ≈ 12 px, so a face (≈ h/8 = 12 px across) is smeared over its own size and cannot be told
apart, while the shape, where the person stands and which way they face stay readable.

`operator_view` draws the camera's zones (yellow outlines) and lines (cyan, with an arrow the
way people may cross) over it, so that where people stand relative to them can be read; the
measure of what stays readable is in docs/results/video.md ("What the blurred view keeps").
"""

from __future__ import annotations

import cv2
import numpy as np

from ouie.video.config import VideoCamera
from ouie.video.people import Detection

MARGIN = 0.1
"""The blurred box is grown by this fraction of its height on every side."""

SIGMA_DIVISOR = 8.0
"""σ of the blur = box height / this."""

JPEG_QUALITY = 80

ZONE_BGR = (0, 220, 255)
LINE_BGR = (255, 220, 0)


def blur_people(image: np.ndarray, detections: list[Detection]) -> np.ndarray:
    """A copy of `image` (BGR) with every detection's grown box blurred."""
    out = image.copy()
    height_px, width_px = image.shape[:2]
    for detection in detections:
        x0, y0, x1, y1 = detection.box_px
        margin = MARGIN * (y1 - y0)
        left, top = max(0, int(x0 - margin)), max(0, int(y0 - margin))
        right, bottom = min(width_px, int(x1 + margin) + 1), min(height_px, int(y1 + margin) + 1)
        if right <= left or bottom <= top:
            continue
        sigma = max(1.0, (y1 - y0) / SIGMA_DIVISOR)
        out[top:bottom, left:right] = cv2.GaussianBlur(
            np.ascontiguousarray(image[top:bottom, left:right]), (0, 0), sigma
        )
    return out


def draw_zones_and_lines(image: np.ndarray, camera: VideoCamera) -> np.ndarray:
    """A copy of `image` with the camera's zones outlined and its lines drawn, each line with
    an arrow from its middle along its allowed direction (30 px long)."""
    out = image.copy()
    for zone in camera.zones:
        points = np.round(np.asarray(camera.zone_polygon_px(zone))).astype(np.int32)
        cv2.polylines(out, [points], isClosed=True, color=ZONE_BGR, thickness=2)
    for line in camera.lines:
        a, b = np.asarray(line.a_px, float), np.asarray(line.b_px, float)
        cv2.line(out, _pixel(a), _pixel(b), LINE_BGR, 2)
        direction = np.asarray(line.allowed_direction_px, float)
        middle = (a + b) / 2
        tip = middle + 30.0 * direction / float(np.hypot(*direction))
        cv2.arrowedLine(out, _pixel(middle), _pixel(tip), LINE_BGR, 2, tipLength=0.35)
    return out


def _pixel(point: np.ndarray) -> tuple[int, int]:
    return round(float(point[0])), round(float(point[1]))


def operator_view(
    image: np.ndarray, detections: list[Detection], camera: VideoCamera, *, blurred: bool = True
) -> np.ndarray:
    """What an operator is shown (and may save): the frame with its people blurred (unless
    `blurred` is False), the zones and lines drawn over it."""
    shown = blur_people(image, detections) if blurred else image
    return draw_zones_and_lines(shown, camera)


def jpeg(image: np.ndarray) -> bytes:
    """`image` (BGR) as JPEG bytes."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return encoded.tobytes()
