"""The sensor node's continuous loop: audio source → pipeline → report sink.

The sink is pluggable (anything with `send(report)`): JSON lines here; the central service's
MQTT transport plugs in the same way. No audio ever reaches a sink, only reports.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TextIO

from ouie.audio.sources import AudioSource, FileSource, MicrophoneSource, NetworkStreamSource
from ouie.core.report import EventReport
from ouie.core.timebase import iso_to_ns
from ouie.sensor.config import (
    FileSourceConfig,
    MicrophoneSourceConfig,
    RtspSourceConfig,
    SensorConfig,
)
from ouie.sensor.pipeline import SensorPipeline


class ReportSink(Protocol):
    """Where reports go."""

    def send(self, report: EventReport) -> None: ...


class JsonLinesSink:
    """One `ouie.report/2` JSON object per line, flushed at once (a file or standard output)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    @classmethod
    def open(cls, path: Path | None) -> JsonLinesSink:
        return cls(sys.stdout if path is None else path.open("a", encoding="utf-8"))

    def send(self, report: EventReport) -> None:
        self.stream.write(report.to_json() + "\n")
        self.stream.flush()


@contextmanager
def open_sink(config: SensorConfig) -> Iterator[ReportSink]:
    """The configured destination: the MQTT uplink with its on-disk queue when `uplink` is set
    (on exit it tries to deliver what is queued for `drain_timeout_s`, then says 'offline';
    undelivered reports stay on disk for the next start), else JSON lines to `output` or
    standard output."""
    if config.uplink is None:
        sink = JsonLinesSink.open(config.output)
        try:
            yield sink
        finally:
            if config.output is not None:
                sink.stream.close()
        return
    from ouie.transport.mqtt import MqttBus
    from ouie.transport.outbox import Outbox, SensorUplink
    from ouie.transport.topics import OFFLINE, status_topic

    uplink_config = config.uplink
    broker = uplink_config.broker
    will = (status_topic(config.sensor_id), OFFLINE.encode())
    bus = MqttBus(broker.settings(), broker.client_id, will=will)
    outbox = Outbox(uplink_config.outbox_path)
    uplink = SensorUplink(
        config.sensor_id,
        bus,
        outbox,
        heartbeat_s=uplink_config.heartbeat_s,
        receipt_timeout_s=uplink_config.receipt_timeout_s,
    )
    try:
        yield uplink
    finally:
        uplink.close(timeout_s=uplink_config.drain_timeout_s)
        bus.close()
        outbox.close()


def build_source(config: SensorConfig) -> AudioSource:
    """The configured audio source."""
    source = config.source
    if isinstance(source, FileSourceConfig):
        start_ns = iso_to_ns(source.start_utc) if source.start_utc else None
        return FileSource(source.path, start_ns, config.block_s, source.realtime)
    if isinstance(source, MicrophoneSourceConfig):
        return MicrophoneSource(source.device, source.sample_rate_hz, config.block_s)
    if isinstance(source, RtspSourceConfig):
        return NetworkStreamSource(source.url, config.block_s)
    raise TypeError(f"unknown source {source!r}")


def run_sensor(
    config: SensorConfig,
    sink: ReportSink,
    source: AudioSource | None = None,
    pipeline: SensorPipeline | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Run until the source ends or `should_stop()`; returns the number of reports sent."""
    pipeline = pipeline or SensorPipeline(config.detector)
    stream = pipeline.stream(config.sensor_id)
    sent = 0
    for block in (source or build_source(config)).blocks():
        for report in stream.feed(block.samples, block.start_ns):
            sink.send(report)
            sent += 1
        if should_stop():
            break
    for report in stream.flush():
        sink.send(report)
        sent += 1
    return sent
