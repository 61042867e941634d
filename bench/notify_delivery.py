"""Webhook delivery through a receiver outage (JSON).

Method: a `Notifier` with one CAP and one webhook destination, both on a loopback receiver
that is down (connection refused) for `--down-s` seconds. Meanwhile `--alerts` incidents are
raised one every `--spacing-s` by calling the notifier as the central does (from the calling
thread, timed: what fusion would wait). The receiver then comes up; the bench waits until both
queues are empty and reports, per destination: messages received, duplicates (same
Idempotency-Key twice), whether they arrived in the order raised, failed attempts, and the time
from the receiver coming up to the last delivery; and the caller's time per call.

Usage: `python bench/notify_delivery.py [--down-s 30] [--alerts 10] [--spacing-s 2]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ouie.notify.alert import synthetic_gunshot
from ouie.notify.config import NotifyConfig
from ouie.notify.notifier import Notifier
from tests.notify_receiver import Receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--down-s", type=float, default=30.0)
    parser.add_argument("--alerts", type=int, default=10)
    parser.add_argument("--spacing-s", type=float, default=2.0)
    args = parser.parse_args()

    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="ouie-notify-bench-") as tmp:
        config = NotifyConfig.model_validate(
            {
                "outbox_dir": tmp,
                "cap": {"enabled": True, "destinations": [{"name": "cap", "url": receiver.url}]},
                "webhook": {
                    "enabled": True,
                    "destinations": [{"name": "hook", "url": receiver.url + "/json"}],
                },
            }
        )
        notifier = Notifier(config, city="bench", audit=lambda event: None)
        started = time.monotonic()
        caller_s = []
        for n in range(args.alerts):
            record = synthetic_gunshot().incident.model_copy(update={"id": f"inc{n:04d}"})
            t0 = time.perf_counter()
            notifier.incident_changed("incident", record.model_dump(mode="json", by_alias=True))
            caller_s.append(time.perf_counter() - t0)
            time.sleep(max(0.0, started + (n + 1) * args.spacing_s - time.monotonic()))
        time.sleep(max(0.0, started + args.down_s - time.monotonic()))
        receiver.start()
        up_at = time.monotonic()
        delivered = notifier.flush(timeout_s=120)
        last_delivery_s = time.monotonic() - up_at
        failures = {
            name: notifier.metrics.registry.get_sample_value(
                "ouie_notify_failures_total",
                {"output": output, "destination": name, "reason": "connect"},
            )
            for output, name in (("cap", "cap"), ("webhook", "hook"))
        }
        notifier.close()
        receiver.stop()

    per_destination = {}
    for name, path in (("cap", "/hook"), ("hook", "/hook/json")):
        keys = [r.headers["Idempotency-Key"] for r in receiver.received if r.path == path]
        expected = [f"ouie-inc{n:04d}-1-raised" for n in range(args.alerts)]
        per_destination[name] = {
            "received": len(keys),
            "duplicates": len(keys) - len(set(keys)),
            "in_order": keys == expected,
            "failed_attempts": failures[name],
        }
    print(
        json.dumps(
            {
                "benchmark": "notify_delivery",
                "method": __doc__.split("\n\n")[1].replace("\n", " "),
                "cpu_count": os.cpu_count(),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "down_s": args.down_s,
                "alerts": args.alerts,
                "all_delivered": delivered,
                "receiver_up_to_last_delivery_s": round(last_delivery_s, 2),
                "destinations": per_destination,
                "caller_s": {
                    "p50": float(np.percentile(caller_s, 50)),
                    "p99": float(np.percentile(caller_s, 99)),
                    "max": max(caller_s),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
