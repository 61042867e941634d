"""Durable, batched report storage off the MQTT thread.

    bus thread: validate → `ReportWriter.put` (blocks while the queue is full: backpressure)
    writer thread: batch → `Store.add_reports` (one transaction) → hand the newly stored
                   reports, in arrival order, to fusion → acknowledge each message (MQTT PUBACK)

A batch closes when it holds `batch_max_reports` or when its first report has waited
`batch_max_wait_ms`, whichever comes first. A message is acknowledged only after the commit
that stored it (or found it already stored), so a report received but not committed when the
service dies or stops is still unacknowledged in the broker's persistent session, which
redelivers it; de-duplication on `(sensor_id, report_id)` (within a batch and against the
database) makes the redelivery harmless.

While the database is unavailable the writer keeps the batch and retries it, waiting
`retry_initial_s`, then twice as long each time up to `retry_max_s`; `DatabaseHealth` says so
once in the log and in the metrics (`ouie_database_up` 0), and again when it is back. A batch
whose commit fails for any reason is committed again one report at a time. A report that then
fails alone is blamed for it, and only it is rejected (`unstorable`, logged) while the rest are
stored, unless its error blames the database (`database_down`): then what
is neither stored nor rejected is kept and retried. So a report the driver cannot even bind
(SQLite raises a bare `OverflowError` for an integer beyond 64 bits) or that trips a bug in the
row mapping never holds the others, nor comes back after a restart to hold them again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from ouie.central.config import IngestSettings
from ouie.central.metrics import CentralMetrics
from ouie.central.validation import RejectReason
from ouie.core.report import EventReport, ReportKey
from ouie.core.timebase import NS_PER_S, now_ns
from ouie.store.repository import Store
from ouie.transport.bus import Acknowledge

log = logging.getLogger(__name__)


def database_down(error: BaseException) -> bool:
    """Whether `error` blames the database rather than the rows: a SQLAlchemy error other than
    `DataError` / `IntegrityError` (connection lost, disk I/O, locked, read-only...). Anything
    else (those two, or a non-SQLAlchemy error such as a driver's `OverflowError`) blames the
    report being written."""
    return isinstance(error, SQLAlchemyError) and not isinstance(error, (DataError, IntegrityError))


@dataclass(frozen=True)
class ReceivedReport:
    """A validated report waiting for its commit, with what acknowledges its message."""

    report: EventReport
    received_ns: int
    acknowledge: Acknowledge


StoredCallback = Callable[[list[ReceivedReport]], None]
"""Called on the writer thread with the reports a commit newly stored, in arrival order."""


class DatabaseHealth:
    """Whether the database takes writes: each change is logged once (not every retry) and
    mirrored in `ouie_database_up`; every failure counts in `ouie_database_errors`."""

    def __init__(self, metrics: CentralMetrics) -> None:
        self.metrics = metrics
        self.down_since_ns: int | None = None
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        """False from the first failure until the next success."""
        return self.down_since_ns is None

    def failed(self, error: BaseException, doing: str) -> None:
        """Record a failed database operation (`doing` names it for the log)."""
        self.metrics.database_errors.inc()
        with self._lock:
            first = self.down_since_ns is None
            if first:
                self.down_since_ns = now_ns()
        if first:
            self.metrics.database_up.set(0)
            log.error(
                "database unavailable while %s: %s. Reports are kept unacknowledged (the broker "
                "holds what does not fit in memory) and retried until it is back",
                doing,
                _first_line(error),
            )

    def ok(self) -> None:
        """Record a successful operation; logs the recovery after an outage."""
        with self._lock:
            since, self.down_since_ns = self.down_since_ns, None
        if since is not None:
            self.metrics.database_up.set(1)
            log.warning("database available again after %.1f s", (now_ns() - since) / NS_PER_S)


def _first_line(error: BaseException) -> str:
    """The first line of an error's text (SQLAlchemy appends SQL and a link)."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class _Stopping(Exception):
    """The writer was stopped while the database was unavailable."""


class ReportWriter:
    """Commits `ReceivedReport`s in batches on its own thread (see module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: IngestSettings,
        metrics: CentralMetrics,
        health: DatabaseHealth,
        on_stored: StoredCallback,
    ) -> None:
        self.store, self.settings, self.metrics, self.health = store, settings, metrics, health
        self._on_stored = on_stored
        self._queue: queue.Queue[ReceivedReport] = queue.Queue(settings.queue_max_reports)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="central-ingest", daemon=True)
        self._in_hand = 0  # put and not yet acknowledged or given up
        self._abandoned = 0  # the batch in hand when stopped during an outage
        self._gate = threading.Lock()
        self._idle = threading.Condition()

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    @property
    def backlog(self) -> int:
        """Reports received and not yet committed and acknowledged."""
        with self._idle:
            return self._in_hand

    @property
    def accepting(self) -> bool:
        """False once `stop` was called: new messages are left to the broker."""
        return not self._stop.is_set()

    def put(self, received: ReceivedReport) -> bool:
        """Queue a report for the next batch; blocks while the queue is full (backpressure).
        False, with the report not taken (nor acknowledged), once the writer is stopping."""
        with self._idle:
            self._in_hand += 1
        self.metrics.ingest_backlog.inc()
        while True:
            with self._gate:  # `stop` empties the queue behind this gate: nothing slips in after
                if self._stop.is_set():
                    break
                try:
                    self._queue.put(received, timeout=0.1)
                    return True
                except queue.Full:
                    continue
        self._done(1)
        return False

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every report put so far is committed (or rejected); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_hand == 0, timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Commit what is queued, then end the thread. Reports still uncommitted after
        `timeout_s` (database unavailable) are dropped from memory unacknowledged: the broker
        redelivers them to the next service."""
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("ingest writer still busy %.0f s after stop; left running", timeout_s)
            return
        left = self._abandoned
        with self._gate:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
                left += 1
        if left:
            self._done(left)
            log.warning(
                "ingest stopped with %d report(s) not committed; they are not acknowledged, so "
                "the broker redelivers them",
                left,
            )

    # -- writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                if self._stop.is_set():
                    return
                continue
            try:
                self._store(batch)
            except _Stopping:
                self._abandoned = len(batch)
                return
            except Exception:
                # A bug before the commit must not end ingest: the batch's messages stay
                # unacknowledged, so the broker delivers them again after a reconnection.
                log.exception("ingest failed on a batch of %d report(s)", len(batch))
                self._done(len(batch))

    def _next_batch(self) -> list[ReceivedReport]:
        """Up to `batch_max_reports`, collected for at most `batch_max_wait_ms` after the
        first; empty when nothing came within 0.1 s."""
        try:
            batch = [self._queue.get(timeout=0.1)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.settings.batch_max_wait_ms / 1000.0
        while len(batch) < self.settings.batch_max_reports:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0 and not self._stop.is_set():
                break
            try:
                batch.append(self._queue.get(timeout=max(remaining_s, 0.0)))
            except queue.Empty:
                break
        return batch

    def _store(self, batch: list[ReceivedReport]) -> None:
        """Commit `batch` (retrying while the database is unavailable), acknowledge every
        message, count accepted / duplicate / unstorable, and pass the new reports on."""
        written, refused = self._commit_retrying(batch)
        committed_ns = now_ns()
        stored: list[ReceivedReport] = []
        for item in batch:
            key = item.report.key
            if key in written:
                written.discard(key)  # a second copy in the batch is a duplicate
                stored.append(item)
                self.metrics.ingest_commit_latency.observe(
                    (committed_ns - item.received_ns) / NS_PER_S
                )
            elif key not in refused:
                self.metrics.reports_rejected.labels(reason=str(RejectReason.DUPLICATE)).inc()
                log.debug("duplicate report %s from %s: already stored", key[1], key[0])
        self.metrics.reports_accepted.inc(len(stored))
        self.metrics.ingest_batch_size.observe(len(batch))
        try:
            if stored:
                self._on_stored(stored)
        except Exception:  # the reports are stored all the same
            log.exception("fusion failed on %d stored report(s)", len(stored))
        for item in batch:  # committed: the messages can go (after fusion: acknowledged = handled)
            item.acknowledge()
        self._done(len(batch))

    def _commit_retrying(
        self, batch: list[ReceivedReport]
    ) -> tuple[set[ReportKey], set[ReportKey]]:
        """(keys newly written, keys the database refused) for `batch`; waits and retries while
        the database is unavailable (raises `_Stopping` if stopped meanwhile). A retry commits
        only the reports not yet written nor refused, so none is counted twice."""
        delay_s = self.settings.retry_initial_s
        written: set[ReportKey] = set()
        refused: set[ReportKey] = set()
        while True:
            pending = [item for item in batch if item.report.key not in written | refused]
            try:
                try:
                    written |= self._commit(pending)
                except Exception:  # any failure: find the culprit, one report at a time
                    self._commit_one_by_one(pending, written, refused)
            except SQLAlchemyError as error:
                self.health.failed(error, f"storing {len(pending)} report(s)")
                if self._stop.wait(delay_s):
                    raise _Stopping from None
                delay_s = min(2 * delay_s, self.settings.retry_max_s)
                continue
            self.health.ok()
            return written, refused

    def _commit(self, batch: list[ReceivedReport]) -> set[ReportKey]:
        return self.store.add_reports([(item.report, item.received_ns) for item in batch])

    def _commit_one_by_one(
        self, batch: list[ReceivedReport], written: set[ReportKey], refused: set[ReportKey]
    ) -> None:
        """Commit each report alone, adding its key to `written` or, when its commit fails for
        a reason that blames it (see `database_down`), to `refused` (logged and counted as
        `unstorable`). An error that blames the database is raised: the caller retries what
        is neither written nor refused."""
        for item in batch:
            key = item.report.key
            if key in written | refused:
                continue  # a second copy in the batch
            try:
                written |= self._commit([item])
            except Exception as error:
                if database_down(error):
                    raise
                refused.add(key)
                self.metrics.reports_rejected.labels(reason=str(RejectReason.UNSTORABLE)).inc()
                log.warning(
                    "rejected report %s from %s: the database refused it: %s: %s",
                    item.report.report_id,
                    item.report.sensor_id,
                    type(error).__name__,
                    _first_line(error)[:200],
                )

    def _done(self, count: int) -> None:
        self.metrics.ingest_backlog.dec(count)
        with self._idle:
            self._in_hand -= count
            self._idle.notify_all()
