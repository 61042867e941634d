"""Prometheus counters of the notify outputs, registered in the registry the caller gives (the
central's, so they appear on its `/metrics`), or a registry of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NotifyMetrics:
    """Deliveries, failed attempts by reason, messages given up, queue depth, delivery delay
    and events published to ONVIF subscribers and the bus."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ["output", "destination"]
        self.sent = Counter(
            "ouie_notify_sent", "Messages delivered (2xx).", labels, registry=self.registry
        )
        self.failures = Counter(
            "ouie_notify_failures",
            "Failed delivery attempts (each retry counts), by reason.",
            [*labels, "reason"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "ouie_notify_dropped",
            "Messages given up: refused by the receiver (4xx) or undelivered for too long.",
            labels,
            registry=self.registry,
        )
        self.pending = Gauge(
            "ouie_notify_pending",
            "Messages waiting in a destination's durable queue.",
            labels,
            registry=self.registry,
        )
        self.delivery_delay = Histogram(
            "ouie_notify_delivery_seconds",
            "Queued → delivered, s (retries included).",
            ["output"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
            registry=self.registry,
        )
        self.published = Counter(
            "ouie_notify_published",
            "Events handed to ONVIF PullPoint subscribers or published on the bus.",
            ["output"],
            registry=self.registry,
        )
