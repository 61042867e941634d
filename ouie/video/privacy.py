"""What an operator may see of a video camera: its current frame with every person found on it
blurred, encoded as JPEG in memory and never stored.

Each detection's box, grown by `MARGIN` of its height on every side, is replaced by a Gaussian
blur of standard deviation σ = h/`SIGMA_DIVISOR` (h the box height): for a person 100 px tall,
σ ≈ 12 px, so a face (≈ h/8 = 12 px across) is smeared over its own size and cannot be told
apart, while the shape, where the person stands and which way they face stay readable.
"""

from __future__ import annotations

import cv2
import numpy as np

from ouie.video.people import Detection

MARGIN = 0.1
"""The blurred box is grown by this fraction of its height on every side."""

SIGMA_DIVISOR = 8.0
"""σ of the blur = box height / this."""

JPEG_QUALITY = 80


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


def jpeg(image: np.ndarray) -> bytes:
    """`image` (BGR) as JPEG bytes."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return encoded.tobytes()
