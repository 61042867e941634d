"""`ouie observatory report`: the transparency report of the hand-counted month, as one
self-contained HTML file and as JSON, and clear errors for bad input."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from ouie.cli import app
from ouie.observatory.deployment import Deployment
from ouie.observatory.figures import Period
from ouie.observatory.report import build_report, render_html
from ouie.store.models import AuditEntryRow
from ouie.store.repository import Store
from ouie.store.retention import RetentionPolicy, purge
from tests.observatory_store import at, seed_november

MASK = {
    "type": "Polygon",
    "coordinates": [[[4.3870, 45.4400], [4.3872, 45.4400], [4.3872, 45.4402], [4.3870, 45.4400]]],
}


def write_city(folder: Path, cueing: dict[str, Any]) -> Path:
    """city.yaml with 4 sensors, 2 cameras (one with its own mask, one shared mask)."""
    sensors = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [4.387 + 0.001 * i, 45.44]},
            "properties": {"id": f"s{i}"},
        }
        for i in range(1, 5)
    ]
    (folder / "sensors.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": sensors})
    )
    cameras = {
        "cueing": cueing,
        "cameras": [
            {"id": "c1", "lat": 45.4401, "lon": 4.3871, "masks": [{"id": "own", "polygon": MASK}]},
            {"id": "c2", "lat": 45.4405, "lon": 4.3880},
        ],
        "masks": [{"id": "courtyard", "polygon": MASK}],
    }
    (folder / "cameras.yaml").write_text(json.dumps(cameras))
    city = {
        "name": "saint-etienne",
        "origin": {"lat": 45.44, "lon": 4.387},
        "database_url": f"sqlite:///{folder / 'city.db'}",
        "sensors_file": "sensors.geojson",
        "cameras_file": "cameras.yaml",
        "retention": {"reports_days": 30, "incidents_days": 90},
    }
    path = folder / "city.yaml"
    path.write_text(json.dumps(city))
    return path


@pytest.fixture
def city(tmp_path: Path) -> Path:
    store = Store.open(f"sqlite:///{tmp_path / 'city.db'}")
    seed_november(store)
    store.close()
    return write_city(tmp_path, {"mode": "auto", "legal_basis": "Arrêté 2026-41", "dpia": "AIPD-7"})


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["observatory", "report", *args])


def cell_text(html: str, table_id: str, row_class: str) -> list[str]:
    """The cells of the row `data-class=row_class` of table `table_id`, as text."""
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    row = table.split(f'data-class="{row_class}"', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def test_the_report_states_the_deployment_the_figures_and_the_chain(
    city: Path, tmp_path: Path
) -> None:
    out, out_json = tmp_path / "report.html", tmp_path / "report.json"
    result = run("--config", str(city), "--from", "2026-11-01", "--to", "2026-11-03",
                 "--out", str(out), "--json", str(out_json))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "6 incidents, 5 decided, audit chain intact" in result.output
    # the terminal table: reports, incidents, located, confirmed, dismissed, escalated, open
    assert re.search(r"gunshot\s+3\s+3\s+2\s+1\s+1\s+0\s+1\s+50 %\s+60 s", result.output)
    assert re.search(r"all\s+7\s+6\s+4\s+2\s+2\s+1\s+1\s+40 %\s+60 s", result.output)
    html = out.read_text(encoding="utf-8")
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["schema"] == "ouie.transparency/2"
    assert data["deployment"] | {"retention": None} == {
        "name": "saint-etienne",
        "sensors": 4,
        "cameras": 2,
        "privacy_masks": 2,  # the shared courtyard counts once, with c1's own mask
        "cue_mode": "auto",
        "legal_basis": "Arrêté 2026-41",
        "dpia": "AIPD-7",
        "retention": None,
        "alert_outputs": {},  # no notify output enabled: alerts stay in the console
    }
    assert "incidents are shown in ouie's console only" in html
    assert "Arrêté 2026-41" in html and "AIPD-7" in html and "90 days" in html
    assert "No biometric identification" in html
    # per class: class, reports, incidents, located, no position, confirmed, 4 reasons,
    # escalated, open, confirm rate, median time
    assert cell_text(html, "by-class", "gunshot") == [
        "gunshot", "3", "3", "3", "0", "2", "1", "1", "1", "0", "0", "0", "0", "1", "50 %", "60 s",
    ]  # fmt: skip
    assert cell_text(html, "by-class", "all") == [
        "all", "7", "6", "6", "0", "4", "2", "2", "1", "1", "0", "0", "1", "1", "40 %", "60 s",
    ]  # fmt: skip
    gunshot = next(row for row in data["figures"]["by_class"] if row["class"] == "gunshot")
    assert gunshot["confirm_rate"] == 0.5 and gunshot["dismissed_by_reason"] == {"fireworks": 1}
    assert data["figures"]["cameras_total"]["mask_refused"] == 2
    assert data["figures"]["audit"]["chain_ok"] is True
    assert data["figures"]["audit"]["by_kind"]["dispositions"] == 6
    assert f"last entry {data['figures']['audit']['head_seq']}" in html
    assert html.count('src="data:image/png;base64,') == 4


def test_the_report_loads_nothing_from_outside(city: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert run("--config", str(city), "--from", "2026-11-01", "--to", "2026-11-30",
               "--out", str(out)).exit_code == 0  # fmt: skip
    html = out.read_text(encoding="utf-8")
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html)
    assert references and all(ref.startswith("data:image/png;base64,") for ref in references)
    assert not re.search(r"url\(|@import|<script|<link|<iframe", html, re.IGNORECASE)


def test_the_report_lists_the_purges_and_keeps_its_totals_after_them(
    city: Path, tmp_path: Path
) -> None:
    """The purge is audited at the wall-clock time it ran: the period runs up to today."""
    today = datetime.now(UTC).date()
    first, last = min(today, date(2026, 11, 1)), max(today, date(2026, 11, 30))

    def totals() -> dict[str, Any]:
        out_json = tmp_path / "r.json"
        result = run("--config", str(city), "--from", str(first), "--to", str(last),
                     "--out", str(tmp_path / "r.html"), "--json", str(out_json))  # fmt: skip
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(out_json.read_text(encoding="utf-8"))["figures"]
        return data

    before = totals()
    store = Store.open(f"sqlite:///{tmp_path / 'city.db'}")
    purge(store, RetentionPolicy(reports_days=1, incidents_days=1), at(20, 0))
    store.close()
    after = totals()
    assert after["by_class"] == before["by_class"] and after["total"] == before["total"]
    assert before["purges"] == []
    [purge_run] = after["purges"]
    assert (purge_run["reports_deleted"], purge_run["incidents_deleted"]) == (9, 8)  # all
    assert purge_run["at_utc"].startswith(str(today))
    assert (purge_run["reports_days"], purge_run["incidents_days"]) == (1, 1)


def test_an_edited_audit_row_shows_in_the_report_and_fails_the_command(
    city: Path, tmp_path: Path
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'city.db'}")
    with store.session() as session:
        session.execute(update(AuditEntryRow).where(AuditEntryRow.seq == 3).values(actor="mallory"))
    store.close()
    out = tmp_path / "report.html"
    result = run("--config", str(city), "--from", "2026-11-01", "--to", "2026-11-03",
                 "--out", str(out))  # fmt: skip
    assert result.exit_code == 1
    assert "audit chain BROKEN" in result.output
    html = out.read_text(encoding="utf-8")
    assert "the chain is BROKEN" in html and "row 3: content does not match its hash" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-31", "--to", "2026-12-01"], "'2026-11-31' is not a UTC day"),
        (["--from", "2026-11-03", "--to", "2026-11-01"], "ends (2026-11-01) before it starts"),
        (["--from", "2024-11-01", "--to", "2026-11-01"], "longer than 366 days"),
        (["--from", "2026-11-01", "--to", "2026-11-03", "--db", "sqlite:///{tmp}/none.db"],
         "no ouie database at"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_error(
    city: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = run("--config", str(city), "--out", str(tmp_path / "r.html"), *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())  # unboxed, unwrapped
    assert not (tmp_path / "r.html").exists()


def test_a_quiet_period_says_so_in_words_instead_of_empty_charts(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'empty.db'}")
    deployment = Deployment(sensors=0, cue_mode="off")
    period = Period.model_validate({"from": "2026-11-01", "to": "2026-11-30"})
    html = render_html(build_report(store, deployment, period))
    store.close()
    assert "<h1>Transparency report</h1>" in html  # no name known: none invented
    assert "data:image" not in html
    assert "No incident was raised during this period" in html
    assert "No camera was moved, declined or stopped by a privacy mask" in html
    assert "no camera is ever turned toward a sound" in html
