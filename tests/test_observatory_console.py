"""The observatory in the console API: who may read it (operators may not), the figures of the
hand-counted month, the transparency report to download (audited), and bad periods."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ouie.console.app import create_console_app
from ouie.console.auth import CSRF_HEADER, hash_password
from ouie.console.views import CuePolicyView
from ouie.core.audit import AuditEvent
from ouie.store.records import Role
from ouie.store.repository import Store
from ouie.store.retention import RetentionPolicy
from tests.builders import console_services
from tests.observatory_store import seed_november

USERS = {"olga": Role.OPERATOR, "sam": Role.SUPERVISOR, "ada": Role.AUDITOR, "root": Role.ADMIN}
NOVEMBER = "from=2026-11-01&to=2026-11-03"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password("secret-pass")


@pytest.fixture
def client(tmp_path: Path, password_hash: str) -> Iterator[TestClient]:
    store = Store.open(f"sqlite:///{tmp_path / 'ouie.db'}")
    for name, role in USERS.items():
        store.add_user(name, role, password_hash)
    seed_november(store)
    store.audit(AuditEvent(action="config.load", actor="system", subject="city:saint-etienne"))
    services = console_services(
        store,
        CuePolicyView(mode="auto", legal_basis="Arrêté 2026-41", dpia="AIPD-7"),
        retention=RetentionPolicy(reports_days=30, incidents_days=90),
    )
    with TestClient(create_console_app(services)) as client:
        yield client
    store.close()


def log_in(client: TestClient, name: str) -> None:
    csrf = client.get("/api/session").json()["csrf"]
    response = client.post(
        "/api/login",
        json={"name": name, "password": "secret-pass"},
        headers={CSRF_HEADER: csrf},
    )
    assert response.status_code == 200, response.text


ROUTES = [
    f"/api/observatory?{NOVEMBER}",
    f"/api/observatory/report.html?{NOVEMBER}",
    f"/api/observatory/report.json?{NOVEMBER}",
]


@pytest.mark.parametrize("route", ROUTES)
def test_operators_and_visitors_may_not_read_the_observatory(
    client: TestClient, route: str
) -> None:
    assert client.get(route).status_code == 401
    log_in(client, "olga")
    response = client.get(route)
    assert response.status_code == 403
    assert response.json()["detail"] == "role operator may not observe"


@pytest.mark.parametrize("name", ["sam", "ada", "root"])
def test_supervisors_auditors_and_admins_read_the_figures(client: TestClient, name: str) -> None:
    log_in(client, name)
    assert "observe" in client.get("/api/session").json()["permissions"]
    figures = client.get(f"/api/observatory?{NOVEMBER}").json()
    assert figures["period"] == {"from": "2026-11-01", "to": "2026-11-03"}
    total = figures["total"]
    assert (total["reports"], total["incidents"], total["located"], total["decided"]) == (
        7,
        6,
        4,
        5,
    )
    assert total["confirm_rate"] == pytest.approx(0.4)
    assert figures["cameras_total"]["mask_refused"] == 2
    assert figures["audit"]["chain_ok"] is True


def test_the_report_downloads_as_a_file_and_the_download_is_audited(client: TestClient) -> None:
    log_in(client, "ada")
    response = client.get(f"/api/observatory/report.html?{NOVEMBER}")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="ouie-transparency-2026-11-01_2026-11-03.html"'
    )
    html = response.text
    assert "Transparency report: saint-etienne" in html  # the name from config.load
    assert "Arrêté 2026-41" in html and "90 days" in html
    data = client.get(f"/api/observatory/report.json?{NOVEMBER}").json()
    assert data["deployment"]["sensors"] == 4 and data["deployment"]["cue_mode"] == "auto"
    assert data["figures"]["total"]["incidents"] == 6
    kinds = client.get(f"/api/observatory?from={today()}&to={today()}").json()["audit"]["by_kind"]
    assert kinds["transparency reports downloaded"] == 2
    audit = client.get("/api/audit?action=observatory.").json()
    assert [(e["actor"], e["details"]["format"]) for e in audit["entries"]] == [
        ("ada", "json"),
        ("ada", "html"),
    ]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("from=2026-11-03&to=2026-11-01", 422, "ends (2026-11-01) before it starts (2026-11-03)"),
        ("from=2024-01-01&to=2026-11-01", 422, "longer than 366 days"),
        ("from=yesterday&to=2026-11-01", 422, "valid date"),
    ],
)
def test_a_bad_period_is_refused_with_its_reason(
    client: TestClient, query: str, status: int, message: str
) -> None:
    log_in(client, "ada")
    response = client.get(f"/api/observatory?{query}")
    assert response.status_code == status
    assert message in str(response.json()["detail"])


def test_without_a_period_the_figures_cover_30_days_up_to_the_latest_data(
    client: TestClient,
) -> None:
    log_in(client, "sam")
    figures = client.get("/api/observatory").json()
    assert figures["period"] == {"from": "2026-10-06", "to": "2026-11-04"}
    assert figures["total"]["incidents"] == 8  # with 31 Oct and 4 Nov
    assert client.get("/api/observatory?to=2026-11-01").json()["period"]["from"] == "2026-10-03"


def test_only_html_and_json_reports_exist(client: TestClient) -> None:
    log_in(client, "ada")
    assert client.get(f"/api/observatory/report.pdf?{NOVEMBER}").status_code == 404


def test_the_page_is_bundled_and_in_the_navigation(client: TestClient) -> None:
    page = client.get("/observatory.html")
    assert page.status_code == 200 and 'src="observatory.js"' in page.text
    assert client.get("/observatory.js").status_code == 200
    assert 'href="observatory.html" data-permission="observe"' in client.get("/common.js").text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere
