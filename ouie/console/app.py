"""The console as an ASGI app that the central service mounts (at `/console`).

`create_console_app(services, config)` returns a FastAPI app serving the bundled pages and
assets (`static/`, Leaflet included: nothing is fetched from a CDN) and the JSON API under
`/api`, behind a signed-cookie session and strict security headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from ouie.cameras.cueing import OnvifMover
from ouie.central.runtime import CentralRuntime
from ouie.central.service import CentralService
from ouie.console.api import ConsoleServices, router
from ouie.console.auth import LoginThrottle
from ouie.console.cameras import ControllerDesk
from ouie.console.config import ConsoleConfig
from ouie.console.feed import LiveFeed
from ouie.console.relay import FeedRelay
from ouie.console.views import CameraDesk, CuePolicyView, MapView

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "ouie_session"


def content_security_policy(tile_url: str | None) -> str:
    """Scripts, styles and data only from the console itself; images also from the tile
    server when one is configured; never framed by another site."""
    images = "'self' data:"
    if tile_url:
        parts = urlsplit(tile_url)
        images += f" {parts.scheme}://{parts.netloc.replace('{s}', '*')}"
    return (
        f"default-src 'self'; img-src {images}; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    )


def create_console_app(services: ConsoleServices, config: ConsoleConfig | None = None) -> FastAPI:
    """The console app for `services` (mount it, e.g. `app.mount('/console', console)`)."""
    config = config or ConsoleConfig()
    app = FastAPI(
        title="ouie console", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json"
    )
    app.state.services = services
    app.state.config = config
    app.state.login_throttle = LoginThrottle(
        config.login_max_failures, config.login_failure_window_s
    )
    policy = content_security_policy(config.tile_url)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.url.path.endswith((".html", "/")):
            response.headers["Cache-Control"] = "no-store"
        return response

    app.add_middleware(
        SessionMiddleware,
        secret_key=config.session_secret(),
        session_cookie=SESSION_COOKIE,
        max_age=config.session_max_age_s,
        same_site="strict",
        https_only=config.https_only,
    )
    app.include_router(router, prefix="/api")
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    return app


def attach_console(
    app: FastAPI,
    service: CentralService,
    *,
    feed: LiveFeed,
    cue_policy: CuePolicyView,
    map_view: MapView,
    cameras: CameraDesk | None = None,
    config: ConsoleConfig | None = None,
    path: str = "/console",
) -> ConsoleServices:
    """Mount the console on the central service's app (`ouie.central.app.create_app`) at
    `path`, relay the service's incident and sensor changes to `feed`, and send `/` there."""
    service.add_listener(FeedRelay(service.store, feed))
    services = ConsoleServices(service.store, feed, cue_policy, map_view, cameras)
    app.mount(path, create_console_app(services, config))
    app.add_api_route("/", lambda: RedirectResponse(f"{path}/"), include_in_schema=False)
    return services


@dataclass
class MountedConsole:
    """A console attached to a running central service (see `mount_on_runtime`)."""

    services: ConsoleServices
    desk: ControllerDesk | None

    def close(self) -> None:
        """End the live streams and close the camera desk (before the runtime closes)."""
        self.services.feed.close()
        if self.desk is not None:
            self.desk.close()


def mount_on_runtime(
    runtime: CentralRuntime,
    *,
    map_view: MapView | None = None,
    mover: OnvifMover | None = None,
    config: ConsoleConfig | None = None,
) -> MountedConsole:
    """The console on `build_central`'s runtime: a live feed, a camera desk over its cuer (when
    it has cameras; `mover` reaches them, by default with each camera's configured
    credentials), the cue banner from its cueing configuration, mounted at `/console`."""
    feed = LiveFeed()
    desk = None
    policy = CuePolicyView(mode="off")
    if runtime.cuer is not None:
        desk = ControllerDesk(runtime.cuer, mover or OnvifMover(), feed)
        cueing = runtime.cuer.controller.config
        policy = CuePolicyView(
            mode=cueing.mode.value, legal_basis=cueing.legal_basis, dpia=cueing.dpia
        )
    origin = runtime.city.origin
    services = attach_console(
        runtime.app,
        runtime.service,
        feed=feed,
        cue_policy=policy,
        map_view=map_view or MapView(lat=origin.lat, lon=origin.lon),
        cameras=desk,
        config=config,
    )
    return MountedConsole(services, desk)
