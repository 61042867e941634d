"""Batched, acknowledged ingest: reports are committed in batches off the bus thread, each
message is acknowledged only after its commit, duplicates are dropped within a batch and
across restarts, fusion sees the reports in arrival order, a database outage loses nothing,
and a central that dies between receipt and commit gets the reports again from the broker."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from ouie.central.app import create_app
from ouie.central.config import IngestSettings
from ouie.central.ingest import ReceivedReport
from ouie.central.service import CentralService
from ouie.core.report import EventReport, ModelId
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.store.repository import Store
from ouie.transport.broker import CENTRAL_USER, LocalMosquitto
from ouie.transport.bus import InProcessBus
from ouie.transport.mqtt import MqttBus
from ouie.transport.topics import reports_topic
from tests import builders
from tests.builders import SITES, make_report
from tests.services import PostgresServer

wait_until = partial(builders.wait_until, timeout_s=30.0)


class RecordingFusion:
    """Records the reports fusion is given, in order (makes no incidents)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def add(self, report: EventReport, now_ns: int) -> list[Any]:
        self.seen.append(report.report_id)
        return []

    def poll(self, now_ns: int) -> list[Any]:
        return []


def value(metric: Any) -> float:
    return float(metric._value.get())


def batch_sizes(service: CentralService) -> tuple[float, float, dict[float, float]]:
    """(number of batches, reports in them, cumulative count per bucket upper bound)."""
    [histogram] = service.metrics.ingest_batch_size.collect()
    count = next(s.value for s in histogram.samples if s.name.endswith("_count"))
    total = next(s.value for s in histogram.samples if s.name.endswith("_sum"))
    buckets = {
        float(s.labels["le"]): s.value for s in histogram.samples if s.name.endswith("_bucket")
    }
    return count, total, buckets


def test_batches_deduplicate_and_keep_arrival_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ingest.db'}"
    store, bus, fusion = Store.open(url), InProcessBus(), RecordingFusion()
    earlier = make_report("s4", seq=999, onset_ns=now_ns() - NS_PER_S)
    store.add_report(earlier, received_at_ns=now_ns())  # stored by a previous run
    settings = IngestSettings(batch_max_reports=40, batch_max_wait_ms=1000)
    service = CentralService(store, bus, fusion, SITES, ingest=settings, tick_s=3600)
    service.start()
    reports = [
        make_report(f"s{1 + k % 4}", seq=k, onset_ns=now_ns() - NS_PER_S) for k in range(150)
    ]
    resent = [reports[3], reports[3], reports[99], earlier]  # in this batch, an earlier one, the DB
    for report in reports[:100] + resent + reports[100:]:
        bus.publish(reports_topic(report.sensor_id), report.to_json().encode())
    assert bus.drain(20)  # in-process drain = delivered and acknowledged = committed
    assert store.report_ids() == {r.report_id for r in reports} | {earlier.report_id}
    assert fusion.seen == [r.report_id for r in reports]  # arrival order, each once
    assert value(service.metrics.reports_accepted) == 150
    assert value(service.metrics.reports_rejected.labels(reason="duplicate")) == 4
    batches, batched, buckets = batch_sizes(service)
    assert batched == 154 and batches >= 154 / 40  # no batch above batch_max_reports
    assert buckets[50.0] == batches and buckets[20.0] < batches  # and they were filled
    assert value(service.metrics.ingest_backlog) == 0
    service.stop()
    bus.close()
    store.close()


@pytest.mark.parametrize("outage_s", [0.0, 11.0], ids=["short", "past-keepalive"])
def test_a_database_outage_loses_nothing_and_says_so(
    outage_s: float,
    mosquitto: LocalMosquitto,
    own_postgres_server: PostgresServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL stops while sensors keep sending: the service logs the outage once, shows it
    in its metrics, holds the reports (memory up to its queue bound, the broker the rest) and
    stores every one exactly once when the database is back. In the long outage the MQTT
    thread, held by backpressure, misses its keep-alive and the broker drops the central: what
    it had not acknowledged comes again after the reconnection."""
    caplog.set_level(logging.INFO, logger="ouie.central")
    url = own_postgres_server.create_database("ouie_outage")
    store = Store.open(url)
    central = mosquitto.settings(CENTRAL_USER).model_copy(update={"keepalive_s": 5})
    bus = MqttBus(central, client_id="ouie-central", start=False)
    settings = IngestSettings(
        batch_max_reports=20,
        batch_max_wait_ms=20,
        queue_max_reports=40,
        retry_initial_s=0.05,
        retry_max_s=0.3,
    )
    service = CentralService(store, bus, RecordingFusion(), SITES, ingest=settings, tick_s=0.2)
    service.start()
    bus.start()
    assert bus.wait_subscribed(10), bus.last_error
    sensors = {sid: builders.mqtt(mosquitto, sid) for sid in ("s1", "s2")}
    acked = threading.Semaphore(0)
    sent: list[str] = []

    def send(count: int) -> None:
        for _k in range(count):
            sid = "s1" if len(sent) % 2 else "s2"
            report = make_report(sid, seq=len(sent), onset_ns=now_ns() - NS_PER_S)
            sensors[sid].publish(
                reports_topic(sid), report.to_json().encode(), on_acked=acked.release
            )
            sent.append(report.report_id)
        assert all(acked.acquire(timeout=10) for _ in range(count))  # the broker has them

    send(60)
    assert wait_until(lambda: store.count_reports() == 60)
    own_postgres_server.pause()
    send(200)
    time.sleep(outage_s)
    assert wait_until(lambda: value(service.metrics.database_up) == 0)
    assert wait_until(lambda: value(service.metrics.database_errors) >= 3)  # it keeps retrying
    assert 0 < value(service.metrics.ingest_backlog) <= 40 + 20 + 1  # queue, batch, bus thread
    assert value(service.metrics.reports_received) < 260  # so the broker keeps the rest
    outage_logs = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(outage_logs) == 1 and outage_logs[0].levelno == logging.ERROR  # said once
    assert value(service.metrics.reports_accepted) == 60
    health = TestClient(create_app(service)).get("/healthz")
    assert health.status_code == 503 and health.json()["database_writes"] is False
    assert health.json()["ingest_backlog"] > 0
    own_postgres_server.resume()
    assert wait_until(lambda: store.count_reports() == 260)
    assert store.report_ids() == set(sent)  # every one, once (report_id is the primary key)
    assert service.flush(10)
    assert value(service.metrics.reports_accepted) == 260
    assert value(service.metrics.database_up) == 1
    assert any("database available again" in r.getMessage() for r in caplog.records)
    duplicates = value(service.metrics.reports_rejected.labels(reason="duplicate"))
    assert value(service.metrics.reports_received) == 260 + duplicates
    dropped = any("MQTT connection lost" in r.getMessage() for r in caplog.records)
    assert dropped == (outage_s > 0)
    if dropped:  # what was held in memory was committed, and came again: counted as duplicate
        assert duplicates > 0
    service.stop()
    for sensor in sensors.values():
        sensor.close()
    bus.close()
    store.close()


class UnwritableStore(Store):
    """A store whose database refuses every report (the disk is gone)."""

    def add_reports(self, received: Any) -> set[str]:
        raise OperationalError("INSERT INTO reports", {}, Exception("disk I/O error"))


def test_reports_received_but_not_committed_come_back_after_a_crash(
    mosquitto: LocalMosquitto, tmp_path: Path
) -> None:
    """The PUBACK waits for the commit: a central that dies with reports received but not
    stored leaves them in its broker session, and the next central stores them."""
    url = f"sqlite:///{tmp_path / 'central.db'}"
    settings = IngestSettings(batch_max_wait_ms=10, retry_initial_s=0.05, retry_max_s=0.2)

    def central(store: Store) -> tuple[MqttBus, CentralService]:
        bus = MqttBus(mosquitto.settings(CENTRAL_USER), client_id="ouie-central", start=False)
        service = CentralService(store, bus, RecordingFusion(), SITES, ingest=settings)
        service.start()
        bus.start()
        assert bus.wait_subscribed(10), bus.last_error
        return bus, service

    doomed_store = UnwritableStore(Store.open(url).engine)
    doomed_bus, doomed = central(doomed_store)
    sensor = builders.mqtt(mosquitto, "s1")
    sent = [make_report("s1", seq=k, onset_ns=now_ns() - NS_PER_S) for k in range(30)]
    for report in sent:
        sensor.publish(reports_topic("s1"), report.to_json().encode())
    assert wait_until(lambda: value(doomed.metrics.reports_received) == 30)
    assert wait_until(lambda: value(doomed.metrics.database_up) == 0)
    doomed_bus._client.socket().close()  # the process dies: no clean stop, no PUBACK
    doomed_bus._client.loop_stop()
    doomed._writer.stop(timeout_s=0.5)
    store = Store.open(url)
    assert store.count_reports() == 0
    bus, service = central(store)
    assert wait_until(lambda: store.count_reports() == 30)
    assert store.report_ids() == {r.report_id for r in sent}
    service.stop()
    sensor.close()
    bus.close()
    store.close()


def test_a_report_the_database_refuses_is_rejected_alone(postgres_url: str) -> None:
    """PostgreSQL refuses NUL characters in text (the contract refuses them too: this report is
    put straight into the writer): only that report is rejected (unstorable, logged with the
    reason); the rest of its batch is stored and every message is acknowledged."""
    store, bus = Store.open(postgres_url), InProcessBus()
    settings = IngestSettings(batch_max_reports=50, batch_max_wait_ms=500)
    service = CentralService(store, bus, RecordingFusion(), SITES, ingest=settings, tick_s=3600)
    service.start()
    onset = now_ns() - NS_PER_S
    good = [make_report("s1", seq=k, onset_ns=onset) for k in range(10)]
    nul_name = ModelId.model_construct(name="yamnet\x00", sha256="0" * 64)
    bad = make_report("s2", onset_ns=onset).model_copy(update={"model": nul_name})
    acknowledged = threading.Semaphore(0)
    for report in [*good[:5], bad, *good[5:]]:
        assert service._writer.put(ReceivedReport(report, now_ns(), acknowledged.release))
    assert all(acknowledged.acquire(timeout=20) for _ in range(11))
    assert store.report_ids() == {r.report_id for r in good}
    assert value(service.metrics.reports_rejected.labels(reason="unstorable")) == 1
    assert value(service.metrics.reports_accepted) == 10
    assert value(service.metrics.database_up) == 1  # bad data is not an outage
    service.stop()
    bus.close()
    store.close()


def test_stopping_releases_a_bus_thread_held_by_backpressure(tmp_path: Path) -> None:
    """Database gone and queue full: the bus thread waits in the handler; `stop()` lets it go
    without taking (or acknowledging) the waiting report, so the bus can close."""
    store = UnwritableStore(Store.open(f"sqlite:///{tmp_path / 'c.db'}").engine)
    bus = InProcessBus()
    settings = IngestSettings(batch_max_reports=1, queue_max_reports=2, retry_initial_s=0.05)
    service = CentralService(store, bus, RecordingFusion(), SITES, ingest=settings, tick_s=3600)
    service.start()
    for k in range(6):
        report = make_report("s1", seq=k, onset_ns=now_ns() - NS_PER_S)
        bus.publish(reports_topic("s1"), report.to_json().encode())
    assert wait_until(lambda: value(service.metrics.reports_received) == 4)  # 1 + 2 + 1 waiting
    assert not bus.drain(0.5)  # nothing acknowledged: nothing committed
    service.stop()
    assert wait_until(lambda: value(service.metrics.ingest_backlog) == 0, timeout_s=5)
    bus.close()
    assert not bus.connected  # the dispatcher thread ended
    assert value(service.metrics.reports_accepted) == 0


class FailingFusion(RecordingFusion):
    """Fusion with a bug on one report."""

    def add(self, report: EventReport, now_ns: int) -> list[Any]:
        if report.seq == 3:
            raise RuntimeError("fusion bug")
        return super().add(report, now_ns)


def test_a_fusion_failure_neither_loses_nor_holds_reports(tmp_path: Path) -> None:
    store, bus, fusion = (
        Store.open(f"sqlite:///{tmp_path / 'f.db'}"),
        InProcessBus(),
        FailingFusion(),
    )
    service = CentralService(store, bus, fusion, SITES, tick_s=3600)
    service.start()
    reports = [make_report("s1", seq=k, onset_ns=now_ns() - NS_PER_S) for k in range(8)]
    for report in reports:
        bus.publish(reports_topic("s1"), report.to_json().encode())
    assert bus.drain(10)  # every message acknowledged
    assert store.report_ids() == {r.report_id for r in reports}
    assert fusion.seen == [r.report_id for r in reports if r.seq != 3]
    assert value(service.metrics.ingest_backlog) == 0
    service.stop()
    bus.close()
    store.close()
