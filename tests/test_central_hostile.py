"""Hostile and broken reports at the central: each is refused with a counted reason, and none
holds, loses or doubles the reports of anyone else (docs/central.md, "Hostile input")."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from ouie.central.config import IngestSettings
from ouie.central.ingest import ReceivedReport
from ouie.central.service import CentralService
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.store.repository import Store
from ouie.transport.bus import InProcessBus
from ouie.transport.topics import reports_topic
from tests.builders import MODEL, SITES, make_report
from tests.test_central_ingest import RecordingFusion, value


def rejected(service: CentralService, reason: str) -> float:
    return value(service.metrics.reports_rejected.labels(reason=reason))


def sqlite_service(tmp_path: Path, **ingest: Any) -> tuple[Store, InProcessBus, CentralService]:
    store, bus = Store.open(f"sqlite:///{tmp_path / 'central.db'}"), InProcessBus()
    settings = IngestSettings(**{"batch_max_reports": 50, "batch_max_wait_ms": 300, **ingest})
    service = CentralService(store, bus, RecordingFusion(), SITES, ingest=settings, tick_s=3600)
    service.start()
    return store, bus, service


def close(store: Store, bus: InProcessBus, service: CentralService) -> None:
    service.stop()
    bus.close()
    store.close()


def test_values_beyond_what_storage_takes_are_refused_by_the_contract(tmp_path: Path) -> None:
    """seq 2**70, a 129-character model name, a NUL in an id: refused as `schema` on SQLite
    (the default store) before they reach a batch; the reports around them are all stored."""
    store, bus, service = sqlite_service(tmp_path)
    onset = now_ns() - NS_PER_S
    good = [make_report("s1", seq=k, onset_ns=onset) for k in range(20)]
    base = good[0].model_dump(mode="json", by_alias=True)
    hostile = [
        {**base, "report_id": "a", "seq": 2**70},
        {**base, "report_id": "b", "onset": 2**64},
        {**base, "report_id": "c", "model": {"name": "m" * 129, "sha256": MODEL.sha256}},
        {**base, "report_id": "d\x00"},
    ]
    for k, report in enumerate(good):
        bus.publish(reports_topic("s1"), report.to_json().encode())
        if k < len(hostile):
            bus.publish(reports_topic("s1"), json.dumps(hostile[k]).encode())
    assert bus.drain(20)  # every message acknowledged: none is held
    assert store.report_ids() == {r.report_id for r in good}
    assert rejected(service, "schema") == len(hostile)
    assert value(service.metrics.reports_accepted) == len(good)
    assert value(service.metrics.ingest_backlog) == 0
    close(store, bus, service)


def test_any_failure_of_one_report_is_rejected_alone_on_sqlite(tmp_path: Path) -> None:
    """A report that slips past the contract and makes SQLite's driver raise OverflowError (not
    a DataError) is rejected alone as `unstorable`; the others of its batch are stored, every
    message is acknowledged, and the database is not reported down."""
    store, bus, service = sqlite_service(tmp_path, batch_max_wait_ms=500)
    onset = now_ns() - NS_PER_S
    good = [make_report(f"s{1 + k % 4}", seq=k, onset_ns=onset) for k in range(30)]
    poison = make_report("s2", seq=1, onset_ns=onset).model_copy(update={"seq": 2**70})
    acknowledged = threading.Semaphore(0)
    for report in [*good[:15], poison, *good[15:]]:
        item = ReceivedReport(report, now_ns(), acknowledged.release)
        assert service._writer.put(item)
    assert all(acknowledged.acquire(timeout=20) for _ in range(len(good) + 1))
    assert store.report_ids() == {r.report_id for r in good}
    assert rejected(service, "unstorable") == 1
    assert value(service.metrics.reports_accepted) == len(good)
    assert value(service.metrics.database_up) == 1
    assert value(service.metrics.ingest_backlog) == 0
    close(store, bus, service)


def test_a_poisoned_batch_does_not_come_back_after_a_restart(tmp_path: Path) -> None:
    """After the poison is rejected, a second service on the same database stores new reports
    at once (the poison was acknowledged, so the broker does not redeliver it)."""
    store, bus, service = sqlite_service(tmp_path)
    poison = make_report("s1", seq=0, onset_ns=now_ns()).model_copy(update={"seq": 2**70})
    done = threading.Event()
    assert service._writer.put(ReceivedReport(poison, now_ns(), done.set))
    assert done.wait(20)
    close(store, bus, service)
    store, bus, service = sqlite_service(tmp_path)
    report = make_report("s3", seq=5, onset_ns=now_ns() - NS_PER_S)
    bus.publish(reports_topic("s3"), report.to_json().encode())
    assert bus.drain(20)
    assert store.report_ids() == {report.report_id}
    close(store, bus, service)


def _envelope(rate_hz: float, bands: int, frames: int) -> dict[str, Any]:
    edges = [125.0 * 2**k for k in range(bands + 1)]
    return {"rate_hz": rate_hz, "band_edges_hz": edges, "bands_db": [[-30.0] * frames] * bands}


def test_envelopes_that_could_carry_speech_are_refused_and_counted(tmp_path: Path) -> None:
    """ouie.report/2: one broadband band, ≤ 100 frames/s, ≤ 2 s, within an alerting event.
    The old wide envelope (/1: 8 bands at 1 kHz), any /1 envelope, and /2 envelopes beyond
    those bounds are refused as `envelope`; /1 reports without an envelope (what deployed
    sensors send) and a /2 envelope within bounds are stored."""
    store, bus, service = sqlite_service(tmp_path)
    onset = now_ns() - NS_PER_S
    base = make_report("s1", seq=0, onset_ns=onset, duration_s=1.5).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    refused = [
        {**base, "schema": "ouie.report/1", "envelope": _envelope(1000.0, 8, 100)},
        {**base, "schema": "ouie.report/1", "envelope": _envelope(50.0, 1, 50)},
        {**base, "envelope": _envelope(1000.0, 8, 100)},
        {**base, "envelope": _envelope(100.0, 3, 100)},  # three bands: intelligible speech
        {**base, "envelope": _envelope(200.0, 1, 100)},  # too fast
        {**base, "envelope": _envelope(100.0, 1, 201)},  # over 2 s
        {**base, "duration_s": 0.3, "envelope": _envelope(100.0, 1, 100)},  # beyond the event
        {**base, "class": "fireworks", "envelope": _envelope(100.0, 1, 100)},  # not alerting
    ]
    stored = [
        {**base, "schema": "ouie.report/1"},  # a deployed /1 sensor keeps working
        {**base, "envelope": _envelope(100.0, 1, 150)},
        {**base},
    ]
    for k, report in enumerate([*refused, *stored]):
        report = {**report, "report_id": f"r{k}", "seq": k}
        bus.publish(reports_topic("s1"), json.dumps(report).encode())
    assert bus.drain(20)
    assert rejected(service, "envelope") == len(refused)
    assert store.report_ids() == {f"r{k}" for k in range(len(refused), len(refused) + 3)}
    assert value(service.metrics.reports_accepted) == len(stored)
    close(store, bus, service)


def test_oversized_deep_and_nan_payloads_are_refused_and_logged_short(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """10 MB, 8,000-deep nesting, NaN in the envelope or a score, a 10 kB model name: each
    refused with its reason, each logged in under 1 kB; the good reports around them stored."""
    caplog.set_level(logging.WARNING, logger="ouie.central")
    store, bus, service = sqlite_service(tmp_path)
    onset = now_ns() - NS_PER_S
    good = [make_report("s1", seq=k, onset_ns=onset, duration_s=1.0) for k in range(5)]
    base = good[0].model_dump(mode="json", by_alias=True, exclude_none=True)
    nan_envelope = {"rate_hz": 100.0, "band_edges_hz": [50.0, 8000.0], "bands_db": [[-3.0] * 99]}
    hostile = {
        "oversize": [b'{"x": "' + b"a" * 10_000_000 + b'"}'],
        "malformed": [b"[" * 8_000 + b"]" * 8_000],
        "envelope": [json.dumps({**base, "envelope": nan_envelope}).replace("-3.0]", "NaN]")],
        "schema": [
            json.dumps(base).replace('"score": 0.9', '"score": NaN'),
            json.dumps({**base, "model": {"name": "m" * 10_000, "sha256": "0" * 64}}),
        ],
    }
    for k, report in enumerate(good):
        bus.publish(reports_topic("s1"), report.to_json().encode())
        for payloads in hostile.values():
            if k < len(payloads):
                payload = payloads[k]
                bus.publish(
                    reports_topic("s1"), payload if isinstance(payload, bytes) else payload.encode()
                )
    assert bus.drain(30)
    assert store.report_ids() == {r.report_id for r in good}
    for reason, payloads in hostile.items():
        assert rejected(service, reason) == len(payloads), reason
    lines = [r.getMessage() for r in caplog.records if "rejected message" in r.getMessage()]
    assert len(lines) == sum(len(p) for p in hostile.values())
    assert max(len(line) for line in lines) < 1000
    close(store, bus, service)


def test_speech_labels_and_replayed_ids_are_refused_after_a_restart(tmp_path: Path) -> None:
    """A report labelled speech, or carrying a speech score, is `schema`; a report id replayed
    to a restarted central (its first copy stored and acknowledged) is `duplicate`."""
    store, bus, service = sqlite_service(tmp_path)
    onset = now_ns() - NS_PER_S
    first = make_report("s1", seq=0, onset_ns=onset)
    bus.publish(reports_topic("s1"), first.to_json().encode())
    assert bus.drain(20)
    close(store, bus, service)
    store, bus, service = sqlite_service(tmp_path)
    base = make_report("s1", seq=1, onset_ns=onset).model_dump(mode="json", by_alias=True)
    for payload in (
        {**base, "report_id": "speech-1", "class": "speech"},
        {**base, "report_id": "speech-2", "speech_score": 0.97},
        json.loads(first.to_json()),  # the replay
    ):
        bus.publish(reports_topic("s1"), json.dumps(payload).encode())
    assert bus.drain(20)
    assert rejected(service, "schema") == 2
    assert rejected(service, "duplicate") == 1
    assert store.report_ids() == {first.report_id}
    close(store, bus, service)


def test_a_sensor_cannot_pre_empt_another_sensors_report_id(tmp_path: Path) -> None:
    """s1 sends a report under the id s2 is about to use: both are stored and fused (reports
    are keyed by sensor and id), and only s2's own redelivery counts as a duplicate."""
    store, bus, service = sqlite_service(tmp_path)
    onset = now_ns() - NS_PER_S
    honest = make_report("s2", seq=0, onset_ns=onset)
    hostile = make_report("s1", seq=0, onset_ns=onset).model_copy(
        update={"report_id": honest.report_id}
    )
    for report in (hostile, honest, honest):
        bus.publish(reports_topic(report.sensor_id), report.to_json().encode())
    assert bus.drain(20)
    assert value(service.metrics.reports_accepted) == 2
    assert rejected(service, "duplicate") == 1
    assert store.report_ids("s2") == {honest.report_id}
    assert store.report_ids("s1") == {honest.report_id}
    fusion = service._incidents
    assert isinstance(fusion, RecordingFusion)
    assert fusion.seen == [honest.report_id, honest.report_id]  # s1's, then s2's
    close(store, bus, service)
