"""People found on one camera's frames, without identity: each detection is a box, the point
under it where the feet are, and how many people it holds.

Background subtraction (`mog2`, `knn`): the foreground mask of the frame scaled by `downscale`
(shadows dropped, opened then closed with a 3 × 3 and a 7 × 7 kernel) is cut into connected
blobs. A person whose feet are at image row y is h(y) pixels tall (`PersonScale`) and covers
A₁(y) = fill · 0.4 · h(y)² pixels of foreground; a blob of area A with its bottom at row y
holds n = round(A / A₁(y)) people, and a blob under 0.3 · A₁(y) is noise. Still people fade
into the background: a new pixel colour becomes background once its mixture weight passes
1 − 0.9 (MOG2's background ratio), after ≈ 0.1 · history, so ≈ 4 s for a 40 s history.

`hog`: OpenCV's HOG + linear SVM people detector (Dalal & Triggs 2005; trained on 64 × 128
windows), on the frame enlarged by `hog_upscale`, boxes merged by non-maximum suppression; one
box is one person. It finds still people too, but not small or overlapping ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ouie.video.config import DetectorConfig, PersonScale

MIN_FILL_FRACTION = 0.3
"""A blob smaller than this fraction of one expected person is noise."""

PERSON_WIDTH_OVER_HEIGHT = 0.4
"""A standing person's box is about 0.4 times as wide as tall."""


@dataclass(frozen=True)
class Detection:
    """People seen together: their box [x0, y0, x1, y1] and feet point in full-image pixels,
    and how many people the box holds (≥ 1)."""

    box_px: tuple[float, float, float, float]
    people: int

    @property
    def feet_px(self) -> tuple[float, float]:
        """The bottom centre of the box."""
        x0, _, x1, y1 = self.box_px
        return ((x0 + x1) / 2, y1)

    def feet_points_px(self) -> list[tuple[float, float]]:
        """One feet point per person, spread evenly along the bottom of the box."""
        x0, _, x1, y1 = self.box_px
        width = (x1 - x0) / self.people
        return [(x0 + width * (k + 0.5), y1) for k in range(self.people)]


class PeopleDetector:
    """Finds people on successive frames of one camera (see the module docstring)."""

    def __init__(self, config: DetectorConfig, scale: PersonScale, analysis_fps: float) -> None:
        self.config = config
        self.scale = scale
        history = max(2, round(config.background_history_s * analysis_fps))
        self._subtractor: cv2.BackgroundSubtractor | None = None
        self._hog: cv2.HOGDescriptor | None = None
        if config.method == "mog2":
            self._subtractor = cv2.createBackgroundSubtractorMOG2(
                history=history, varThreshold=config.variance_threshold, detectShadows=True
            )
        elif config.method == "knn":
            self._subtractor = cv2.createBackgroundSubtractorKNN(
                history=history, detectShadows=True
            )
        else:
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(
                np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32)
            )
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The people on this frame (BGR, full size)."""
        if self._hog is not None:
            return self._detect_hog(image)
        return self._detect_blobs(image)

    def _detect_blobs(self, image: np.ndarray) -> list[Detection]:
        assert self._subtractor is not None
        k = self.config.downscale
        small = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        mask = self._subtractor.apply(small)
        mask = (mask > 200).astype(np.uint8)  # 127 marks shadows
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        found = []
        for x, y, w, h, area in stats[1:count]:
            bottom_px = (y + h) / k
            height_px = float(self.scale.height_px(bottom_px))
            one_person_px = (
                self.config.silhouette_fill * PERSON_WIDTH_OVER_HEIGHT * height_px**2 * k * k
            )
            if area < MIN_FILL_FRACTION * one_person_px:
                continue
            people = max(1, round(area / one_person_px))
            found.append(Detection((x / k, y / k, (x + w) / k, bottom_px), people))
        return found

    def _detect_hog(self, image: np.ndarray) -> list[Detection]:
        assert self._hog is not None
        k = self.config.hog_upscale
        big = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
        boxes, weights = self._hog.detectMultiScale(big, winStride=(8, 8), padding=(8, 8))
        if len(boxes) == 0:
            return []
        keep = cv2.dnn.NMSBoxes(
            [[int(v) for v in box] for box in boxes],
            [float(w) for w in np.ravel(weights)],
            0.0,
            0.4,
        )
        found = []
        for index in np.ravel(np.asarray(keep, int)):
            x, y, w, h = (float(v) / k for v in boxes[index])
            found.append(Detection((x, y, x + w, y + h), 1))
        return found
