"""The notifier: incidents and decisions from the central to every enabled output, in order,
without blocking the caller."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import SecretStr

from ouie.notify.alert import CameraRef, synthetic_gunshot
from ouie.notify.cap import CAP_NS
from ouie.notify.config import NotifyConfig, OnvifEventsOutput
from ouie.notify.notifier import Notifier, enabled_outputs
from ouie.notify.onvif_service import OnvifEventBroker
from ouie.store.records import DismissReason, DispositionAction
from ouie.transport.bus import InProcessBus
from tests.notify_receiver import Receiver

CAP = {"cap": CAP_NS}


def city_notify(cap_url: str, hook_url: str, folder: Path) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "outbox_dir": str(folder),
            "retry": {"initial_s": 0.1, "max_s": 0.5},
            "cap": {
                "enabled": True,
                "sender": "ouie@test-city",
                "destinations": [{"name": "hub", "url": cap_url}],
            },
            "webhook": {
                "enabled": True,
                "destinations": [{"name": "nx", "url": hook_url, "vms": "nx"}],
            },
            "onvif_events": {"enabled": True},
            "onvif_mqtt": {"enabled": True},
            "home_assistant": {"enabled": True},
        }
    )


def record_json(**changes: Any) -> dict[str, Any]:
    record = synthetic_gunshot().incident.model_copy(update=changes)
    return record.model_dump(mode="json", by_alias=True)


class BusTap:
    """Every message published on the bus under some topics."""

    def __init__(self, bus: InProcessBus, *filters: str) -> None:
        self.messages: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        for topic_filter in filters:
            bus.subscribe(topic_filter, self._take)

    def _take(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self.messages.append((topic, json.loads(payload)))

    def on(self, prefix: str) -> list[Any]:
        with self._lock:
            return [payload for topic, payload in self.messages if topic.startswith(prefix)]


def test_an_incident_raised_revised_and_dismissed_reaches_every_output_in_order(
    tmp_path: Path,
) -> None:
    cap_receiver, hook_receiver = Receiver(), Receiver()
    cap_receiver.start()
    hook_receiver.start()
    bus = InProcessBus()
    tap = BusTap(bus, "ouie/v1/onvif-ej/#", "ouie/v1/ha/#", "homeassistant/#")
    broker = OnvifEventBroker(OnvifEventsOutput(enabled=True), "u", SecretStr("p"))
    point = broker.points.subscribe(60)
    camera = CameraRef(id="c1", lat=45.4405, lon=4.3841, max_range_m=400, vms_refs={"nx": "{1}"})
    audit: list[Any] = []
    notifier = Notifier(
        city_notify(cap_receiver.url, hook_receiver.url, tmp_path),
        city="test-city",
        audit=audit.append,
        bus=bus,
        onvif=broker,
        cameras=[camera],
    )
    try:
        notifier.incident_changed("incident", record_json(revision=1))
        notifier.incident_changed("incident", record_json(revision=2, uncertainty_m=9.0))
        notifier.incident_changed("incident", record_json(id="ctx", class_="fireworks"))
        notifier.disposed("3f9c2a61d4e0b7a5", DispositionAction.DISMISS, DismissReason.FIREWORKS)
        assert notifier.flush(timeout_s=30)
        assert bus.drain(10.0)
    finally:
        notifier.close()
        cap_receiver.stop()
        hook_receiver.stop()
        bus.close()
    kinds = [
        etree.fromstring(r.body).findtext("cap:msgType", namespaces=CAP)
        for r in cap_receiver.received
    ]
    assert kinds == ["Alert", "Update", "Cancel"]
    cancel = etree.fromstring(cap_receiver.received[-1].body)
    assert len(cancel.findtext("cap:references", namespaces=CAP).split(" ")) == 2
    hooks = [json.loads(r.body) for r in hook_receiver.received]
    assert [h["incident"]["phase"] for h in hooks] == ["raised", "updated", "dismissed"]
    assert hooks[0]["metadata"]["cameraRefs"] == ["{1}"]
    assert len(broker.points.pull(point.id, 0, 10)) == 2  # detections only, not the decision
    assert len(tap.on("ouie/v1/onvif-ej/RuleEngine/AudioDetector/Class")) == 2
    assert [e["phase"] for e in tap.on("ouie/v1/ha/")] == ["raised", "updated", "dismissed"]
    assert tap.on("homeassistant/event/ouie/incident/config")[0]["event_types"]
    assert sum(e.action == "notify.sent" for e in audit) == 6


def test_an_unconfirmed_incident_goes_out_only_once_the_network_confirms_it(
    tmp_path: Path,
) -> None:
    """What the console shows apart as unconfirmed (fewer sensors heard it than should have) is
    not sent outside ouie; the revision that confirms it is the Alert."""
    cap_receiver, hook_receiver = Receiver(), Receiver()
    cap_receiver.start()
    hook_receiver.start()
    notifier = Notifier(
        city_notify(cap_receiver.url, hook_receiver.url, tmp_path), city="c", audit=lambda e: None
    )
    try:
        notifier.incident_changed(
            "incident", record_json(revision=1, assessment={"confirmed": False})
        )
        assert notifier.flush(timeout_s=30)
        assert cap_receiver.received == [] and hook_receiver.received == []
        notifier.incident_changed(
            "incident", record_json(revision=2, assessment={"confirmed": True})
        )
        assert notifier.flush(timeout_s=30)
    finally:
        notifier.close()
        cap_receiver.stop()
        hook_receiver.stop()
    (alert,) = cap_receiver.received
    assert etree.fromstring(alert.body).findtext("cap:msgType", namespaces=CAP) == "Alert"
    assert [json.loads(r.body)["incident"]["phase"] for r in hook_receiver.received] == ["raised"]


def test_the_caller_is_never_held_by_a_receiver_that_is_down(tmp_path: Path) -> None:
    dead = Receiver()  # never started: connections are refused
    notifier = Notifier(city_notify(dead.url, dead.url, tmp_path), city="c", audit=lambda e: None)
    try:
        started = time.perf_counter()
        for revision in range(1, 51):
            notifier.incident_changed("incident", record_json(revision=revision))
        elapsed_s = time.perf_counter() - started
    finally:
        notifier.close()
    assert elapsed_s < 0.25  # 50 changes queued in memory, not sent on the caller's thread


def test_the_transparency_list_names_outputs_and_hosts_only(tmp_path: Path) -> None:
    config = city_notify("https://hub.example/cap", "https://nx.example:7001/hook", tmp_path)
    listed = {o.name: o.destinations for o in enabled_outputs(config)}
    assert listed["cap"] == ("hub.example",)
    assert listed["webhook"] == ("nx.example",)
    assert {"onvif_events", "onvif_mqtt", "home_assistant"} <= listed.keys()
    assert enabled_outputs(NotifyConfig()) == []


@pytest.mark.parametrize("action", [DispositionAction.CONFIRM, DispositionAction.ESCALATE])
def test_a_confirmation_is_an_observed_cap_update(tmp_path: Path, action: str) -> None:
    receiver = Receiver()
    receiver.start()
    notifier = Notifier(
        city_notify(receiver.url, receiver.url, tmp_path), city="c", audit=lambda e: None
    )
    try:
        notifier.incident_changed("incident", record_json())
        notifier.disposed("3f9c2a61d4e0b7a5", DispositionAction(action))
        assert notifier.flush(timeout_s=30)
    finally:
        notifier.close()
        receiver.stop()
    caps = [r for r in receiver.received if r.headers["Content-Type"] == "application/cap+xml"]
    last = etree.fromstring(caps[-1].body)
    assert last.findtext("cap:msgType", namespaces=CAP) == "Update"
    assert last.findtext("cap:info/cap:certainty", namespaces=CAP) == "Observed"
