"""The ONVIF client against an implementation nobody here wrote: ipycam's PTZ simulator.

Only ipycam's ONVIF HTTP handler is served, bound to 127.0.0.1: `IPCamera.start()` (which would
start WS-Discovery multicast and video streaming) is never called, so traffic stays on loopback.
ipycam 1.3.0's replies need two fixes, made here in the fixture and not in ouie: its SOAP envelope
does not declare the `ptz` and `tptz` prefixes its PTZ replies use, and its GetStatus template
leaves `{{pan_tilt_status}}`, `{{zoom_status}}` and `{{utc_time}}` unfilled.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from ouie.cameras.config import CameraCredentials
from ouie.cameras.geometry import PtzPosition
from ouie.cameras.onvif_client import CameraAuthError, OnvifPtzClient

ipycam = pytest.importorskip("ipycam", reason="ipycam (dev dependency) is not installed")

PTZ_WSDL_NS = "http://www.onvif.org/ver20/ptz/wsdl"
CREDENTIALS = CameraCredentials(username="admin", password=SecretStr("ipycam-test-pw"))


def _patch_ipycam_templates(onvif_service: Any) -> None:
    """Declare the missing PTZ prefixes and fill GetStatus's unfilled placeholders."""
    templates = onvif_service._templates
    templates["envelope"] = templates["envelope"].replace(
        "<s:Envelope ", f'<s:Envelope xmlns:ptz="{PTZ_WSDL_NS}" xmlns:tptz="{PTZ_WSDL_NS}" ', 1
    )
    templates["ptz_get_status"] = (
        templates["ptz_get_status"]
        .replace("{{pan_tilt_status}}", "{{move_status}}")
        .replace("{{zoom_status}}", "{{move_status}}")
        .replace("<tt:UtcTime>{{utc_time}}</tt:UtcTime>", "")
    )


@pytest.fixture()
def ipycam_port() -> Iterator[int]:
    """ipycam's ONVIF handler on a free loopback port, with auth on and discovery never started."""
    from ipycam.http import IPCameraHTTPHandler

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ipycam.CameraConfig(
        local_ip="127.0.0.1",
        onvif_port=port,
        username=CREDENTIALS.username,
        password=CREDENTIALS.password.get_secret_value(),
    )
    camera = ipycam.IPCamera(config)
    _patch_ipycam_templates(camera.onvif)
    IPCameraHTTPHandler.camera = camera
    server = ThreadingHTTPServer(("127.0.0.1", port), IPCameraHTTPHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    assert camera._discovery is None, "WS-Discovery must not run"
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_client_moves_and_confirms_an_ipycam_ptz(ipycam_port: int) -> None:
    async def scenario() -> tuple[str, PtzPosition, PtzPosition, str]:
        client = OnvifPtzClient("ipycam", "127.0.0.1", ipycam_port, CREDENTIALS)
        async with client:
            moved = await client.move_and_confirm(PtzPosition(0.3, -0.2, 0.5))
            await client.relative_move(PtzPosition(-0.1, 0.05, 0.0))
            after_relative = await client.status()
            uri = await client.snapshot_uri()
            return moved.method, moved.confirmed, after_relative, uri

    method, confirmed, after_relative, uri = asyncio.run(scenario())
    assert method == "AbsoluteMove"
    assert confirmed == PtzPosition(0.3, -0.2, 0.5)
    assert after_relative.pan == pytest.approx(0.2)
    assert after_relative.tilt == pytest.approx(-0.15)
    assert uri.startswith(f"http://127.0.0.1:{ipycam_port}/")


def test_ipycam_refuses_a_wrong_password_with_a_clear_error(ipycam_port: int) -> None:
    wrong = CameraCredentials(username="admin", password=SecretStr("wrong"))

    async def scenario() -> None:
        async with OnvifPtzClient("ipycam", "127.0.0.1", ipycam_port, wrong):
            pass

    with pytest.raises(CameraAuthError, match=r"camera ipycam .* wrong user name or password"):
        asyncio.run(scenario())
