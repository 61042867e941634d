"""The console as `ouie serve` mounts it (`build_central` with a `console:` section): without
cameras the banner says cueing is off and no camera is listed; stored incidents are served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ouie.app.config import CityConfig
from ouie.app.serve import build_central
from ouie.console.auth import CSRF_HEADER
from ouie.console.config import ConsoleConfig
from ouie.console.users import create_user
from ouie.core.recording import SensorSite, sensors_geojson
from ouie.sim.scenario import Origin
from ouie.store.records import IncidentRecord, Role
from ouie.transport.bus import InProcessBus


def city_in(tmp_path: Path) -> CityConfig:
    """A city of three sensors on the in-process bus, with the console, stored in `tmp_path`."""
    sensors = tmp_path / "sensors.geojson"
    sites = [SensorSite(id=f"s{i}", lat=45.44 + 0.001 * i, lon=4.39) for i in range(3)]
    sensors.write_text(json.dumps(sensors_geojson(sites)), encoding="utf-8")
    return CityConfig(
        name="test-city",
        origin=Origin(lat=45.44, lon=4.39, height_m=500.0),
        database_url=f"sqlite:///{tmp_path / 'ouie.db'}",
        transport="inprocess",
        sensors_file=sensors,
        console=ConsoleConfig(),
    )


def test_console_on_a_runtime_without_cameras(tmp_path: Path) -> None:
    runtime = build_central(city_in(tmp_path), bus=InProcessBus())
    try:
        create_user(runtime.store, "olga", Role.OPERATOR, "olga-river-lantern-7", actor="root")
        runtime.store.save_incident(
            IncidentRecord(
                id="inc-1",
                class_="scream",
                onset_ns=1_782_075_600_000_000_000,
                lat=45.4405,
                lon=4.3901,
                uncertainty_m=7.0,
                revision=1,
            )
        )
        with TestClient(runtime.app) as client:
            assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
            token = client.get("/console/api/session").json()["csrf"]
            login = client.post(
                "/console/api/login",
                json={"name": "olga", "password": "olga-river-lantern-7"},
                headers={CSRF_HEADER: token},
            )
            assert login.status_code == 200
            overview = client.get("/console/api/overview").json()
            assert overview["cue"] == {"mode": "off", "legal_basis": None, "dpia": None}
            assert (overview["map"]["lat"], overview["map"]["lon"]) == (45.44, 4.39)
            assert client.get("/console/api/cameras").json() == []
            assert [s["id"] for s in client.get("/console/api/sensors").json()] == [
                "s0",
                "s1",
                "s2",
            ]
            [incident] = client.get("/console/api/incidents").json()
            assert (incident["id"], incident["class"]) == ("inc-1", "scream")
            assert client.get("/healthz").status_code == 200
    finally:
        runtime.close()


def test_the_central_app_serves_no_api_map_and_sends_security_headers(tmp_path: Path) -> None:
    """No /docs, /redoc, /openapi.json; headers on every answer (the console keeps its own
    CSP); a NUL in a console path is a 404, not a 500 with a traceback."""
    runtime = build_central(city_in(tmp_path), bus=InProcessBus())
    try:
        with TestClient(runtime.app, raise_server_exceptions=False) as client:
            for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
                assert client.get(path).status_code == 404, path
            health = client.get("/healthz")
            assert health.headers["x-content-type-options"] == "nosniff"
            assert health.headers["content-security-policy"].startswith("default-src 'none'")
            assert health.headers["x-frame-options"] == "DENY"
            page = client.get("/console/")
            assert "script-src 'self'" in page.headers["content-security-policy"]
            for path in ("/console/%00", "/console/a%00b.html", "/console/api/%00"):
                assert client.get(path).status_code == 404, path
    finally:
        runtime.close()


def test_the_console_time_zone_is_a_known_iana_name_and_errors_name_the_field() -> None:
    assert ConsoleConfig().time_zone == "Europe/Paris"
    with pytest.raises(ValidationError, match="time_zone"):
        ConsoleConfig(time_zone="Mars/Olympus_Mons")
