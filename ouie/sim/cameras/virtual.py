"""A virtual PTZ camera: a real ONVIF device over HTTP/SOAP on 127.0.0.1.

It implements the subset of ONVIF that ouie uses, so the ONVIF client library talks to it
unchanged:
- Device: GetSystemDateAndTime (open, as ONVIF allows before authentication), GetCapabilities,
  GetServices, GetDeviceInformation;
- Media: GetProfiles, GetSnapshotUri (the snapshot is a PNG rendered from the scenario at the
  current pan/tilt/zoom, see `ouie.sim.cameras.render`);
- PTZ: AbsoluteMove, RelativeMove, GotoPreset, GotoHomePosition, GetPresets, GetStatus;
- Events (PullPoint, `ouie.transport.pullpoint`): the camera's own audio detector, as on cameras
  that classify sounds: `hear(...)` publishes `tns1:RuleEngine/AudioDetector/Class` with its
  `Class` (GunShot, Scream, ...) and `Score`, stamped by the camera's clock.
Every operation but GetSystemDateAndTime needs a valid WS-Security UsernameToken; a wrong one
gets the ONVIF fault env:Sender/ter:NotAuthorized. Moves are instantaneous, or slew at a given
speed (GetStatus then reports intermediate positions and MOVING until the head arrives).

`start_virtual_cameras(...)` starts several in-process on free loopback ports and stops them.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lxml import etree
from pydantic import SecretStr

from ouie.cameras.config import (
    ONVIF_PAN_TILT_SPACE,
    ONVIF_ZOOM_SPACE,
    CameraConfig,
    CameraCredentials,
)
from ouie.cameras.geometry import (
    PtzPosition,
    View,
    camera_position_enu,
    hfov_for_zoom,
    onvif_to_pan,
    onvif_to_tilt,
    pan_to_onvif,
    tilt_to_onvif,
)
from ouie.cameras.planning import BuildingShape, masks_enu
from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.sim.cameras.render import Mark, Scene, png_bytes, render_view
from ouie.sim.scenario import Scenario
from ouie.transport.pullpoint import (
    AUDIO_CLASS_TOPIC,
    OUIE_NS,
    TEV,
    PullPointBroker,
    notification,
    onvif_class,
    simple_items,
)
from ouie.transport.soap import (
    E_TDS,
    E_TPTZ,
    E_TRT,
    E_TT,
    TDS,
    TPTZ,
    TRT,
    TT,
    SoapFault,
    UsernameTokenChecker,
    envelope,
    fault_envelope,
    local_name,
    parse_request,
)

log = logging.getLogger(__name__)

PROFILE_TOKEN = "profile_main"
PTZ_NODE_TOKEN = "ptz_node"
SERVICE_PATHS = {
    "device": "/onvif/device_service",
    "media": "/onvif/media_service",
    "ptz": "/onvif/ptz_service",
    "events": "/onvif/event_service",
}
SUBSCRIPTION_PATH = "/onvif/subscription"
AUDIO_SOURCE_TOKEN = "audio_main"
TRANSLATION_SPACE = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace"
ZOOM_TRANSLATION_SPACE = "http://www.onvif.org/ver10/tptz/ZoomSpaces/TranslationGenericSpace"


def _vector(parent: etree._Element | None, name: str, default: PtzPosition) -> PtzPosition:
    """Read tt:PanTilt x/y and tt:Zoom x under `parent`; absent parts keep `default`."""
    if parent is None:
        raise SoapFault("Sender", "InvalidArgVal", f"no {name} in the request")
    pan_tilt, zoom = parent.find(f"{{{TT}}}PanTilt"), parent.find(f"{{{TT}}}Zoom")
    try:
        return PtzPosition(
            float(pan_tilt.get("x")) if pan_tilt is not None else default.pan,
            float(pan_tilt.get("y")) if pan_tilt is not None else default.tilt,
            float(zoom.get("x")) if zoom is not None else default.zoom,
        )
    except (TypeError, ValueError):
        raise SoapFault("Sender", "InvalidArgVal", f"{name}: x/y must be numbers") from None


class VirtualPtzCamera:
    """One virtual ONVIF PTZ camera serving HTTP on 127.0.0.1 (port chosen by the OS)."""

    def __init__(
        self,
        camera: CameraConfig,
        frame: LocalFrame,
        buildings: Sequence[BuildingShape],
        credentials: CameraCredentials,
        *,
        absolute_move: bool = True,
        slew_per_s: float | None = None,
        clock_offset_s: float = 0.0,
        snapshot_size_px: tuple[int, int] = (640, 360),
    ) -> None:
        """`slew_per_s`: speed on each axis in ONVIF units per second (None: moves at once);
        `clock_offset_s`: how far the device clock is from UTC, s (as on a camera without NTP)."""
        self.config = camera
        self.camera_enu = camera_position_enu(camera, frame)
        self.scene = Scene(buildings=list(buildings), masks=masks_enu(camera, frame))
        self.absolute_move_supported = absolute_move
        self.slew_per_s = slew_per_s
        self.snapshot_size_px = snapshot_size_px
        self.moves = 0
        """PTZ commands that moved the camera since start (AbsoluteMove, RelativeMove, Goto*)."""
        self.clock_offset_s = clock_offset_s
        self._checker = UsernameTokenChecker(
            credentials.username, credentials.password.get_secret_value(), clock_offset_s
        )
        self._lock = threading.Lock()
        self._home = PtzPosition(
            pan_to_onvif(camera, camera.home_pan_deg),
            tilt_to_onvif(camera, camera.home_tilt_deg),
            0.0,
        )
        self._start, self._target, self._started_s = self._home, self._home, 0.0
        self._snapshot_token = secrets.token_urlsafe(16)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.events = PullPointBroker(
            {AUDIO_CLASS_TOPIC: _audio_class_description()}, now=self._now
        )
        """The PullPoint subscriptions to the camera's own audio detections (`hear`)."""

    # --- state ---------------------------------------------------------------------------

    def _position_at(self, now_s: float) -> PtzPosition:
        """Where the head is at `now_s` (monotonic s): linear from start to target, each axis
        at `slew_per_s`, all axes arriving together (the longest axis sets the duration)."""
        start, target = self._start, self._target
        distance = max(
            abs(target.pan - start.pan),
            abs(target.tilt - start.tilt),
            abs(target.zoom - start.zoom),
        )
        if self.slew_per_s is None or distance == 0:
            return target
        f = min(1.0, (now_s - self._started_s) * self.slew_per_s / distance)
        return PtzPosition(
            start.pan + f * (target.pan - start.pan),
            start.tilt + f * (target.tilt - start.tilt),
            start.zoom + f * (target.zoom - start.zoom),
        )

    @property
    def position(self) -> PtzPosition:
        """The current position in ONVIF units."""
        with self._lock:
            return self._position_at(time.monotonic())

    @property
    def view(self) -> View:
        """The current view in degrees (bearing, tilt, hfov)."""
        return self._view_at(self.position)

    def _view_at(self, position: PtzPosition) -> View:
        """The view in degrees (bearing, tilt, hfov) at ONVIF `position`."""
        pan = onvif_to_pan(self.config, position.pan)
        return View(
            (self.config.heading_deg + pan) % 360.0,
            onvif_to_tilt(self.config, position.tilt),
            hfov_for_zoom(self.config, position.zoom),
        )

    def _now(self) -> datetime:
        """The device clock (UTC plus `clock_offset_s`)."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)

    def hear(self, event_class: EventClass, score: float = 0.9, at: datetime | None = None) -> None:
        """The camera's own audio detector classified a sound: publish
        `tns1:RuleEngine/AudioDetector/Class` (Class, Score) to its subscribers, stamped `at`
        (default: now) on the camera's clock, which runs `clock_offset_s` from UTC."""
        moment = (at or datetime.now(UTC)) + timedelta(seconds=self.clock_offset_s)
        source = {"AudioSourceConfigurationToken": AUDIO_SOURCE_TOKEN, "Rule": "AudioClassifier"}
        data = simple_items({"Class": onvif_class(event_class), "Score": f"{score:.3f}"})
        utc = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        message = notification(AUDIO_CLASS_TOPIC, utc, source, data, namespaces={"ouie": OUIE_NS})
        self.events.publish(message)

    def set_marks(self, marks: Sequence[Mark]) -> None:
        """Sources to mark in the snapshot when they are in view."""
        self.scene.marks = list(marks)

    def _move_to(self, position: PtzPosition) -> None:
        with self._lock:
            now_s = time.monotonic()
            self._start, self._started_s = self._position_at(now_s), now_s
            self._target = position.clipped()
            self.moves += 1

    def snapshot_png(self) -> bytes:
        """The PNG the camera would show now."""
        position = self.position
        view = self._view_at(position)
        pan = onvif_to_pan(self.config, position.pan)
        caption = (
            f"{self.config.id}  pan {pan:+.1f}°  tilt {view.tilt_deg:+.1f}°  "
            f"hfov {view.hfov_deg:.1f}°  {self._now():%Y-%m-%d %H:%M:%S}Z"
        )
        return png_bytes(
            render_view(self.scene, self.camera_enu, view, *self.snapshot_size_px, caption)
        )

    # --- server ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port it listens on (after `start`)."""
        if self._server is None:
            raise RuntimeError(f"virtual camera {self.config.id} is not started")
        return int(self._server.server_address[1])

    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen on a free loopback port and serve in a background thread."""
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"onvif-{self.config.id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.events.close()  # waiting PullMessages return first
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    # --- SOAP ------------------------------------------------------------------------------

    def handle_soap(self, service: str, payload: bytes) -> tuple[int, bytes]:
        """Answer one SOAP request to `service` ('device', 'media', 'ptz', 'events', or
        'subscription/<id>'): (HTTP status, body)."""
        try:
            operation, header = parse_request(payload)
            name = local_name(operation)
            if name != "GetSystemDateAndTime":
                self._checker.check(header)
            if service == "events":
                base = self.base_url() + SUBSCRIPTION_PATH
                return 200, envelope(self.events.event_operation(operation, base))
            if service.startswith("subscription/"):
                point_id = service.removeprefix("subscription/")
                return 200, envelope(self.events.subscription_operation(point_id, operation))
            handler = self._operations().get((service, name))
            if handler is None:
                raise SoapFault(
                    "Receiver", "ActionNotSupported", f"{service}: {name} not supported"
                )
            return 200, envelope(handler(operation))
        except SoapFault as fault:
            return fault.http_status, fault_envelope(fault)
        except Exception:  # a bug here must still answer, without leaking internals
            log.exception("virtual camera %s: %s request failed", self.config.id, service)
            return 500, fault_envelope(SoapFault("Receiver", "Action", "internal error", 500))

    def _operations(self) -> dict[tuple[str, str], Callable[[etree._Element], etree._Element]]:
        operations: dict[tuple[str, str], Callable[[etree._Element], etree._Element]] = {
            ("device", "GetSystemDateAndTime"): self._get_system_date_and_time,
            ("device", "GetCapabilities"): self._get_capabilities,
            ("device", "GetServices"): self._get_services,
            ("device", "GetDeviceInformation"): self._get_device_information,
            ("media", "GetProfiles"): self._get_profiles,
            ("media", "GetSnapshotUri"): self._get_snapshot_uri,
            ("ptz", "GetStatus"): self._get_status,
            ("ptz", "RelativeMove"): self._relative_move,
            ("ptz", "GotoPreset"): self._goto_preset,
            ("ptz", "GotoHomePosition"): self._goto_home_position,
            ("ptz", "GetPresets"): self._get_presets,
        }
        if self.absolute_move_supported:
            operations[("ptz", "AbsoluteMove")] = self._absolute_move
        return operations

    def _get_system_date_and_time(self, _: etree._Element) -> etree._Element:
        now = self._now()
        return E_TDS.GetSystemDateAndTimeResponse(
            E_TDS.SystemDateAndTime(
                E_TT.DateTimeType("NTP"),
                E_TT.DaylightSavings("false"),
                E_TT.TimeZone(E_TT.TZ("UTC0")),
                E_TT.UTCDateTime(
                    E_TT.Time(
                        E_TT.Hour(str(now.hour)),
                        E_TT.Minute(str(now.minute)),
                        E_TT.Second(str(now.second)),
                    ),
                    E_TT.Date(
                        E_TT.Year(str(now.year)), E_TT.Month(str(now.month)), E_TT.Day(str(now.day))
                    ),
                ),
            )
        )

    def _xaddr(self, service: str) -> str:
        return f"{self.base_url()}{SERVICE_PATHS[service]}"

    def _get_capabilities(self, _: etree._Element) -> etree._Element:
        """Device, Events, Media, PTZ: in the schema's order (clients read it by position)."""
        return E_TDS.GetCapabilitiesResponse(
            E_TDS.Capabilities(
                E_TT.Device(E_TT.XAddr(self._xaddr("device"))),
                E_TT.Events(
                    E_TT.XAddr(self._xaddr("events")),
                    E_TT.WSSubscriptionPolicySupport("false"),
                    E_TT.WSPullPointSupport("true"),
                    E_TT.WSPausableSubscriptionManagerInterfaceSupport("false"),
                ),
                E_TT.Media(
                    E_TT.XAddr(self._xaddr("media")),
                    E_TT.StreamingCapabilities(
                        E_TT.RTPMulticast("false"),
                        E_TT.RTP_TCP("false"),
                        E_TT.RTP_RTSP_TCP("false"),
                    ),
                ),
                E_TT.PTZ(E_TT.XAddr(self._xaddr("ptz"))),
            )
        )

    def _get_services(self, _: etree._Element) -> etree._Element:
        services = [("device", TDS), ("media", TRT), ("ptz", TPTZ), ("events", TEV)]
        return E_TDS.GetServicesResponse(
            *[
                E_TDS.Service(
                    E_TDS.Namespace(namespace),
                    E_TDS.XAddr(self._xaddr(name)),
                    E_TDS.Version(E_TT.Major("2"), E_TT.Minor("60")),
                )
                for name, namespace in services
            ]
        )

    def _get_device_information(self, _: etree._Element) -> etree._Element:
        return E_TDS.GetDeviceInformationResponse(
            E_TDS.Manufacturer("ouie"),
            E_TDS.Model("virtual PTZ"),
            E_TDS.FirmwareVersion("1"),
            E_TDS.SerialNumber(self.config.id),
            E_TDS.HardwareId("virtual"),
        )

    def _get_profiles(self, _: etree._Element) -> etree._Element:
        width, height = self.snapshot_size_px
        ptz_configuration = E_TT.PTZConfiguration(
            E_TT.Name("ptz"),
            E_TT.UseCount("1"),
            E_TT.NodeToken(PTZ_NODE_TOKEN),
            E_TT.DefaultAbsolutePantTiltPositionSpace(ONVIF_PAN_TILT_SPACE),
            E_TT.DefaultAbsoluteZoomPositionSpace(ONVIF_ZOOM_SPACE),
            E_TT.DefaultRelativePanTiltTranslationSpace(TRANSLATION_SPACE),
            E_TT.DefaultRelativeZoomTranslationSpace(ZOOM_TRANSLATION_SPACE),
            token="ptz_config",
        )
        source = E_TT.VideoSourceConfiguration(
            E_TT.Name("source"),
            E_TT.UseCount("1"),
            E_TT.SourceToken("video_source"),
            E_TT.Bounds(x="0", y="0", width=str(width), height=str(height)),
            token="video_source_config",
        )
        return E_TRT.GetProfilesResponse(
            E_TRT.Profiles(
                E_TT.Name("main"), source, ptz_configuration, token=PROFILE_TOKEN, fixed="true"
            )
        )

    def _get_snapshot_uri(self, _: etree._Element) -> etree._Element:
        uri = f"{self.base_url()}/snapshot/{self._snapshot_token}.png"
        return E_TRT.GetSnapshotUriResponse(
            E_TRT.MediaUri(
                E_TT.Uri(uri),
                E_TT.InvalidAfterConnect("false"),
                E_TT.InvalidAfterReboot("true"),
                E_TT.Timeout("PT0S"),
            )
        )

    def _get_status(self, _: etree._Element) -> etree._Element:
        position = self.position
        status = "MOVING" if position != self._target else "IDLE"
        return E_TPTZ.GetStatusResponse(
            E_TPTZ.PTZStatus(
                E_TT.Position(
                    E_TT.PanTilt(
                        x=repr(position.pan), y=repr(position.tilt), space=ONVIF_PAN_TILT_SPACE
                    ),
                    E_TT.Zoom(x=repr(position.zoom), space=ONVIF_ZOOM_SPACE),
                ),
                E_TT.MoveStatus(E_TT.PanTilt(status), E_TT.Zoom(status)),
                E_TT.UtcTime(self._now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
            )
        )

    def _absolute_move(self, operation: etree._Element) -> etree._Element:
        self._move_to(_vector(operation.find(f"{{{TPTZ}}}Position"), "Position", self.position))
        return E_TPTZ.AbsoluteMoveResponse()

    def _relative_move(self, operation: etree._Element) -> etree._Element:
        zero = PtzPosition(0.0, 0.0, 0.0)
        delta = _vector(operation.find(f"{{{TPTZ}}}Translation"), "Translation", zero)
        now = self.position
        self._move_to(
            PtzPosition(now.pan + delta.pan, now.tilt + delta.tilt, now.zoom + delta.zoom)
        )
        return E_TPTZ.RelativeMoveResponse()

    def _goto_preset(self, operation: etree._Element) -> etree._Element:
        token = operation.findtext(f"{{{TPTZ}}}PresetToken")
        if token != self.config.home_preset:
            raise SoapFault("Sender", "NoToken", f"no preset {token!r}")
        self._move_to(self._home)
        return E_TPTZ.GotoPresetResponse()

    def _goto_home_position(self, _: etree._Element) -> etree._Element:
        self._move_to(self._home)
        return E_TPTZ.GotoHomePositionResponse()

    def _get_presets(self, _: etree._Element) -> etree._Element:
        home = E_TPTZ.Preset(
            E_TT.Name("home"),
            E_TT.PTZPosition(
                E_TT.PanTilt(
                    x=repr(self._home.pan), y=repr(self._home.tilt), space=ONVIF_PAN_TILT_SPACE
                ),
                E_TT.Zoom(x=repr(self._home.zoom), space=ONVIF_ZOOM_SPACE),
            ),
            token=self.config.home_preset,
        )
        return E_TPTZ.GetPresetsResponse(home)

    def snapshot_path(self) -> str:
        """The secret path of the snapshot (handed out only by an authenticated GetSnapshotUri)."""
        return f"/snapshot/{self._snapshot_token}.png"


def _audio_class_description() -> etree._Element:
    """The tt:MessageDescription of the camera's audio classification events."""
    return E_TT.MessageDescription(
        E_TT.Source(
            E_TT.SimpleItemDescription(
                Name="AudioSourceConfigurationToken", Type="tt:ReferenceToken"
            ),
            E_TT.SimpleItemDescription(Name="Rule", Type="xs:string"),
        ),
        E_TT.Data(
            E_TT.SimpleItemDescription(Name="Class", Type="tt:AudioClassification"),
            E_TT.SimpleItemDescription(Name="Score", Type="xs:float"),
        ),
        IsProperty="false",
    )


def _handler_for(camera: VirtualPtzCamera) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler class bound to one virtual camera."""
    services = {path: name for name, path in SERVICE_PATHS.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # answers are small: send at once (no 40 ms stalls)

        def do_POST(self) -> None:
            path = self.path.split("?")[0]
            service = services.get(path)
            if path.startswith(SUBSCRIPTION_PATH + "/"):
                service = "subscription/" + path.removeprefix(SUBSCRIPTION_PATH + "/")
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length)
            if service is None:
                self._reply(404, b"no such ONVIF service", "text/plain")
                return
            status, body = camera.handle_soap(service, payload)
            self._reply(status, body, "application/soap+xml; charset=utf-8")

        def do_GET(self) -> None:
            if self.path.split("?")[0] != camera.snapshot_path():
                self._reply(404, b"not found", "text/plain")
                return
            self._reply(200, camera.snapshot_png(), "image/png")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: requests are not logged (they would show nothing useful)."""

    return Handler


@dataclass
class VirtualCameraFleet:
    """Running virtual cameras and how to reach them (configs point at their loopback ports)."""

    cameras: dict[str, VirtualPtzCamera]
    configs: dict[str, CameraConfig]
    credentials: CameraCredentials

    def set_marks(self, marks: Sequence[Mark]) -> None:
        """Mark these sources in every camera's snapshots."""
        for camera in self.cameras.values():
            camera.set_marks(marks)

    def stop(self) -> None:
        """Stop every camera."""
        for camera in self.cameras.values():
            camera.stop()


@contextmanager
def start_virtual_cameras(
    cameras: Sequence[CameraConfig],
    frame: LocalFrame,
    buildings: Sequence[BuildingShape] = (),
    *,
    absolute_move: bool = True,
    slew_per_s: float | None = None,
    clock_offset_s: float = 0.0,
    username: str = "ouie",
) -> Iterator[VirtualCameraFleet]:
    """Start one virtual camera per config on free loopback ports (a fresh random password,
    shared by the fleet) and stop them all on exit. The fleet's `configs` are the given ones
    with `onvif_host`/`onvif_port` pointing at the virtual devices."""
    credentials = CameraCredentials(
        username=username, password=SecretStr(secrets.token_urlsafe(18))
    )
    running: dict[str, VirtualPtzCamera] = {}
    try:
        for config in cameras:
            virtual = VirtualPtzCamera(
                config,
                frame,
                buildings,
                credentials,
                absolute_move=absolute_move,
                slew_per_s=slew_per_s,
                clock_offset_s=clock_offset_s,
            )
            virtual.start()
            running[config.id] = virtual
        configs = {
            cid: v.config.model_copy(update={"onvif_host": "127.0.0.1", "onvif_port": v.port})
            for cid, v in running.items()
        }
        fleet = VirtualCameraFleet(running, configs, credentials)
        yield fleet
    finally:
        for virtual in running.values():
            virtual.stop()


def scenario_marks(scenario: Scenario) -> list[Mark]:
    """The scenario's scripted sound events as marks (class label at the source position)."""
    marks = []
    for event in scenario.events:
        east, north, _ = scenario.frame.to_enu(event.lat, event.lon, scenario.origin.height_m)
        marks.append(Mark((float(east), float(north), event.height_m), event.class_))
    return marks
