"""Cameras' own audio detections in: a PullPoint subscription (ONVIF Event service, over
`onvif-zeep-async`) to every camera with `audio_events: true`.

Each notification on `tns1:RuleEngine/AudioDetector/Class` or
`tns1:AudioAnalytics/Audio/DetectedSound` with a `Class` ouie knows becomes a `CameraSound`
handed to `on_sound` (from the listener's thread). The camera stamps it on its own clock; the
listener moves the stamp onto ours by the offset its PullMessages answers show
(CurrentTime − our clock at receipt, when it exceeds `CLOCK_SLACK_S`: within it the camera is
taken as synced, since answers give whole seconds). A camera that fails is
retried after `retry_s`, doubled after each failure in a row up to a minute, its subscription
made anew; the others go on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ouie.cameras.config import CameraConfig, CameraCredentials
from ouie.core.camera_sound import CameraSound
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.transport.pullpoint import AUDIO_CLASS_TOPIC, DETECTED_SOUND_TOPIC, ouie_class

log = logging.getLogger(__name__)

CLOCK_SLACK_S = 1.0
"""A camera clock within this of ours is taken as right (CurrentTime has whole seconds), s."""
MAX_RETRY_S = 60.0
"""Longest wait before subscribing again to a camera that keeps failing, s."""
AUDIO_TOPICS = (AUDIO_CLASS_TOPIC, DETECTED_SOUND_TOPIC)
"""The topics taken in (after the prefix, e.g. 'tns1:')."""


def _ns(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return round(moment.timestamp() * NS_PER_S)


def _items(group: Any) -> dict[str, str]:
    items = getattr(group, "SimpleItem", None) or []
    return {str(item.Name): str(item.Value) for item in items}


def camera_sound(camera_id: str, message: Any, offset_ns: int) -> CameraSound | None:
    """The `CameraSound` of one PullMessages NotificationMessage (as zeep parses it), or None
    for another topic or a class ouie has none for. `offset_ns`: camera clock − ours."""
    topic = str(getattr(message.Topic, "_value_1", "") or "").strip()
    bare = topic.split(":", 1)[-1]
    if bare not in AUDIO_TOPICS:
        return None
    payload = message.Message._value_1
    data = _items(getattr(payload, "Data", None))
    event_class = ouie_class(data.get("Class", ""))
    utc = getattr(payload, "UtcTime", None)
    if event_class is None or utc is None:
        return None
    if isinstance(utc, str):
        utc = dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
    try:
        score: float | None = min(1.0, max(0.0, float(data["Score"])))
    except (KeyError, ValueError):
        score = None
    return CameraSound(
        camera_id=camera_id,
        class_=event_class,
        heard_ns=_ns(utc) - offset_ns,
        score=score,
        topic=bare,
    )


class CameraSoundListener:
    """PullPoint subscriptions to the cameras' audio detections (see module docstring)."""

    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        on_sound: Callable[[CameraSound], None],
        *,
        credentials: CameraCredentials | None = None,
        pull_wait_s: float = 5.0,
        retry_s: float = 5.0,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        """`credentials`: the same for every camera (a virtual fleet); None: each camera's."""
        self.cameras = [c for c in cameras if c.audio_events]
        self.on_sound, self.credentials, self.clock = on_sound, credentials, clock
        self.pull_wait_s, self.retry_s = pull_wait_s, retry_s
        self.received = 0
        """Sounds handed to `on_sound`."""
        self.failures = 0
        """Subscriptions lost or refused (each retried)."""
        self.subscribed: set[str] = set()
        """Cameras with a live subscription."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main_task: asyncio.Future[Any] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        """Subscribe to every camera from a thread of its own (no-op without cameras)."""
        if not self.cameras:
            return
        self._thread = threading.Thread(target=self._run, name="camera-sounds", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Unsubscribe and stop."""
        loop, task = self._loop, self._main_task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._thread = None

    def _run(self) -> None:
        self._loop = loop = asyncio.new_event_loop()
        self._main_task = asyncio.gather(
            *[loop.create_task(self._follow(camera)) for camera in self.cameras]
        )
        self._ready.set()
        try:
            loop.run_until_complete(self._main_task)
        except asyncio.CancelledError:
            pass  # stopped: each camera unsubscribed on its way out
        finally:
            loop.close()

    async def _follow(self, camera: CameraConfig) -> None:
        """Subscribe and pull until stopped; after a failure wait retry_s, doubled after each
        failure in a row up to MAX_RETRY_S (back to retry_s once a subscription worked)."""
        wait_s = self.retry_s
        while True:
            try:
                await self._subscribe_and_pull(camera)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.failures += 1
                wait_s = self.retry_s if camera.id in self.subscribed else wait_s
                log.warning(
                    "audio events of camera %s: %s; again in %.0f s", camera.id, error, wait_s
                )
            finally:
                self.subscribed.discard(camera.id)
            await asyncio.sleep(wait_s)
            wait_s = min(2 * wait_s, max(MAX_RETRY_S, self.retry_s))

    async def _subscribe_and_pull(self, camera: CameraConfig) -> None:
        import onvif
        from onvif import ONVIFCamera

        credentials = self.credentials or camera.credentials()
        device = ONVIFCamera(
            camera.onvif_host,
            camera.onvif_port,
            credentials.username,
            credentials.password.get_secret_value(),
            wsdl_dir=str(Path(onvif.__file__).parent / "wsdl"),
            no_cache=True,
            adjust_time=True,
        )
        manager = None
        try:
            await device.update_xaddrs()
            manager = await device.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
            service = manager.get_service()
            self.subscribed.add(camera.id)
            while True:
                response = await service.PullMessages(
                    {"MessageLimit": 20, "Timeout": dt.timedelta(seconds=self.pull_wait_s)}
                )
                offset_ns = _ns(response.CurrentTime) - self.clock()
                if abs(offset_ns) <= CLOCK_SLACK_S * NS_PER_S:
                    offset_ns = 0
                for message in response.NotificationMessage or []:
                    sound = camera_sound(camera.id, message, offset_ns)
                    if sound is not None:
                        self.received += 1
                        self.on_sound(sound)
        finally:
            if manager is not None:
                try:
                    await manager.shutdown()
                except Exception:
                    log.debug("camera %s: unsubscribe failed", camera.id, exc_info=True)
            await device.close()
