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

from ouie.core.incident import Incident, IncidentStatus, VideoSighting
from ouie.core.timebase import NS_PER_S
from ouie.video.config import VideoCamera
from ouie.video.events import CameraAnalyser, VideoEvent
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


def watch_camera(
    camera: VideoCamera,
    on_incidents: Callable[[list[Incident]], None],
    stop: threading.Event,
    at_home: Callable[[], bool] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Analyse the camera's `source` until it ends or `stop` is set, handing each event's
    incident to `on_incidents`; the first frame's time is the clock's when it arrives. A
    source that cannot be read is logged and ends the watch.

    A PTZ camera (`ptz: true`) is analysed only while `at_home()` says it is at its home
    position: the zones are drawn on that view. When it leaves, its open episodes are closed
    and its background forgotten; when it is back, the background is learnt anew."""
    if camera.source is None:
        log.error("video camera %s has no source: not analysed", camera.id)
        return
    if camera.ptz and at_home is None:
        log.error("video camera %s is PTZ and its position is unknown: not analysed", camera.id)
        return
    analyser: CameraAnalyser | None = None

    def close() -> None:
        if analyser is not None:
            closed = analyser.finish()
            if closed:
                on_incidents([incident_of(event) for event in closed])

    try:
        for frame in read_frames(camera.source, camera.analysis_fps):
            if stop.is_set():
                break
            if camera.ptz and at_home is not None and not at_home():
                close()
                analyser = None
                continue
            if analyser is None:
                analyser = CameraAnalyser(camera, clock() - timedelta(seconds=frame.t_s))
            events = analyser.step(frame).events
            if events:
                on_incidents([incident_of(event) for event in events])
    except VideoReadError as error:
        log.error("video camera %s: %s", camera.id, error)
    close()
