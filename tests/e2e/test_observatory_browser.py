"""The observatory in a real browser (Debian's Chromium under Playwright): an auditor opens it on
the hand-counted month and reads the figures, tables and charts; an operator finds no link and
no figures; the transparency report, opened as a file, loads nothing from anywhere."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouie.console.app import create_console_app
from ouie.console.auth import hash_password
from ouie.console.server import BackgroundServer
from ouie.observatory.deployment import Deployment
from ouie.observatory.figures import Period
from ouie.observatory.report import build_report, render_html
from ouie.store.records import Role
from ouie.store.repository import Store
from ouie.store.retention import RetentionPolicy
from tests.builders import console_services
from tests.e2e.browser import log_in
from tests.observatory_store import FIRST_DAY, LAST_DAY, seed_november

pytestmark = pytest.mark.browser
PASSWORD = "secret-pass"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("observatory")
    store = Store.open(f"sqlite:///{folder / 'ouie.db'}")
    password_hash = hash_password(PASSWORD)
    store.add_user("ada", Role.AUDITOR, password_hash)
    store.add_user("olga", Role.OPERATOR, password_hash)
    seed_november(store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def console_url(store: Store) -> Iterator[str]:
    services = console_services(store, retention=RetentionPolicy())
    app = create_console_app(services)
    with BackgroundServer(app) as server:
        yield server.url + "/"
        services.feed.close()


def test_an_auditor_reads_the_month_in_the_observatory(
    chromium: Any, console_url: str, tmp_path: Path
) -> None:
    page = chromium.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, console_url, "ada", PASSWORD)
    page.click("a[href='observatory.html']")  # from the navigation
    page.wait_for_selector("body[data-ready='true']")
    # it opens on the 30 days up to the latest data (4 Nov): all eight incidents
    assert page.input_value("#to") == "2026-11-04"
    assert page.inner_text("#fig-incidents") == "8"
    page.fill("#from", FIRST_DAY)
    page.fill("#to", LAST_DAY)
    page.click("#period button[type='submit']")
    page.wait_for_selector(f"#period-label:has-text('{FIRST_DAY} to {LAST_DAY}')")
    assert page.inner_text("#fig-incidents") == "6"
    assert page.inner_text("#fig-decided") == "5"
    assert page.inner_text("#fig-confirm-rate") == "40 %"
    assert page.inner_text("#fig-median") == "60 s"
    assert page.inner_text("#fig-masks") == "3"
    gunshot = page.locator("#by-class tr[data-class='gunshot'] td").all_inner_texts()
    assert gunshot == [  # 3 incidents, all 3 alerts (none unconfirmed), 2 located
        "gunshot", "3", "3", "3", "0", "2", "1", "1", "1 / 0 / 0 / 0", "0", "1", "50 %", "60 s",
    ]  # fmt: skip
    # the charts: one bar per class and day with incidents (stacked), mask refusals per day
    bars = page.locator("#chart-incidents rect[data-series]")
    assert bars.count() == 4
    assert page.locator("#chart-cameras rect[data-series='refused by a privacy mask']").count() == 1
    assert page.locator("#chart-dispositions rect[data-series='dismissed: fireworks']").count() == 1
    assert "chain verified now" in page.inner_text("#chain")
    efficacy = page.inner_text("#efficacy")  # no outcome recorded in this month: 0 of 6
    assert "0 of 6 alerts (0.0 %; 95 % interval 0–39 %): too few alerts" in efficacy
    assert "4 of 6 alerts (66.7 %" in efficacy and "9.1 % of 50,176" in efficacy
    href = page.get_attribute("#report-html", "href")
    assert href == f"api/observatory/report.html?from={FIRST_DAY}&to={LAST_DAY}"
    with page.expect_download() as download:
        page.click("#report-html")
    assert download.value.suggested_filename == f"ouie-transparency-{FIRST_DAY}_{LAST_DAY}.html"
    shots = Path(os.environ.get("OUIE_SCREENS_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "observatory.png"), full_page=True)
    assert errors == []
    page.close()


def test_an_operator_has_no_link_and_no_figures(chromium: Any, console_url: str) -> None:
    page = chromium.new_page()
    log_in(page, console_url, "olga", PASSWORD)
    assert page.locator("a[href='observatory.html']").is_hidden()
    page.goto(console_url + f"observatory.html?from={FIRST_DAY}&to={LAST_DAY}")
    page.wait_for_selector("#error:has-text('may not observe')")
    assert page.inner_text("#summary") == ""
    page.close()


def test_the_report_file_loads_nothing_from_anywhere(
    chromium: Any, store: Store, tmp_path: Path
) -> None:
    deployment = Deployment(name="saint-etienne", sensors=4, cameras=2, cue_mode="suggest")
    period = Period.model_validate({"from": FIRST_DAY, "to": LAST_DAY})
    report_file = tmp_path / "report.html"
    report_file.write_text(render_html(build_report(store, deployment, period)), encoding="utf-8")
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report_file.as_uri())
    page.wait_for_load_state("load")
    assert requested and all(
        url == report_file.as_uri() or url.startswith("data:") for url in requested
    )
    images = page.locator("img")
    assert images.count() == 4
    assert all(
        width > 300 for width in images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    )  # every chart decoded
    assert page.inner_text("#card-incidents") == "6"
    page.screenshot(path=str(tmp_path / "transparency-report.png"), full_page=True)
    page.close()
