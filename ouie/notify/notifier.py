"""`Notifier`: the central's incidents and operators' decisions out to every enabled output,
off the caller's thread.

The central calls `incident_changed(kind, record)` (a `ServiceListener`) from fusion's thread
and `disposed(...)` from the console's request; both only enqueue and return. One notifier
thread turns each change into an `Alert` (numbered per incident, with the alerts before it)
and hands it to the outputs:

| output        | raised | updated | confirmed / escalated | dismissed | how                  |
| ------------- | ------ | ------- | --------------------- | --------- | -------------------- |
| cap           | Alert  | Update  | Update (Observed)     | Cancel    | durable signed POST  |
| webhook       | yes    | yes     | yes                   | yes       | durable signed POST  |
| milestone     | yes    | –       | –                     | –         | durable POST         |
| onvif_events  | yes    | yes     | –                     | –         | PullPoint queues     |
| onvif_mqtt    | yes    | yes     | –                     | –         | bus, QoS 1           |
| home_assistant| yes    | yes     | yes                   | yes       | bus, QoS 1           |

Only incidents that raise an alert are sent (`ouie.core.incident.raises_alert`: alerting classes
— gunshot, explosion, scream, glass breaking — the network confirms, and the cameras' video
events); context classes (sirens, alarms, fireworks) and unconfirmed incidents stay in the
console. A video event (intrusion, wrong_way, density) goes only to the outputs whose
`video_events` is on (off by default). Once sent, an incident's later changes and decisions
follow it out.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ouie.core.audit import AuditSink
from ouie.core.classes import VIDEO_EVENT_KINDS
from ouie.core.timebase import now_ns
from ouie.notify import cap, milestone, webhook
from ouie.notify.alert import Alert, AlertPhase, CameraRef, SentMessage, cameras_in_range
from ouie.notify.config import NotifyConfig, VideoOptIn
from ouie.notify.delivery import DestinationQueue
from ouie.notify.home_assistant import STATE_TOPIC, discovery_config, discovery_topic, ha_event
from ouie.notify.metrics import NotifyMetrics
from ouie.notify.onvif_events import onvif_json, onvif_json_topic, onvif_topic
from ouie.notify.onvif_service import OnvifEventBroker
from ouie.store.records import DismissReason, DispositionAction, IncidentRecord
from ouie.store.repository import Store
from ouie.transport.bus import Bus

log = logging.getLogger(__name__)

HISTORY_INCIDENTS = 10_000
"""Incidents whose alerts the notifier remembers (for CAP references), most recent kept."""
DETECTION_PHASES = frozenset({AlertPhase.RAISED, AlertPhase.UPDATED})


@dataclass(frozen=True)
class OutputSummary:
    """An enabled output as the transparency report lists it."""

    name: str
    destinations: tuple[str, ...]
    """Receivers' host names, or where the output is offered."""


def enabled_outputs(config: NotifyConfig) -> list[OutputSummary]:
    """Every enabled output and where its messages go (host names only, never secrets)."""
    outputs = [
        OutputSummary(name, tuple(d.host for d in output.destinations))
        for name, output in config.http_outputs().items()
        if output.enabled
    ]
    if config.onvif_events.enabled:
        outputs.append(OutputSummary("onvif_events", ("ONVIF PullPoint subscribers",)))
    if config.onvif_mqtt.enabled:
        outputs.append(OutputSummary("onvif_mqtt", ("the central's MQTT broker",)))
    if config.home_assistant.enabled:
        outputs.append(OutputSummary("home_assistant", ("the central's MQTT broker",)))
    return outputs


def record_of(row: Any) -> IncidentRecord:
    """A stored incident row (`ouie.store.models`) as the record the outputs format."""
    return IncidentRecord(
        id=row.id,
        class_=row.class_,
        onset_ns=row.onset_ns,
        lat=row.lat,
        lon=row.lon,
        uncertainty_m=row.uncertainty_m,
        ellipse=row.ellipse,
        hyperbola=row.hyperbola,
        status=row.status,
        score=row.score,
        sensors_used=list(row.sensors_used),
        sensors_rejected=list(row.sensors_rejected),
        report_ids=list(row.report_ids),
        cameras_heard=list(row.cameras_heard),
        revision=row.revision,
        assessment=row.assessment,
        video=row.video,
    )


def sends(output: VideoOptIn, alert: Alert) -> bool:
    """Whether `output` sends `alert`: a sound always; a video event only when the output's
    `video_events` is on."""
    return alert.incident.class_ not in VIDEO_EVENT_KINDS or output.video_events


Task = tuple[str, Any]


class Notifier:
    """Fans incidents and decisions out to the enabled outputs (see module docstring)."""

    def __init__(
        self,
        config: NotifyConfig,
        *,
        city: str,
        audit: AuditSink,
        metrics: NotifyMetrics | None = None,
        bus: Bus | None = None,
        onvif: OnvifEventBroker | None = None,
        store: Store | None = None,
        cameras: list[CameraRef] | None = None,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        """`store` gives the loudness of an incident's reports and incidents decided after a
        restart; `cameras` name cameras in range (their `vms_refs`)."""
        self.config, self.city, self.clock = config, city, clock
        self.metrics = metrics or NotifyMetrics()
        self.bus, self.onvif, self.store = bus, onvif, store
        self.cameras = list(cameras or [])
        self._queues: dict[tuple[str, str], DestinationQueue] = {}
        content_types = {
            "cap": cap.CONTENT_TYPE,
            "webhook": webhook.CONTENT_TYPE,
            "milestone": milestone.CONTENT_TYPE,
        }
        for name, output in config.http_outputs().items():
            if not output.enabled:
                continue
            for destination in output.destinations:
                self._queues[(name, destination.name)] = DestinationQueue(
                    name,
                    destination,
                    content_types[name],
                    config.outbox_dir,
                    config.retry,
                    self.metrics,
                    audit,
                )
        self._history: OrderedDict[str, list[SentMessage]] = OrderedDict()
        self._last: OrderedDict[str, IncidentRecord] = OrderedDict()
        self._tasks: queue.Queue[Task | None] = queue.Queue()
        if config.home_assistant.enabled and bus is not None:
            bus.publish(
                discovery_topic(config.home_assistant),
                json.dumps(discovery_config(config.home_assistant, city)).encode(),
                qos=1,
                retain=True,
            )
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()

    # -- what the central calls (never blocks) ---------------------------------------------
    def incident_changed(self, kind: str, payload: dict[str, Any]) -> None:
        """A `ServiceListener`: ('incident', record JSON) when fusion stores a change."""
        if kind == "incident":
            self._tasks.put(("incident", payload))

    def disposed(
        self,
        incident_id: str,
        action: DispositionAction,
        reason: DismissReason | None = None,
    ) -> None:
        """An operator confirmed, escalated or dismissed an incident."""
        self._tasks.put(("disposition", (incident_id, DispositionAction(action), reason)))

    # -- life ---------------------------------------------------------------------------------
    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every change so far is handed to the outputs and every queue is
        delivered; False on timeout."""
        if not self.handed_over(timeout_s):
            return False
        return all(q.flush(timeout_s) for q in self._queues.values())

    def handed_over(self, timeout_s: float = 10.0) -> bool:
        """Wait until every change so far is in the outputs' durable queues (not delivered:
        see `flush`); False on timeout."""
        done = threading.Event()
        self._tasks.put(("barrier", done))
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Hand what is queued to the outputs, then stop (undelivered sends stay on disk)."""
        self._tasks.put(None)
        self._thread.join(timeout=timeout_s)
        for destination_queue in self._queues.values():
            destination_queue.close()

    def pending(self) -> int:
        """Messages waiting in the durable queues."""
        return sum(q.pending() for q in self._queues.values())

    # -- the notifier thread ------------------------------------------------------------------
    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            kind, value = task
            try:
                if kind == "incident":
                    self._on_incident(IncidentRecord.model_validate(value))
                elif kind == "disposition":
                    self._on_disposition(*value)
                elif kind == "barrier":
                    value.set()
            except Exception:  # one bad change must not stop the others
                log.exception("notify: could not handle %s %r", kind, value)

    def _on_incident(self, record: IncidentRecord) -> None:
        if not (record.raises_alert or record.id in self._history):
            return  # context, or not (yet) confirmed by the network: the console shows it apart
        phase = AlertPhase.UPDATED if record.id in self._history else AlertPhase.RAISED
        self._emit(record, phase)

    def _on_disposition(
        self, incident_id: str, action: DispositionAction, reason: DismissReason | None
    ) -> None:
        record = self._last.get(incident_id)
        if record is None and self.store is not None:
            row = self.store.get_incident(incident_id)
            record = record_of(row) if row is not None else None
        if record is None:
            log.warning("notify: decision on unknown incident %s not sent", incident_id)
            return
        if not (record.raises_alert or record.id in self._history):
            return
        reason_text = None if reason is None else str(DismissReason(reason))
        self._emit(record, AlertPhase.of_disposition(action), reason_text)

    def _emit(self, record: IncidentRecord, phase: AlertPhase, reason: str | None = None) -> None:
        history = self._remember(record)
        alert = Alert(
            incident=record,
            phase=phase,
            sequence=len(history) + 1,
            sent_ns=self.clock(),
            previous=tuple(history),
            dismiss_reason=reason,
            loudness_dbfs=self._loudness(record),
            cameras=cameras_in_range(record, self.cameras),
        )
        history.append(SentMessage(message_id=alert.message_id, sent_ns=alert.sent_ns))
        self._deliver(alert)

    def _remember(self, record: IncidentRecord) -> list[SentMessage]:
        """The incident's alerts so far; keeps its latest record (both bounded, LRU)."""
        for memory in (self._history, self._last):
            if record.id in memory:
                memory.move_to_end(record.id)
            while len(memory) >= HISTORY_INCIDENTS:
                memory.popitem(last=False)
        self._last[record.id] = record
        return self._history.setdefault(record.id, [])

    def _loudness(self, record: IncidentRecord) -> float | None:
        """The loudest peak level among the incident's reports, dBFS (None without a store)."""
        if self.store is None or not record.report_ids:
            return None
        try:
            reports = self.store.get_reports(record.report_ids)
        except Exception:
            log.exception("notify: reports of %s unreadable; no loudness", record.id)
            return None
        return max((r.peak_dbfs for r in reports), default=None)

    def _deliver(self, alert: Alert) -> None:
        config = self.config
        http = config.http_outputs()
        for (output, name), destination_queue in self._queues.items():
            if not sends(http[output], alert):
                continue
            body = self._body(output, name, alert)
            if body is not None:
                destination_queue.put(alert.message_id, body)
        detection = alert.phase in DETECTION_PHASES
        onvif_events = config.onvif_events
        if (
            detection
            and self.onvif is not None
            and onvif_events.enabled
            and sends(onvif_events, alert)
        ):
            self.onvif.publish(alert)
        if self.bus is None:
            return
        if detection and config.onvif_mqtt.enabled and sends(config.onvif_mqtt, alert):
            topic = onvif_json_topic(onvif_topic(alert))
            self.bus.publish(topic, json.dumps(onvif_json(alert)).encode(), qos=1)
            self.metrics.published.labels(output="onvif_mqtt").inc()
        if config.home_assistant.enabled and sends(config.home_assistant, alert):
            self.bus.publish(STATE_TOPIC, json.dumps(ha_event(alert)).encode(), qos=1)
            self.metrics.published.labels(output="home_assistant").inc()

    def _body(self, output: str, destination: str, alert: Alert) -> bytes | None:
        """What `output` sends to `destination` about `alert` (None: nothing)."""
        if output == "cap":
            return cap.cap_alert(alert, self.config.cap)
        if output == "milestone":
            if alert.phase is not AlertPhase.RAISED:
                return None
            return milestone.milestone_event(alert, self.config.milestone)
        vms = next(d.vms for d in self.config.webhook.destinations if d.name == destination)
        return json.dumps(webhook.webhook_event(alert, vms)).encode()
