"""The observatory on the real chain (`ouie demo`'s small square scenario, cue mode suggest): the
gunshot the sensors heard, the camera move an operator approved and the confirmation are counted
from what the service, the cue controller and the console actually wrote.

Everything runs on the demo's replay clock, so incidents, camera moves, decisions and audit
entries all fall on the scenario's simulated day (21 June 2026)."""

from __future__ import annotations

from pathlib import Path

from ouie.app.demo import running_demo
from ouie.observatory.figures import Period, compute_figures
from tests.console_scenarios import demo_options, operator_client, write_square_scenario


def one_day(day: str) -> Period:
    return Period.model_validate({"from": day, "to": day})


def test_the_demo_chain_is_counted_as_it_happened(tmp_path: Path) -> None:
    scenario = write_square_scenario(tmp_path)
    with running_demo(demo_options(scenario, auto_cue=False), tmp_path) as (run, replay):
        replay.run()
        client, headers = operator_client(run)
        [gunshot] = [i for i in client.get("api/incidents").json() if i["class"] == "gunshot"]
        [cue] = client.get(f"api/incidents/{gunshot['id']}").json()["cues"]
        approved = client.post(
            f"api/incidents/{gunshot['id']}/cues/{cue['id']}/approve", headers=headers
        )
        assert approved.status_code == 200, approved.text
        confirmed = client.post(
            f"api/incidents/{gunshot['id']}/disposition",
            json={"action": "confirm"},
            headers=headers,
        )
        assert confirmed.status_code == 200, confirmed.text
        incidents = run.store.list_incidents()

        figures = compute_figures(run.store, one_day("2026-06-21"))
        [row] = [r for r in figures.by_class if r.class_ == "gunshot"]
        assert (row.incidents, row.located, row.confirmed, row.confirm_rate) == (1, 1, 1, 1.0)
        assert row.reports >= 3  # one per sensor that heard it
        assert figures.total.reports == run.store.count_reports()
        assert figures.total.incidents == len(incidents)

        cameras = figures.cameras_total
        assert (cameras.cues, cameras.suggested, cameras.approved) == (1, 1, 1)
        assert (cameras.moved_approved, cameras.moved_auto, cameras.declined) == (1, 0, 0)
        audit = figures.audit
        assert audit.chain_ok
        assert audit.by_kind["dispositions"] == 1 and audit.by_kind["logins"] == 1
        assert audit.by_kind["incident views"] == 1
