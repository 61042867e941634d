"""`ouie serve`'s chain with the notify outputs on: a city.yaml enabling CAP, the JSON webhook
and the ONVIF Event service; four sensors' reports locate a gunshot, a local receiver gets the
CAP Alert and the webhook, an operator's dismissal in the console sends the CAP Cancel, the
counters are on /metrics and the transparency report lists the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from ouie.app.config import load_city_config
from ouie.app.serve import build_central
from ouie.console.auth import CSRF_HEADER, hash_password
from ouie.core.recording import sensors_geojson
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.notify.cap import CAP_NS
from ouie.store.records import Role
from ouie.transport.topics import reports_topic
from tests.notify_receiver import Receiver
from tests.test_central_chain import SITES, reports_from

CAP = {"cap": CAP_NS}


def city_file(tmp_path: Path, receiver: Receiver) -> Path:
    (tmp_path / "sensors.geojson").write_text(json.dumps(sensors_geojson(SITES)))
    path = tmp_path / "city.yaml"
    path.write_text(
        "name: test-town\n"
        "origin: {lat: 45.4397, lon: 4.3872, height_m: 500}\n"
        f"database_url: sqlite:///{tmp_path / 'city.db'}\n"
        "transport: inprocess\n"
        "sensors_file: sensors.geojson\n"
        "notify:\n"
        "  outbox_dir: outbox\n"
        "  retry: {initial_s: 0.05, max_s: 0.2}\n"
        f"  cap: {{enabled: true, destinations: [{{name: psap, url: '{receiver.url}'}}]}}\n"
        f"  webhook: {{enabled: true, destinations: [{{name: nx, url: '{receiver.url}/json'}}]}}\n"
        "  onvif_events: {enabled: true}\n"
    )
    return path


def test_serve_sends_the_incident_and_the_decision_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUIE_ONVIF_USER", "vms")
    monkeypatch.setenv("OUIE_ONVIF_PASSWORD", "pullpoint-secret")
    receiver = Receiver()
    receiver.start()
    city = load_city_config(city_file(tmp_path, receiver))
    assert city.notify.outbox_dir == tmp_path / "outbox"
    assert city.deployment().alert_outputs == {
        "cap": ["127.0.0.1"],
        "webhook": ["127.0.0.1"],
        "onvif_events": ["ONVIF PullPoint subscribers"],
    }
    runtime = build_central(city)
    try:
        runtime.store.add_user("olga", Role.OPERATOR, hash_password("op-secret-1"))
        client = TestClient(runtime.app)
        for report in reports_from((-20.0, 10.0), now_ns() - NS_PER_S):
            runtime.bus.publish(reports_topic(report.sensor_id), report.to_json().encode())
        assert receiver.wait_for(2, timeout_s=20)  # the CAP Alert and the webhook
        [incident] = runtime.store.list_incidents()

        csrf = {CSRF_HEADER: client.get("/console/api/session").json()["csrf"]}
        login = client.post(
            "/console/api/login", json={"name": "olga", "password": "op-secret-1"}, headers=csrf
        )
        assert login.status_code == 200, login.text
        decided = client.post(
            f"/console/api/incidents/{incident.id}/disposition",
            json={"action": "dismiss", "reason": "fireworks"},
            headers={CSRF_HEADER: login.json()["csrf"]},
        )
        assert decided.status_code == 200, decided.text
        assert runtime.notifier is not None and runtime.notifier.flush(timeout_s=20)
        metrics = client.get("/metrics").text
        onvif = client.post("/onvif/device_service", content=b"<not-soap/>")
    finally:
        runtime.close()
        receiver.stop()
    caps = [etree.fromstring(r.body) for r in receiver.received if r.path == "/hook"]
    kinds = [c.findtext("cap:msgType", namespaces=CAP) for c in caps]
    assert kinds[0] == "Alert" and kinds[-1] == "Cancel"  # revisions, if any, are Updates
    assert set(kinds[1:-1]) <= {"Update"}
    assert caps[0].findtext("cap:info/cap:certainty", namespaces=CAP) == "Possible"
    hooks = [json.loads(r.body) for r in receiver.received if r.path == "/hook/json"]
    assert [h["incident"]["phase"] for h in hooks][:: len(hooks) - 1] == ["raised", "dismissed"]
    assert all(h["incident"]["id"] == incident.id for h in hooks)
    assert f'ouie_notify_sent_total{{destination="psap",output="cap"}} {len(caps)}.0' in metrics
    assert onvif.status_code == 400 and b"Fault" in onvif.content  # the ONVIF service answers
