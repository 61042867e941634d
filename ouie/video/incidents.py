"""Video events as incidents (`ouie.incident/1`, status `camera`), so that they take the same
path as sounds: stored, published, shown on the console, decided by an operator, audited and
counted by the observatory.

An episode gives one incident id, the same at both of its revisions: revision 1 when it
reaches its threshold (ongoing: the operator sees it now), revision 2 when it ends (with its
end time and final count). The incident carries the camera, the zone, how many people and when;
no image, no box, nothing about who.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from ouie.core.incident import Incident, IncidentStatus, VideoSighting
from ouie.core.timebase import NS_PER_S
from ouie.video.config import VideoCamera
from ouie.video.events import CameraAnalyser, VideoEvent
from ouie.video.people import Detection
from ouie.video.privacy import jpeg, operator_view
from ouie.video.source import VideoReadError, read_frames

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("5f1c1d52-7a0b-4d0e-9a61-0c7e5bd1e0a1")


def incident_of(event: VideoEvent) -> Incident:
    """The incident of a video event (see the module docstring)."""
    onset_ns = round(event.start_utc.timestamp() * NS_PER_S)
    key = f"{event.camera}/{event.zone}/{event.kind}/{onset_ns}"
    end_ns = onset_ns + round((event.end_s - event.start_s) * NS_PER_S)
    return Incident(
        incident_id=f"video-{uuid.uuid5(_NAMESPACE, key)}",
        revision=1 if event.ongoing else 2,
        class_=event.kind,
        status=IncidentStatus.CAMERA,
        onset_ns=onset_ns,
        sensors_used=[],
        report_ids=[],
        score=1.0,
        video=VideoSighting(
            camera_id=event.camera,
            zone=event.zone,
            people=event.count,
            end_ns=end_ns,
            ongoing=event.ongoing,
            peak_people_per_m2=event.peak_people_per_m2,
        ),
    )


class CameraWatch:
    """One camera analysed in a thread of its own (`run`), its events handed on as incidents.

    The last analysed frame and the people on it are kept in memory (replaced at each frame,
    dropped when the watch ends) only so that an operator may ask for the camera's current view
    with the people blurred (`snapshot`); nothing is written anywhere unless an operator saves
    that view on an incident (the console's "save image", stored with the incident).

    A PTZ camera (`ptz: true`) is analysed only while `at_home()` says it is at its home
    position: the zones are drawn on that view. When it leaves, its open episodes are closed
    and its background forgotten; when it is back, the background is learnt anew."""

    def __init__(
        self,
        camera: VideoCamera,
        on_incidents: Callable[[list[Incident]], None],
        stop: threading.Event,
        at_home: Callable[[], bool] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.camera = camera
        self.on_incidents = on_incidents
        self.stop = stop
        self.at_home = at_home
        self.clock = clock
        self._lock = threading.Lock()
        self._view: tuple[np.ndarray, list[Detection]] | None = None

    def snapshot(self, *, blurred: bool = True) -> bytes:
        """The last analysed frame with its people blurred (unless `blurred` is False: only for
        a supervisor's save, see the console) and the zones and lines drawn, as JPEG. Raises
        LookupError when there is none (not started, away from home, or ended)."""
        with self._lock:
            view = self._view
        if view is None:
            raise LookupError(f"video camera {self.camera.id} has no current view")
        image, detections = view
        return jpeg(operator_view(image, detections, self.camera, blurred=blurred))

    def _hand_on(self, events: list[VideoEvent]) -> None:
        if events:
            self.on_incidents([incident_of(event) for event in events])

    def run(self) -> None:
        """Analyse the camera's `source` until it ends or `stop` is set; the first frame's
        time is the clock's when it arrives. A source that cannot be read is logged and ends
        the watch."""
        camera = self.camera
        if camera.source is None:
            log.error("video camera %s has no source: not analysed", camera.id)
            return
        if camera.ptz and self.at_home is None:
            log.error("video camera %s is PTZ and its position is unknown: not analysed", camera.id)
            return
        analyser: CameraAnalyser | None = None
        try:
            for frame in read_frames(camera.source, camera.analysis_fps):
                if self.stop.is_set():
                    break
                if camera.ptz and self.at_home is not None and not self.at_home():
                    if analyser is not None:
                        self._hand_on(analyser.finish())
                        analyser = None
                    with self._lock:
                        self._view = None
                    continue
                if analyser is None:
                    analyser = CameraAnalyser(camera, self.clock() - timedelta(seconds=frame.t_s))
                result = analyser.step(frame)
                with self._lock:
                    self._view = (frame.image, result.detections)
                self._hand_on(result.events)
        except VideoReadError as error:
            log.error("video camera %s: %s", camera.id, error)
        if analyser is not None:
            self._hand_on(analyser.finish())
        with self._lock:
            self._view = None


class VideoDesk:
    """The video cameras being watched, by id: what the console asks for a current view."""

    def __init__(self, watches: list[CameraWatch]) -> None:
        self.watches = {watch.camera.id: watch for watch in watches}

    def snapshot(self, camera_id: str, *, blurred: bool = True) -> tuple[bytes, str]:
        """The camera's current view with its people blurred (unless `blurred` is False),
        JPEG. KeyError for an unknown camera, LookupError when it has no current view."""
        return self.watches[camera_id].snapshot(blurred=blurred), "image/jpeg"
