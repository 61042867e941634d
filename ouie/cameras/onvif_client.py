"""A thin async PTZ client over `onvif-zeep-async` (which ships the ONVIF WSDL, works offline).

What ouie needs from a camera: its first PTZ profile, AbsoluteMove (falling back to RelativeMove
from the current status, then to a preset where a camera lacks it), GetStatus to confirm the
position, GetSnapshotUri and the snapshot, and the home position. Every call has a timeout,
connection failures are retried, and errors say which camera and what went wrong: wrong
password (`CameraAuthError`), unreachable (`CameraUnreachableError`), refused command
(`CameraCommandError`). Credentials are never put in a message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ouie.cameras.config import (
    ONVIF_PAN_TILT_SPACE,
    ONVIF_ZOOM_SPACE,
    CameraConfig,
    CameraCredentials,
)
from ouie.cameras.geometry import PtzPosition
from ouie.core.config import shorten

T = TypeVar("T")


class CameraError(RuntimeError):
    """A camera could not do what was asked; the message names the camera and the cause."""


class CameraUnreachableError(CameraError):
    """No answer from the camera (refused, reset, or timed out)."""


class CameraAuthError(CameraError):
    """The camera refused our credentials."""


class CameraCommandError(CameraError):
    """The camera answered with a fault to a command."""


@dataclass(frozen=True)
class MoveResult:
    """A confirmed move: how it was sent, where GetStatus says the camera is, how long it took."""

    method: str
    requested: PtzPosition
    confirmed: PtzPosition
    elapsed_s: float


def _fault_subcodes(fault: Any) -> str:
    """The text of a zeep Fault's subcodes (e.g. 'ter:NotAuthorized')."""
    subcodes = getattr(fault, "subcodes", None) or []
    return " ".join(getattr(code, "text", None) or str(code) for code in subcodes)


class OnvifPtzClient:
    """One camera's PTZ over ONVIF. Use as `async with OnvifPtzClient(...) as client:`."""

    def __init__(
        self,
        camera_id: str,
        host: str,
        port: int,
        credentials: CameraCredentials,
        *,
        timeout_s: float = 3.0,
        attempts: int = 3,
        retry_backoff_s: float = 0.2,
    ) -> None:
        self.camera_id, self.host, self.port = camera_id, host, port
        self._credentials = credentials
        self.timeout_s, self.attempts, self.retry_backoff_s = timeout_s, attempts, retry_backoff_s
        self._device: Any = None
        self._media: Any = None
        self._ptz: Any = None
        self.profile_token: str | None = None

    @classmethod
    def for_camera(
        cls, camera: CameraConfig, credentials: CameraCredentials | None = None, **options: Any
    ) -> OnvifPtzClient:
        """A client for a configured camera (credentials resolved from its config if not given)."""
        return cls(
            camera.id,
            camera.onvif_host,
            camera.onvif_port,
            credentials or camera.credentials(),
            **options,
        )

    def _where(self) -> str:
        return f"camera {self.camera_id} at {self.host}:{self.port}"

    async def _call(self, what: str, make_call: Callable[[], Awaitable[T]]) -> T:
        """Run one ONVIF call with a timeout, retrying connection failures; map errors."""
        import aiohttp
        from zeep.exceptions import Fault, TransportError

        last: Exception | None = None
        for attempt in range(self.attempts):
            try:
                return await asyncio.wait_for(make_call(), self.timeout_s)
            except Fault as fault:
                detail = f"{fault.message} {_fault_subcodes(fault)}".strip()
                if "NotAuthorized" in detail or "auth" in detail.lower():
                    raise CameraAuthError(
                        f"{self._where()}: wrong user name or password ({what}: {detail})"
                    ) from None
                raise CameraCommandError(f"{self._where()}: {what} refused: {detail}") from None
            except (
                TimeoutError,
                aiohttp.ClientError,
                TransportError,
                httpx.TransportError,
                OSError,
            ) as error:
                last = error
                if attempt + 1 < self.attempts:
                    await asyncio.sleep(self.retry_backoff_s * (attempt + 1))
        reason = (
            f"no answer within {self.timeout_s:g} s"
            if isinstance(last, TimeoutError)
            else f"{type(last).__name__}: {last}"
        )
        raise CameraUnreachableError(
            f"{self._where()} unreachable ({what}, {self.attempts} attempts): {reason}"
        )

    async def connect(self) -> None:
        """Open the device, find the media and PTZ services and the first PTZ profile."""
        import onvif
        from onvif import ONVIFCamera

        # onvif-zeep-async 4.0.4 looks for its WSDL one folder too high; name it explicitly.
        wsdl_dir = str(Path(onvif.__file__).parent / "wsdl")

        async def open_device() -> Any:
            device = ONVIFCamera(
                self.host,
                self.port,
                self._credentials.username,
                self._credentials.password.get_secret_value(),
                wsdl_dir=wsdl_dir,
                no_cache=True,
                adjust_time=True,  # sign tokens in the camera's time: its clock may be off
            )
            try:
                await device.update_xaddrs()
            except BaseException:
                await device.close()
                raise
            return device

        self._device = await self._call("GetCapabilities", open_device)
        self._media = await self._call("media service", self._device.create_media_service)
        self._ptz = await self._call("PTZ service", self._device.create_ptz_service)
        profiles = await self._call("GetProfiles", self._media.GetProfiles)
        with_ptz = [p for p in profiles if getattr(p, "PTZConfiguration", None) is not None]
        if not with_ptz:
            raise CameraCommandError(f"{self._where()}: no media profile has a PTZ configuration")
        self.profile_token = with_ptz[0].token

    async def close(self) -> None:
        """Close the HTTP sessions."""
        if self._device is not None:
            await self._device.close()
            self._device = None

    async def __aenter__(self) -> OnvifPtzClient:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def status(self) -> PtzPosition:
        """The position GetStatus reports, in ONVIF units."""
        reply = await self._call(
            "GetStatus", lambda: self._ptz.GetStatus({"ProfileToken": self.profile_token})
        )
        position = reply.Position
        return PtzPosition(
            float(position.PanTilt.x), float(position.PanTilt.y), float(position.Zoom.x)
        )

    async def absolute_move(self, target: PtzPosition) -> None:
        """AbsoluteMove to `target` in the generic position spaces."""
        request = {
            "ProfileToken": self.profile_token,
            "Position": {
                "PanTilt": {"x": target.pan, "y": target.tilt, "space": ONVIF_PAN_TILT_SPACE},
                "Zoom": {"x": target.zoom, "space": ONVIF_ZOOM_SPACE},
            },
        }
        await self._call("AbsoluteMove", lambda: self._ptz.AbsoluteMove(request))

    async def relative_move(self, delta: PtzPosition) -> None:
        """RelativeMove by `delta` in the generic translation spaces."""
        request = {
            "ProfileToken": self.profile_token,
            "Translation": {
                "PanTilt": {"x": delta.pan, "y": delta.tilt},
                "Zoom": {"x": delta.zoom},
            },
        }
        await self._call("RelativeMove", lambda: self._ptz.RelativeMove(request))

    async def goto_preset(self, preset_token: str) -> None:
        """GotoPreset `preset_token`."""
        request = {"ProfileToken": self.profile_token, "PresetToken": preset_token}
        await self._call("GotoPreset", lambda: self._ptz.GotoPreset(request))

    async def goto_home(self, preset_token: str | None = None) -> None:
        """GotoHomePosition, or GotoPreset(preset_token) where the camera lacks it."""
        try:
            await self._call(
                "GotoHomePosition",
                lambda: self._ptz.GotoHomePosition({"ProfileToken": self.profile_token}),
            )
        except CameraCommandError:
            if preset_token is None:
                raise
            await self.goto_preset(preset_token)

    async def move(self, target: PtzPosition, fallback_preset: str | None = None) -> str:
        """Move to `target`: AbsoluteMove; where refused, RelativeMove by (target − status);
        where that is refused too and a preset is given, GotoPreset. Returns the method used."""
        try:
            await self.absolute_move(target)
            return "AbsoluteMove"
        except CameraCommandError:
            pass
        try:
            now = await self.status()
            await self.relative_move(
                PtzPosition(target.pan - now.pan, target.tilt - now.tilt, target.zoom - now.zoom)
            )
            return "RelativeMove"
        except CameraCommandError:
            if fallback_preset is None:
                raise
        await self.goto_preset(fallback_preset)
        return "GotoPreset"

    async def move_and_confirm(
        self,
        target: PtzPosition,
        *,
        tolerance: float = 0.01,
        confirm_timeout_s: float = 5.0,
        poll_s: float = 0.05,
        fallback_preset: str | None = None,
    ) -> MoveResult:
        """Move, then poll GetStatus until every axis is within `tolerance` (ONVIF units) of the
        target; raises CameraCommandError when it is not there after `confirm_timeout_s`."""
        started = time.perf_counter()
        method = await self.move(target, fallback_preset)
        deadline = started + confirm_timeout_s
        while True:
            confirmed = await self.status()
            if (
                method == "GotoPreset"
                or max(
                    abs(confirmed.pan - target.pan),
                    abs(confirmed.tilt - target.tilt),
                    abs(confirmed.zoom - target.zoom),
                )
                <= tolerance
            ):
                return MoveResult(method, target, confirmed, time.perf_counter() - started)
            if time.perf_counter() > deadline:
                raise CameraCommandError(
                    f"{self._where()}: {method} not confirmed within {confirm_timeout_s:g} s "
                    f"(asked {target}, status {confirmed})"
                )
            await asyncio.sleep(poll_s)

    async def snapshot_uri(self) -> str:
        """The snapshot URI of the PTZ profile (GetSnapshotUri)."""
        reply = await self._call(
            "GetSnapshotUri",
            lambda: self._media.GetSnapshotUri({"ProfileToken": self.profile_token}),
        )
        return str(reply.Uri)

    async def snapshot(self) -> bytes:
        """The current snapshot image bytes: GetSnapshotUri, then `fetch_snapshot` (the
        camera's own host and port only, no redirect, JPEG or PNG, ≤ `SNAPSHOT_MAX_BYTES`)."""
        uri = await self.snapshot_uri()
        return await self._call(
            "snapshot",
            lambda: fetch_snapshot(
                uri, self.host, self.port, self._credentials, self.timeout_s, self._where()
            ),
        )


SNAPSHOT_MAX_BYTES = 8 * 1024 * 1024
"""The largest snapshot the console relays, bytes (a 4K JPEG is about 1-2 MB)."""
SNAPSHOT_SIGNATURES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
"""The media types a snapshot may have, each with the first bytes its data must start with."""
_DEFAULT_PORTS = {"http": 80, "https": 443}


def snapshot_url(uri: str, host: str, port: int, where: str) -> httpx.URL:
    """`uri` (as GetSnapshotUri gave it, credentials in it dropped) if it is http(s) on the
    camera's own `host` and `port`; otherwise `CameraCommandError`. A camera is an untrusted
    device: what it names is never fetched from anywhere else (no relaying of internal pages)."""
    try:
        url = httpx.URL(uri)
    except httpx.InvalidURL:
        raise CameraCommandError(f"{where}: snapshot URI is not a URL") from None
    url_port = url.port or _DEFAULT_PORTS.get(url.scheme)
    if url.scheme not in _DEFAULT_PORTS or url.host.lower() != host.lower() or url_port != port:
        raise CameraCommandError(
            f"{where}: snapshot URI points to {url.scheme}://{url.host}:{url_port}, not to the "
            "camera itself: refused"
        )
    return url.copy_with(username=None, password=None)


async def fetch_snapshot(
    uri: str,
    host: str,
    port: int,
    credentials: CameraCredentials,
    timeout_s: float,
    where: str,
) -> bytes:
    """GET the snapshot at `uri` (see `snapshot_url`) with HTTP digest authentication: no
    redirect followed, no proxy from the environment, a `SNAPSHOT_SIGNATURES` media type whose
    data starts with its signature, at most `SNAPSHOT_MAX_BYTES` (read in chunks and dropped
    beyond that, never held whole)."""
    url = snapshot_url(uri, host, port, where)
    auth = httpx.DigestAuth(credentials.username, credentials.password.get_secret_value())
    async with (
        httpx.AsyncClient(
            auth=auth, follow_redirects=False, trust_env=False, timeout=timeout_s
        ) as http,
        http.stream("GET", url) as response,
    ):
        if response.status_code in (401, 403):
            raise CameraAuthError(f"{where}: wrong user name or password (snapshot)")
        if response.status_code != 200:
            raise CameraCommandError(
                f"{where}: snapshot answered HTTP {response.status_code} (redirects are not "
                "followed)"
            )
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in SNAPSHOT_SIGNATURES:
            raise CameraCommandError(
                f"{where}: snapshot is {shorten(media_type, 60)!r}, not a JPEG or PNG"
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > SNAPSHOT_MAX_BYTES:
            raise CameraCommandError(
                f"{where}: snapshot of {declared} bytes exceeds {SNAPSHOT_MAX_BYTES}"
            )
        image = bytearray()
        async for chunk in response.aiter_bytes():
            image += chunk
            if len(image) > SNAPSHOT_MAX_BYTES:
                raise CameraCommandError(f"{where}: snapshot exceeds {SNAPSHOT_MAX_BYTES} bytes")
    if not image.startswith(SNAPSHOT_SIGNATURES[media_type]):
        raise CameraCommandError(f"{where}: snapshot data is not a {media_type} image")
    return bytes(image)
