"""The console as an ASGI app that the central service mounts (at `/console`).

`create_console_app(services, config)` returns a FastAPI app serving the bundled pages and
assets (`static/`, Leaflet included: nothing is fetched from a CDN) and the JSON API under
`/api`, behind a signed-cookie session and strict security headers.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from ouie.central.ports import DecisionListener, ObservedService
from ouie.console.api import ChainCheck, ConsoleServices, router
from ouie.console.auth import LoginThrottle
from ouie.console.config import ConsoleConfig
from ouie.console.feed import LiveFeed
from ouie.console.observatory import router as observatory_router
from ouie.console.relay import FeedRelay
from ouie.console.views import CameraDesk, CuePolicyView, MapView
from ouie.store.sessions import ConsoleSessions

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "ouie_session"


class StaticPages(StaticFiles):
    """The console's files. A path the file system cannot look up at all (a NUL byte: os.stat
    raises ValueError, which Starlette turned into a 500 and a logged traceback per request)
    is simply not found (404)."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        try:
            return super().lookup_path(path)
        except (ValueError, OSError):
            return "", None


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
    app = FastAPI(title="ouie console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.state.config = config
    app.state.sessions = ConsoleSessions(services.store, config.session_max_age_s)
    app.state.login_throttle = LoginThrottle.of(config)
    app.state.chain_check = ChainCheck(services.store, config.audit_check_every_s)
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
    app.include_router(observatory_router, prefix="/api")
    app.mount("/", StaticPages(directory=STATIC_DIR, html=True), name="static")
    return app


def attach_console(
    app: FastAPI,
    service: ObservedService,
    *,
    feed: LiveFeed,
    cue_policy: CuePolicyView,
    map_view: MapView,
    cameras: CameraDesk | None = None,
    config: ConsoleConfig | None = None,
    path: str = "/console",
    decision_listeners: Sequence[DecisionListener] = (),
) -> ConsoleServices:
    """Mount the console on the central service's app (`ouie.central.app.create_app`) at
    `path`, relay the service's incident and sensor changes to `feed`, tell
    `decision_listeners` of every operator's decision, and send `/` there."""
    service.add_listener(FeedRelay(service.store, feed))
    services = ConsoleServices(
        service.store,
        feed,
        cue_policy,
        map_view,
        cameras,
        retention=service.retention,
        decision_listeners=list(decision_listeners),
    )
    app.mount(path, create_console_app(services, config))
    app.add_api_route("/", lambda: RedirectResponse(f"{path}/"), include_in_schema=False)
    return services
