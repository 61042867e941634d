"""`ouie demo`'s chain on a small scenario: a simulated gunshot is heard by the sensors'
detectors, located by the central service, cued to a virtual camera (suggest: only after an
operator approves in the console; auto: at once) and scored against the truth."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from ouie.app.demo import running_demo
from tests.builders import wait_until
from tests.console_scenarios import demo_options, operator_client, write_square_scenario


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_square_scenario(tmp_path_factory.mktemp("scenario"))


def test_suggest_demo_locates_the_gunshot_and_moves_the_camera_only_when_approved(
    scenario_path: Path, tmp_path: Path
) -> None:
    with running_demo(demo_options(scenario_path, auto_cue=False), tmp_path) as (run, replay):
        replay.console = Console(file=io.StringIO(), width=200, force_terminal=False)
        replay.run()
        summary = replay.summary()
        assert (summary.alerting_true_events, summary.detected, summary.fixed) == (1, 1, 1)
        # what the operator saw: the one true alert, nothing else
        assert (summary.alerts_true, summary.false_incidents, summary.unconfirmed) == (1, 0, 0)
        assert (summary.context_episodes, summary.context_sounds) == (0, 0)
        progress = replay.console.file.getvalue()  # type: ignore[attr-defined]
        assert "6/6 s simulated" in progress and "reached" in progress and "alerts" in progress
        [located] = [o for o in summary.incident_outcomes if o.truth_class == "gunshot"]
        assert located.error_m is not None and located.error_m < 10.0
        assert located.shown_as == "alert"
        assert summary.fixed_within_10_m == 1
        assert summary.cue_states == {"suggested": 1}  # no camera moved on its own
        assert summary.reports_stored == summary.reports_published >= 3
        assert 0 < summary.achieved_speed <= 10.0 * 1.05

        client, headers = operator_client(run)
        [incident] = [i for i in client.get("api/incidents").json() if i["id"] == located.id]
        assert incident["class"] == "gunshot" and incident["lat"] is not None
        [cue] = client.get(f"api/incidents/{located.id}").json()["cues"]
        assert cue["state"] == "suggested"
        approved = client.post(
            f"api/incidents/{located.id}/cues/{cue['id']}/approve", headers=headers
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["cues"][0]["state"] == "executed"
        [camera] = client.get("api/cameras").json()
        assert camera["state"] == "cued"
        snapshot = client.get(f"api/cameras/{camera['id']}/snapshot")
        assert snapshot.status_code == 200 and len(snapshot.content) > 1000
        actions = [(e["action"], e["actor"]) for e in run.store.audit.entries()]
        assert ("camera.cue_approved", "operator") in actions
        assert ("camera.move", "operator") in actions
        assert run.store.audit.verify() == []


def test_auto_demo_cues_at_once_declared_as_a_demonstration(
    scenario_path: Path, tmp_path: Path
) -> None:
    with running_demo(demo_options(scenario_path, auto_cue=True), tmp_path) as (run, replay):
        replay.run()
        summary = replay.summary()
        assert summary.cue_mode == "auto"
        assert summary.cue_states == {"executed": 1}
        assert summary.cue_latency.n == 1
        assert summary.cue_latency.p50_s is not None and 0.0 < summary.cue_latency.p50_s < 10.0
        [mode] = [e for e in run.store.audit.entries() if e["action"] == "camera.cueing_mode"]
        assert "demonstration only" in mode["details"]["legal_basis"]
        client, _ = operator_client(run)
        overview = client.get("api/overview").json()
        assert overview["cue"]["mode"] == "auto"
        assert "demonstration only" in overview["cue"]["dpia"]


def test_the_cameras_own_audio_detector_confirms_the_located_gunshot(
    scenario_path: Path, tmp_path: Path
) -> None:
    """--camera-audio: the virtual camera hears the gunshot too and says so over ONVIF; the
    located incident gets the camera in cameras_heard and its score raised, s' = 1 − (1 − s)·
    (1 − 0.3·0.8), and no incident is made of the camera's event alone."""
    options = demo_options(scenario_path, auto_cue=True).model_copy(update={"camera_audio": True})
    with running_demo(options, tmp_path) as (run, replay):
        replay.run()
        summary = replay.summary()
        assert (summary.detected, summary.fixed) == (1, 1)
        [located] = [o for o in summary.incident_outcomes if o.truth_class == "gunshot"]
        assert wait_until(lambda: run.store.get_incident(located.id).cameras_heard == ["cam-1"])
        incident = run.store.get_incident(located.id)
        best = max(r.score for r in run.store.get_reports(incident.report_ids))
        assert incident.score == pytest.approx(1 - (1 - best) * (1 - 0.3 * 0.8))
        assert run.store.count_incidents() == len(summary.incident_outcomes)
        [entry] = [e for e in run.store.audit.entries() if e["action"] == "incident.camera_heard"]
        assert entry["subject"] == f"incident:{located.id}" and entry["actor"] == "camera:cam-1"
