"""The central service's own settings: how it reaches the broker, what a sane report is, how
reports reach the database. The whole city's configuration (`city.yaml`) composes them in
`ouie.app.config.CityConfig`."""

from __future__ import annotations

from pydantic import Field

from ouie.core.config import StrictModel
from ouie.transport.mqtt import BrokerConfig

HEARTBEAT_TIMEOUT_S = 120.0
"""A sensor silent this long is marked offline, s (sensors send a heartbeat every 30 s)."""


class CentralBrokerConfig(BrokerConfig):
    """How the central service reaches Mosquitto (see `BrokerConfig`)."""

    username: str = Field(default="central", description="The central service's MQTT user.")
    client_id: str = Field(
        default="ouie-central",
        description="MQTT client id (session key; `ouie broker-config` brokers use the user name).",
    )


class ValidationSettings(StrictModel):
    """What a sane report is, beyond its schema."""

    max_future_s: float = Field(
        default=5.0, gt=0, description="Reject onsets later than now + this (sensor clock), s."
    )
    max_age_s: float = Field(
        default=3600.0, gt=0, description="Reject onsets older than now − this (stale), s."
    )


class IngestSettings(StrictModel):
    """How received reports reach the database: batched commits off the MQTT thread, and the
    message acknowledged (PUBACK) only once its batch is committed."""

    batch_max_reports: int = Field(
        default=500, ge=1, description="A batch is committed as soon as it holds this many reports."
    )
    batch_max_wait_ms: float = Field(
        default=20.0,
        gt=0,
        description="… or when its first report has waited this long, ms (the added latency).",
    )
    queue_max_reports: int = Field(
        default=10_000,
        ge=1,
        description="Reports waiting for a batch, at most (memory holds at most this, one batch "
        "and the report the MQTT thread is handing over); when full the MQTT thread waits "
        "(backpressure) and the broker keeps the rest.",
    )
    retry_initial_s: float = Field(
        default=0.2, gt=0, description="Database unavailable: first wait before retrying, s."
    )
    retry_max_s: float = Field(
        default=5.0, gt=0, description="Longest wait between retries (doubling from the first), s."
    )
