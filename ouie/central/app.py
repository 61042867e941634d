"""The central service's HTTP face: `/healthz` and Prometheus `/metrics`.

No API documentation is served (`/docs`, `/redoc`, `/openapi.json`: a map of the service for
anyone, and Swagger's scripts from a CDN), and every answer carries security headers (those a
mounted app such as the console sets itself are kept).

`create_app(service)` returns a FastAPI app that the console extends with its own routers
(`app.include_router(...)`); routes find the service and store in `request.app.state`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from ouie.central.service import CentralService

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
"""Headers on every answer of the central app, unless the route (the console) set its own."""


def create_app(service: CentralService, title: str = "ouie central") -> FastAPI:
    """A FastAPI app with `/healthz` and `/metrics`; `app.state.service` and `app.state.store`."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    app.state.store = service.store

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.get("/healthz")
    def healthz(request: Request) -> JSONResponse:
        """200 when the database answers and takes writes (the last write did not fail) and
        the bus is connected, 503 otherwise; also the reports waiting to be committed."""
        central: CentralService = request.app.state.service
        try:
            with central.store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            database_ok = True
        except Exception:
            database_ok = False
        sensors = central.store.list_sensors() if database_ok else []
        bus_connected = central.bus.connected
        writes_ok = central.database.up
        body: dict[str, Any] = {
            "status": "ok" if database_ok and writes_ok and bus_connected else "degraded",
            "database": database_ok,
            "database_writes": writes_ok,
            "ingest_backlog": central.ingest_backlog,
            "bus_connected": bus_connected,
            "sensors_total": len(sensors),
            "sensors_online": sum(s.online for s in sensors),
        }
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        """Prometheus text exposition."""
        central: CentralService = request.app.state.service
        return Response(central.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app
