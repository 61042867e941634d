"""The ONVIF client against the virtual PTZ camera: real SOAP over loopback, both sides."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from lxml import etree
from PIL import Image
from pydantic import SecretStr

from ouie.cameras.config import CameraConfig, CameraCredentials
from ouie.cameras.geometry import PtzPosition, pan_to_onvif
from ouie.cameras.onvif_client import (
    SNAPSHOT_MAX_BYTES,
    CameraAuthError,
    CameraCommandError,
    CameraUnreachableError,
    OnvifPtzClient,
    fetch_snapshot,
)
from ouie.core.geo import LocalFrame
from ouie.sim.cameras.render import Mark
from ouie.sim.cameras.virtual import VirtualCameraFleet, start_virtual_cameras
from ouie.transport.soap import WSSE, WSU, SoapFault, UsernameTokenChecker, password_digest

FRAME = LocalFrame(45.4397, 4.3872, 500.0)
CAMERA = CameraConfig(id="c1", lat=45.4397, lon=4.3872, heading_deg=90.0, home_tilt_deg=-10.0)


@pytest.fixture()
def fleet() -> Iterator[VirtualCameraFleet]:
    with start_virtual_cameras([CAMERA], FRAME) as running:
        yield running


def red_pixels(png: bytes) -> int:
    """Pixels of the source mark's red (R > 200, G and B < 60)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int(((rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)).sum())


def test_move_is_confirmed_by_status_and_the_snapshot_follows_the_pan(
    fleet: VirtualCameraFleet,
) -> None:
    config = fleet.configs["c1"]
    # A source 80 m east of the camera, i.e. straight along its pan zero.
    fleet.set_marks([Mark((80.0, 0.0, 1.5), "gunshot")])

    async def scenario() -> tuple[list[PtzPosition], list[bytes], list[str]]:
        async with OnvifPtzClient.for_camera(config, fleet.credentials) as client:
            toward = PtzPosition(pan_to_onvif(config, 0.0), 0.6, 0.3)
            away = PtzPosition(pan_to_onvif(config, 90.0), 0.6, 0.3)
            first = await client.move_and_confirm(toward)
            shot_toward = await client.snapshot()
            second = await client.move_and_confirm(away)
            shot_away = await client.snapshot()
            status = await client.status()
            return (
                [first.confirmed, second.confirmed, status],
                [shot_toward, shot_away],
                [first.method, second.method],
            )

    positions, shots, methods = asyncio.run(scenario())
    assert methods == ["AbsoluteMove", "AbsoluteMove"]
    assert positions[0] == PtzPosition(0.0, 0.6, 0.3)
    assert positions[1].pan == pytest.approx(0.5) and positions[2] == positions[1]
    assert fleet.cameras["c1"].position == positions[1]
    assert all(shot.startswith(b"\x89PNG") for shot in shots)
    assert shots[0] != shots[1]
    assert red_pixels(shots[0]) > 50, "the source in view is marked"
    assert red_pixels(shots[1]) == 0, "the source out of view is not"


def test_relative_move_is_used_where_absolute_move_is_missing() -> None:
    with start_virtual_cameras([CAMERA], FRAME, absolute_move=False) as fleet:

        async def scenario() -> tuple[str, PtzPosition]:
            async with OnvifPtzClient.for_camera(fleet.configs["c1"], fleet.credentials) as client:
                result = await client.move_and_confirm(PtzPosition(-0.25, 0.1, 0.8))
                return result.method, result.confirmed

        method, confirmed = asyncio.run(scenario())
    assert method == "RelativeMove"
    assert confirmed.pan == pytest.approx(-0.25)
    assert confirmed.tilt == pytest.approx(0.1)
    assert confirmed.zoom == pytest.approx(0.8)


def test_confirmation_waits_for_a_slewing_head_to_arrive() -> None:
    with start_virtual_cameras([CAMERA], FRAME, slew_per_s=1.0) as fleet:
        target = PtzPosition(0.5, 0.2, 0.5)  # ≥ 0.5 units on the longest axis: ≥ 0.5 s

        async def scenario() -> tuple[PtzPosition, float, PtzPosition]:
            async with OnvifPtzClient.for_camera(fleet.configs["c1"], fleet.credentials) as client:
                await client.absolute_move(PtzPosition(-0.5, 0.2, 0.0))
                halfway = await client.status()
                result = await client.move_and_confirm(target, poll_s=0.02)
                return halfway, result.elapsed_s, result.confirmed

        halfway, elapsed_s, confirmed = asyncio.run(scenario())
    assert halfway.pan != -0.5, "GetStatus right after the command shows the head still moving"
    assert elapsed_s >= 0.45
    assert vars(confirmed) == pytest.approx(vars(target), abs=0.01)  # the confirm tolerance


def test_a_camera_whose_clock_is_an_hour_off_still_authenticates() -> None:
    with start_virtual_cameras([CAMERA], FRAME, clock_offset_s=3600.0) as fleet:

        async def scenario() -> PtzPosition:
            async with OnvifPtzClient.for_camera(fleet.configs["c1"], fleet.credentials) as client:
                return (await client.move_and_confirm(PtzPosition(0.1, 0.2, 0.3))).confirmed

        assert asyncio.run(scenario()) == PtzPosition(0.1, 0.2, 0.3)


def test_wrong_password_is_a_clear_auth_error_and_moves_nothing(
    fleet: VirtualCameraFleet,
) -> None:
    wrong = CameraCredentials(username="ouie", password=SecretStr("not-the-password"))

    async def scenario() -> None:
        async with OnvifPtzClient.for_camera(fleet.configs["c1"], wrong):
            pass

    with pytest.raises(CameraAuthError) as refused:
        asyncio.run(scenario())
    assert "camera c1" in str(refused.value) and "password" in str(refused.value)
    assert "not-the-password" not in str(refused.value)
    assert fleet.cameras["c1"].moves == 0


def test_unreachable_camera_is_a_clear_error_after_retries() -> None:
    with start_virtual_cameras([CAMERA], FRAME) as fleet:
        config, credentials = fleet.configs["c1"], fleet.credentials
    # The fleet is stopped: the port no longer answers.
    client = OnvifPtzClient.for_camera(config, credentials, timeout_s=1.0, attempts=2)

    async def scenario() -> None:
        async with client:
            pass

    with pytest.raises(CameraUnreachableError, match=r"camera c1 at 127\.0\.0\.1:\d+ unreachable"):
        asyncio.run(scenario())


def _token_header(username: str, password: str, nonce: bytes, created: str) -> etree._Element:
    header = etree.Element("Header")
    token = etree.SubElement(
        etree.SubElement(header, f"{{{WSSE}}}Security"), f"{{{WSSE}}}UsernameToken"
    )
    etree.SubElement(token, f"{{{WSSE}}}Username").text = username
    etree.SubElement(token, f"{{{WSSE}}}Password").text = password_digest(nonce, created, password)
    etree.SubElement(token, f"{{{WSSE}}}Nonce").text = base64.b64encode(nonce).decode()
    etree.SubElement(token, f"{{{WSU}}}Created").text = created
    return header


def test_username_token_digest_stale_and_replayed_tokens_are_refused() -> None:
    from datetime import UTC, datetime, timedelta

    checker = UsernameTokenChecker("ouie", "pw")
    now = datetime.now(UTC)
    fresh = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    checker.check(_token_header("ouie", "pw", b"nonce-1", fresh))
    with pytest.raises(SoapFault, match="not authorized"):
        checker.check(_token_header("ouie", "pw", b"nonce-1", fresh))  # replayed
    with pytest.raises(SoapFault):
        checker.check(_token_header("ouie", "other", b"nonce-2", fresh))  # wrong password
    stale = (now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with pytest.raises(SoapFault):
        checker.check(_token_header("ouie", "pw", b"nonce-3", stale))
    with pytest.raises(SoapFault):
        checker.check(None)


def test_the_virtual_camera_answers_bad_requests_with_soap_faults(
    fleet: VirtualCameraFleet,
) -> None:
    import httpx

    ptz = f"{fleet.cameras['c1'].base_url()}/onvif/ptz_service"
    not_xml = httpx.post(ptz, content=b"<not xml")
    assert not_xml.status_code == 400 and b"WellFormed" in not_xml.content
    body = (
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
        b'<ContinuousMove xmlns="http://www.onvif.org/ver20/ptz/wsdl"/></e:Body></e:Envelope>'
    )
    anonymous = httpx.post(ptz, content=body)
    assert anonymous.status_code == 400 and b"NotAuthorized" in anonymous.content
    assert fleet.cameras["c1"].moves == 0
    snapshot_guess = httpx.get(f"{fleet.cameras['c1'].base_url()}/snapshot/guess.png")
    assert snapshot_guess.status_code == 404


class LyingCamera:
    """An HTTP server playing a camera that lies in its snapshot answers, and counting what it
    was asked. Paths: /redirect (302 to `target`), /huge (200 MB announced, streamed), /html
    (a page), /fake (image/png without PNG data), /ok (a real PNG)."""

    def __init__(self, target: str = "") -> None:
        self.target, self.requests = target, 0
        lying = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                lying.requests += 1
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", lying.target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.end_headers()  # no length: streamed until the reader gives up
                    chunk = b"\xff\xd8\xff" + b"\0" * (1 << 20)
                    with contextlib.suppress(OSError):
                        for _ in range(200):
                            self.wfile.write(chunk)
                    return
                body, kind = {
                    "/html": (b"<html>internal admin page</html>", "text/html"),
                    "/fake": (b"<svg onload=alert(1)>", "image/png"),
                    "/ok": (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"),
                }.get(self.path, (b"internal secret", "text/plain"))
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fetch(camera: LyingCamera, uri: str) -> bytes:
    credentials = CameraCredentials(username="admin", password=SecretStr("pw"))
    return asyncio.run(fetch_snapshot(uri, "127.0.0.1", camera.port, credentials, 5.0, "camera c9"))


def test_a_lying_camera_cannot_make_the_snapshot_proxy_fetch_elsewhere_or_too_much() -> None:
    """Only the camera's own host and port, no redirect, JPEG or PNG data only, ≤ 8 MiB: the
    'internal' server is never asked, and the 200 MB body is dropped after 8 MiB."""
    internal = LyingCamera()
    camera = LyingCamera(target=internal.url("/admin"))
    try:
        assert fetch(camera, camera.url("/ok")).startswith(b"\x89PNG")
        refused = {
            internal.url("/admin"): "not to the camera itself",
            f"http://localhost:{camera.port}/ok": "not to the camera itself",
            "file:///etc/passwd": "not to the camera itself",
            camera.url("/redirect"): "HTTP 302",
            camera.url("/html"): "'text/html', not a JPEG or PNG",
            camera.url("/fake"): "not a image/png image",
            camera.url("/huge"): f"exceeds {SNAPSHOT_MAX_BYTES} bytes",
        }
        for uri, why in refused.items():
            with pytest.raises(CameraCommandError, match=re.escape(why)):
                fetch(camera, uri)
        assert internal.requests == 0
    finally:
        camera.close()
        internal.close()


def test_the_client_refuses_a_snapshot_uri_off_the_camera(
    fleet: VirtualCameraFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    internal = LyingCamera()

    async def lying_uri(self: OnvifPtzClient) -> str:
        return internal.url("/admin")

    monkeypatch.setattr(OnvifPtzClient, "snapshot_uri", lying_uri)

    async def scenario() -> bytes:
        async with OnvifPtzClient.for_camera(fleet.configs["c1"], fleet.credentials) as client:
            return await client.snapshot()

    try:
        with pytest.raises(CameraCommandError, match="not to the camera itself"):
            asyncio.run(scenario())
        assert internal.requests == 0
    finally:
        internal.close()
