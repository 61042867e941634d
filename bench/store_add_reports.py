"""Store benchmark: the cost of `Store.add_reports` (the ingest writer's one transaction per
batch) per stored report, by batch size, on the database at `--db`. Prints one JSON object.

    python bench/store_add_reports.py --db sqlite:////tmp/bench-store.db
    python bench/store_add_reports.py --db postgresql+psycopg://postgres@127.0.0.1:5432/bench

Method: `--reports` distinct valid reports from `--sensors` sensors are stored in batches of
each size in `--batches` (a fresh set of ids per size, so every row is new), timing the calls
with `time.perf_counter`; then the last batch is stored again to time the all-duplicate case.
The database must be empty or at least not hold these ids (they are random UUIDs).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from load_reports import load_report

from ouie.core.recording import SensorSite
from ouie.core.report import EventReport
from ouie.store.repository import Store


def reports(count: int, sensors: int) -> list[EventReport]:
    """`count` valid reports spread over sensors se-0000 … round-robin."""
    return [load_report(f"se-{k % sensors:04d}", k) for k in range(count)]


def time_per_report_us(store: Store, batch: list[EventReport], size: int) -> float:
    """Store `batch` in chunks of `size`; mean µs per report."""
    start = time.perf_counter()
    for first in range(0, len(batch), size):
        store.add_reports([(r, time.time_ns()) for r in batch[first : first + size]])
    return (time.perf_counter() - start) / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of the database.")
    parser.add_argument("--reports", type=int, default=10_000, help="Reports per batch size.")
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 10, 100, 500])
    args = parser.parse_args()
    store = Store.open(args.db)
    store.sync_sensors(
        SensorSite(id=f"se-{k:04d}", lat=45.4 + k * 1e-5, lon=4.38) for k in range(args.sensors)
    )
    results = {}
    last: list[EventReport] = []
    for size in args.batches:
        last = reports(args.reports if size > 1 else args.reports // 10, args.sensors)
        results[str(size)] = round(time_per_report_us(store, last, size), 1)
    duplicates_us = round(time_per_report_us(store, last, args.batches[-1]), 1)
    store.close()
    print(
        json.dumps(
            {
                "benchmark": "store_add_reports",
                "method": "Store.add_reports in batches of each size, new ids; then the last "
                "set again (all duplicates); time.perf_counter, mean per report",
                "database": args.db.split(":")[0],
                "cpu_count": os.cpu_count(),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "us_per_report_by_batch_size": results,
                "us_per_duplicate_report": duplicates_us,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
