"""Prometheus metrics of the central service, in a registry of its own (one per service, so
tests and the all-in-one demo can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ouie.central.validation import RejectReason


class CentralMetrics:
    """Reports in, rejected by reason, incidents, cue latency, sensors online, and the ingest
    pipeline: backlog, batch sizes, receipt → commit latency, database up/errors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reports_received = Counter(
            "ouie_reports_received", "Report messages received.", registry=self.registry
        )
        self.reports_accepted = Counter(
            "ouie_reports_accepted", "Reports validated and stored.", registry=self.registry
        )
        self.reports_rejected = Counter(
            "ouie_reports_rejected",
            "Report messages refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
        for reason in RejectReason:
            self.reports_rejected.labels(reason=str(reason))
        self.incidents = Counter(
            "ouie_incidents", "Incidents stored (new ones).", registry=self.registry
        )
        self.incident_updates = Counter(
            "ouie_incident_updates", "Incident revisions stored.", registry=self.registry
        )
        self.camera_sounds = Counter(
            "ouie_camera_sounds",
            "Cameras' own audio detections received (ONVIF events).",
            registry=self.registry,
        )
        self.camera_confirmations = Counter(
            "ouie_camera_confirmations",
            "Incidents confirmed by a camera's own audio detection (one per camera and incident).",
            registry=self.registry,
        )
        self.cue_latency = Histogram(
            "ouie_cue_latency_seconds",
            "End of sound → camera command, s.",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0),
            registry=self.registry,
        )
        self.ingest_backlog = Gauge(
            "ouie_ingest_backlog_reports",
            "Reports received and not yet committed and acknowledged (held in memory).",
            registry=self.registry,
        )
        self.ingest_batch_size = Histogram(
            "ouie_ingest_batch_reports",
            "Reports per committed batch.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
            registry=self.registry,
        )
        self.ingest_commit_latency = Histogram(
            "ouie_ingest_commit_latency_seconds",
            "Receipt of a report → commit of its batch, s.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.database_up = Gauge(
            "ouie_database_up",
            "1 while the database answers, 0 while the service cannot write to it.",
            registry=self.registry,
        )
        self.database_up.set(1)
        self.database_errors = Counter(
            "ouie_database_errors",
            "Failed database operations (each retry counts).",
            registry=self.registry,
        )
        self.sensors_online = Gauge(
            "ouie_sensors_online", "Sensors currently online.", registry=self.registry
        )

    def exposition(self) -> bytes:
        """The text format that Prometheus scrapes."""
        return generate_latest(self.registry)
