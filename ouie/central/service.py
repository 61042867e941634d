"""`CentralService`: the live chain bus → validation → store → association/localization →
incidents (stored, published on `ouie/v1/incidents`, pushed to listeners) → camera cueing.

Reports arrive on the bus's thread, which validates them and queues them for the ingest writer
(`ouie.central.ingest`): it commits them in batches, hands the new reports, in arrival order, to
fusion, and only then acknowledges each message. A ticker thread closes association windows,
marks silent sensors offline and runs the retention purge. Fusion (`IncidentSource`) and cueing
(`Cuer`) are protocols: `ouie serve` plugs in `ouie.fusion.association.Associator` and the
cameras concern; tests plug in fakes.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ouie.central.config import HEARTBEAT_TIMEOUT_S, IngestSettings
from ouie.central.ingest import DatabaseHealth, ReceivedReport, ReportWriter
from ouie.central.metrics import CentralMetrics
from ouie.central.ports import Cuer, IncidentSource, ServiceListener
from ouie.central.validation import Rejected, ValidationSettings, validate_report
from ouie.core.audit import AuditEvent
from ouie.core.camera_sound import CameraSound
from ouie.core.config import shorten
from ouie.core.geo import great_circle_distance_m
from ouie.core.incident import Incident
from ouie.core.recording import SensorSite
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.fusion.profiles import ClassProfile, apply_profiles
from ouie.store.records import IncidentRecord
from ouie.store.repository import Store
from ouie.store.retention import RetentionPolicy, purge
from ouie.transport.bus import Acknowledge, Bus
from ouie.transport.topics import (
    ALL_REPORTS_FILTER,
    ALL_STATUS_FILTER,
    INCIDENTS_QOS,
    INCIDENTS_TOPIC,
    sensor_of,
)

log = logging.getLogger(__name__)

MAX_REMEMBERED_INCIDENTS = 10_000
"""Incidents the service remembers camera confirmations of (each audited once) and cues of."""


class CentralService:
    """Runs the live chain (see module docstring). Thread-safe; `start()` then `stop()`."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        incidents: IncidentSource,
        sensors: list[SensorSite],
        validation: ValidationSettings | None = None,
        heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S,
        retention: RetentionPolicy | None = None,
        cuer: Cuer | None = None,
        clock: Callable[[], int] = now_ns,
        tick_s: float = 0.1,
        ingest: IngestSettings | None = None,
    ) -> None:
        self.store, self.bus, self.cuer, self.clock = store, bus, cuer, clock
        self.metrics = CentralMetrics()
        self.database = DatabaseHealth(self.metrics)
        self._writer = ReportWriter(
            store, ingest or IngestSettings(), self.metrics, self.database, self._fuse
        )
        self.sensors = {site.id: site for site in sensors}
        self.validation = validation or ValidationSettings()
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.retention = retention
        self.tick_s = tick_s
        self._incidents = incidents
        self._fusion_lock = threading.Lock()
        self._listeners: list[ServiceListener] = []
        self._cued: OrderedDict[str, IncidentRecord] = OrderedDict()
        self._camera_confirmed: OrderedDict[str, set[str]] = OrderedDict()
        self._cue_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cue")
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._next_purge_ns = 0

    # -- life ------------------------------------------------------------------------------
    def start(self) -> None:
        """Register the sensors, subscribe to reports and statuses, start the ticker."""
        self.store.sync_sensors(self.sensors.values())
        self._refresh_online_gauge()
        self._writer.start()
        self.bus.subscribe_acked(ALL_REPORTS_FILTER, self.handle_report)
        self.bus.subscribe(ALL_STATUS_FILTER, self.handle_status)
        self._ticker = threading.Thread(target=self._tick_forever, name="central-tick", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        """Commit the reports received so far, stop ticking and cueing (the bus and store
        belong to the caller). Reports that arrive from now on are left unacknowledged."""
        self._writer.stop()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        self._cue_worker.shutdown(wait=True)

    @property
    def ingest_backlog(self) -> int:
        """Reports received and not yet committed (held in memory, unacknowledged)."""
        return self._writer.backlog

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every report received so far is committed and fused; False on timeout."""
        return self._writer.flush(timeout_s)

    def add_listener(self, listener: ServiceListener) -> None:
        """Be told of every incident and sensor change (the console's live feed)."""
        self._listeners.append(listener)

    # -- messages --------------------------------------------------------------------------
    def handle_report(self, topic: str, payload: bytes, acknowledge: Acknowledge) -> None:
        """Validate one report message and queue it for the ingest writer, which acknowledges
        it once committed; a rejected message is acknowledged at once (never raises)."""
        if not self._writer.accepting:
            return  # stopping: the broker keeps it for the next service
        self.metrics.reports_received.inc()
        received_ns = self.clock()
        try:
            report = validate_report(
                sensor_of(topic) or "", payload, self.sensors, received_ns, self.validation
            )
        except Rejected as rejected:
            self.metrics.reports_rejected.labels(reason=str(rejected.reason)).inc()
            log.warning("rejected message on %.200s: %s", topic, shorten(str(rejected)))
            acknowledge()
            return
        if not self._writer.put(ReceivedReport(report, received_ns, acknowledge)):
            log.info("stopping: report %s left unacknowledged to the broker", report.report_id)

    def _fuse(self, stored: list[ReceivedReport]) -> None:
        """Newly stored reports, in arrival order, into association and localization."""
        for item in stored:
            try:
                with self._fusion_lock:
                    emitted = self._incidents.add(item.report, item.received_ns)
                self._take_incidents(emitted)
            except Exception:  # one report's failure must not keep the others from fusion
                log.exception("fusion failed on report %s", item.report.report_id)

    def camera_heard(self, sound: CameraSound) -> None:
        """A camera's own audio detection (ONVIF; callable from any thread): fusion may confirm
        an incident with it, now or when the incident is made, never make one. Each camera
        that confirms an incident is audited once (`incident.camera_heard`)."""
        self.metrics.camera_sounds.inc()
        try:
            with self._fusion_lock:
                emitted = self._incidents.corroborate(sound, self.clock())
        except Exception:
            log.exception("camera sound from %s could not be fused", sound.camera_id)
            return
        self._take_incidents(emitted)

    def handle_status(self, topic: str, payload: bytes) -> None:
        """A sensor's retained status or last will: 'online', 'offline', ..."""
        sensor_id = sensor_of(topic)
        if sensor_id not in self.sensors:
            log.warning("status from unknown sensor on %s ignored", topic)
            return
        status = payload.decode("utf-8", errors="replace").strip()[:32] or "offline"
        try:
            changed = self.store.set_sensor_status(sensor_id, status, self.clock())
        except SQLAlchemyError as error:  # a status is replaced by the next heartbeat
            self.database.failed(error, f"recording the status of {sensor_id}")
            return
        if changed:
            self._refresh_online_gauge()
            self._notify(
                "sensor", {"id": sensor_id, "online": status != "offline", "status": status}
            )

    # -- periodic work ---------------------------------------------------------------------
    def tick(self) -> None:
        """Close association windows, mark silent sensors offline, purge when due."""
        now = self.clock()
        with self._fusion_lock:
            emitted = self._incidents.poll(now)
        self._take_incidents(emitted)
        for sensor_id in self.store.mark_silent_sensors_offline(now, self.heartbeat_timeout_s):
            log.warning("sensor %s silent for %.0f s: offline", sensor_id, self.heartbeat_timeout_s)
            self._notify("sensor", {"id": sensor_id, "online": False, "status": "silent"})
            self._refresh_online_gauge()
        if self.retention is not None and now >= self._next_purge_ns:
            result = purge(self.store, self.retention, now)
            log.info("retention purge: %s", result)
            self._next_purge_ns = now + int(self.retention.purge_interval_s * NS_PER_S)

    def _tick_forever(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
                self.database.ok()
            except SQLAlchemyError as error:
                self.database.failed(error, "ticking (offline sensors, retention)")
            except Exception:
                log.exception("central tick failed; continuing")

    # -- incidents and cues ----------------------------------------------------------------
    def add_incidents(self, incidents: list[Incident]) -> None:
        """Incidents from beside fusion (a camera's own video analysis, `ouie.video`): stored,
        published and shown like fusion's."""
        self._take_incidents(incidents)

    def profiles(self) -> list[ClassProfile]:
        """The supervisors' class profiles as stored now (one that no longer validates is
        logged and left out, never applied half-way)."""
        profiles = []
        for row in self.store.list_profiles():
            try:
                profiles.append(ClassProfile.model_validate(row.spec))
            except ValueError:
                log.exception("class profile %r is not valid; not applied", row.name)
        return profiles

    def _take_incidents(self, incidents: list[Incident]) -> None:
        profiles = self.profiles() if incidents else []
        for incident in incidents:
            try:
                incident = apply_profiles(incident, profiles)
                record = IncidentRecord.from_incident(incident)
            except Exception:
                log.exception("fusion produced an incident the store cannot take: %r", incident)
                continue
            outcome = self.store.save_incident(record, self.clock())
            if outcome == "stale":
                continue
            (
                self.metrics.incidents if outcome == "created" else self.metrics.incident_updates
            ).inc()
            self._audit_cameras(record)
            self.bus.publish(INCIDENTS_TOPIC, incident.to_json().encode(), qos=INCIDENTS_QOS)
            self._notify("incident", record.model_dump(mode="json", by_alias=True))
            if self._wants_cue(record):
                self._cued[record.id] = record
                self._cued.move_to_end(record.id)
                while len(self._cued) > MAX_REMEMBERED_INCIDENTS:
                    self._cued.popitem(last=False)
                self._cue_worker.submit(self._cue, record)

    def _audit_cameras(self, record: IncidentRecord) -> None:
        """Audit and count each camera newly in the incident's `cameras_heard`."""
        if not record.cameras_heard:
            return
        known = self._camera_confirmed.setdefault(record.id, set())
        self._camera_confirmed.move_to_end(record.id)
        while len(self._camera_confirmed) > MAX_REMEMBERED_INCIDENTS:
            self._camera_confirmed.popitem(last=False)
        for camera_id in sorted(set(record.cameras_heard) - known):
            known.add(camera_id)
            self.metrics.camera_confirmations.inc()
            self.store.audit(
                AuditEvent(
                    action="incident.camera_heard",
                    actor=f"camera:{camera_id}",
                    subject=f"incident:{record.id}",
                    details={"score": record.score, "revision": record.revision},
                )
            )

    def _wants_cue(self, record: IncidentRecord) -> bool:
        """Cue an incident raising an alert (`ouie.core.incident.raises_alert`), heard (a
        camera's own video event is already on its camera: never cued), with a position, a cuer
        configured: once, and again when a revision moved it out of what the last cue framed
        (`moved_out_of_cue`: an early fix from three sensors, refined by the others)."""
        if (
            self.cuer is None
            or not record.raises_alert
            or record.video is not None
            or record.lat is None
            or record.lon is None
        ):
            return False
        cued = self._cued.get(record.id)
        return cued is None or moved_out_of_cue(cued, record)

    def _cue(self, record: IncidentRecord) -> None:
        assert self.cuer is not None
        try:
            outcomes = self.cuer.cue(record)
        except Exception:
            log.exception("cueing failed for incident %s", record.id)
            return
        heard_until_ns = self._heard_until_ns(record)
        for outcome in outcomes:
            latency_s = None
            if outcome.commanded_at_ns is not None and heard_until_ns is not None:
                latency_s = (outcome.commanded_at_ns - heard_until_ns) / NS_PER_S
                self.metrics.cue_latency.observe(latency_s)
            cue = self.store.add_cue(
                record.id,
                outcome.camera_id,
                mode=str(outcome.details.get("mode", "")),
                state=outcome.state,
                pan_deg=outcome.pan_deg,
                tilt_deg=outcome.tilt_deg,
                zoom=outcome.zoom,
                details=outcome.details,
                at_ns=self.clock(),
            )
            if outcome.commanded_at_ns is not None:
                self.store.update_cue(cue.id, outcome.state, outcome.commanded_at_ns, latency_s)

    def _heard_until_ns(self, record: IncidentRecord) -> int | None:
        """Latest onset + duration_s among the incident's reports: the end of what its sensors
        had heard when they reported (a sensor reports when it confirms an event), UTC ns."""
        reports = self.store.get_reports(record.report_ids)
        if not reports:
            return None
        return max(r.onset_ns + round(r.duration_s * NS_PER_S) for r in reports)

    # -- helpers ---------------------------------------------------------------------------
    def _notify(self, kind: str, payload: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(kind, payload)
            except Exception:
                log.exception("listener failed on %s", kind)

    def _refresh_online_gauge(self) -> None:
        self.metrics.sensors_online.set(sum(s.online for s in self.store.list_sensors()))


def moved_out_of_cue(cued: IncidentRecord, revised: IncidentRecord) -> bool:
    """Whether `revised` lies farther from the position a camera was cued to than that cue's
    95 % radius (the view framed that circle; `CueingConfig.frame_margin`), m for m."""
    if cued.lat is None or cued.lon is None or revised.lat is None or revised.lon is None:
        return False
    moved_m = great_circle_distance_m(cued.lat, cued.lon, revised.lat, revised.lon)
    return moved_m > (cued.uncertainty_m or 0.0)


def audit_config(store: Store, name: str, config_sha256: str, actor: str = "system") -> str:
    """Record the configuration the service starts with: `config.load` the first time and
    while unchanged, `config.change` when its SHA-256 differs from the last one recorded.
    Returns the action written."""
    last = store.audit.last(("config.load", "config.change"), f"city:{name}")
    changed = last is not None and last["details"].get("sha256") != config_sha256
    action = "config.change" if changed else "config.load"
    details = {"sha256": config_sha256}
    if changed and last is not None:
        details["previous_sha256"] = last["details"].get("sha256")
    store.audit(AuditEvent(action=action, actor=actor, subject=f"city:{name}", details=details))
    return action
