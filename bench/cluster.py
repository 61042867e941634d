"""The clustered deployment under load, with a NATS node and a fusion worker killed (JSON).

Method: `ouie.cluster.trial.LocalDeployment` on loopback — `--nodes` nats-server processes
(JetStream R3), `--workers` fusion workers and one storage writer as separate processes, the
store at `--db` (default: a fresh SQLite file; pass a PostgreSQL URL for production figures).
`--sensors` sensors on a square grid 200 m apart, hearing range 300 m for every class, cells of
`--cell-size-m`. Sounds at seeded random places and times (gunshot, glass break, scream in turn)
are turned into reports by the report-level simulator (`ouie.fusion.synthetic`: jitter, NLOS,
misses, 5 % repeated deliveries, ~50 ms network latency) at a sound rate chosen so that about
`--rate` reports/s arrive for `--seconds`. A `ReportGateway` publishes each report at its
arrival time and waits for its PubAck. With `--kill-node`, the leader of the reports stream is
killed (-9) a third of the way through; with `--kill-worker`, worker w1 half-way.

Figures, from the stream, the store and one `Associator` run on the whole stream (the
reference):
- offered_per_s: reports published / the span of their arrival times;
- held_per_s: reports acknowledged / the time until the last PubAck;
- longest_publish_wait_s: the longest a report waited for its PubAck (with --kill-node,
  how long the reports stream took to elect a new leader and take writes again);
- lost (published, not stored), duplicate_reports (stored twice), duplicate_incidents (an
  incident revision published twice, or an incident the reference has not), missing_incidents,
  mismatched_incidents (revision, status, reports or position differ from the reference);
- incident_latency_p50_s / p99_s: first publication of an incident − the latest onset among
  its first revision's reports;
- read_fraction_per_worker: the share of the city's cells each worker reads (its cells and
  their halo) while all are alive: 1/workers would be a perfect partition;
- settle_s: from the last PubAck until the store held every report and every reference
  incident (its last revision).

With `--no-reference` (a stream longer than one process can fuse in the time at hand, e.g.
the city-scale point 10,000 sensors × 5,000 reports/s × 60 s) the single-process reference is
not run: lost and duplicate_reports are still counted, duplicate_incidents counts revisions
published twice, and missing/mismatched incidents are null (not measured). The run waits at
most `--settle-timeout-s` for the store after the last PubAck.

Usage: `python bench/cluster.py --sensors N --rate R --seconds S [--kill-node]
[--kill-worker] [--no-reference] [--db URL] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ouie.cluster.cells import max_halo_m, owned_cells, read_cells, sensor_cells
from ouie.cluster.config import ClusterConfig
from ouie.cluster.streams import REPORTS_STREAM
from ouie.cluster.synthetic import TRIAL_CLASSES, TRIAL_NOISE, sensor_grid, write_site
from ouie.cluster.trial import LocalDeployment, play, settled
from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.core.timebase import NS_PER_S
from ouie.fusion.config import FusionConfig
from ouie.fusion.synthetic import Delivery, synthesize_deliveries, truth_events
from ouie.store.repository import Store

FRAME = LocalFrame(45.4397, 4.3872, 520.0)
SPACING_M = 200.0


def deliveries(
    sensors: int, rate: float, seconds: float, start_ns: int, fusion: FusionConfig, seed: int
) -> list[Delivery]:
    """Reports of sounds at seeded random places, about `rate` per second for `seconds`
    (`synthesize_deliveries` with `audible_only`: its cost follows the sounds, not the city)."""
    rng = np.random.default_rng(seed)
    sites = sensor_grid(FRAME, sensors, SPACING_M)
    half_m = (np.ceil(np.sqrt(sensors)) - 1) / 2 * SPACING_M

    def sounds_at(onsets_ns: list[int]) -> list[Delivery]:
        places = rng.uniform(-half_m, half_m, (len(onsets_ns), 2))
        classes = [TRIAL_CLASSES[k % 3] for k in range(len(onsets_ns))]
        truth = truth_events(FRAME, classes, onsets_ns, places[:, 0], places[:, 1])
        return synthesize_deliveries(
            sites, FRAME, truth, fusion.speed_of_sound_mps, TRIAL_NOISE, rng, audible_only=True
        )

    probe = 60
    per_sound = len(sounds_at([start_ns] * probe)) / probe
    sounds = max(1, round(rate * seconds / max(per_sound, 1.0)))
    onsets_ns = np.sort(rng.uniform(0, seconds, sounds)) * NS_PER_S + start_ns
    return sounds_at([int(t) for t in onsets_ns])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sensors", type=int, default=400)
    parser.add_argument("--rate", type=float, default=200.0, help="reports/s offered")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cell-size-m", type=float, default=500.0)
    parser.add_argument(
        "--lease-ttl-s",
        type=float,
        default=ClusterConfig().lease_ttl_s,
        help="fusion workers' lease TTL (a worker killed is replaced this much later)",
    )
    parser.add_argument("--kill-node", action="store_true")
    parser.add_argument("--kill-worker", action="store_true")
    parser.add_argument("--db", default="", help="SQLAlchemy URL (default: a SQLite file)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the single-process reference (missing/mismatched incidents not measured)",
    )
    parser.add_argument("--settle-timeout-s", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the logs and stores here (default: a temporary folder, deleted)",
    )
    args = parser.parse_args()

    fusion = FusionConfig(hearing_range_m=dict.fromkeys(EventClass, 300.0), window_margin_s=0.5)
    cluster = ClusterConfig(
        cell_size_m=args.cell_size_m, lease_ttl_s=args.lease_ttl_s, replay_s=60.0
    )
    sites = sensor_grid(FRAME, args.sensors, SPACING_M)
    with tempfile.TemporaryDirectory(prefix="ouie-cluster-bench-") as tmp:
        folder = args.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = args.db or f"sqlite:///{folder / 'store.db'}"
        Store.open(db).close()
        site = write_site(folder / "site", sites, FRAME, fusion, cluster, db)
        deployment = LocalDeployment(folder / "run", site, cluster, args.nodes, args.workers)
        started = time.monotonic()
        deployment.start()
        start_s = time.monotonic() - started
        try:
            plan = deliveries(
                args.sensors, args.rate, args.seconds, time.time_ns() + NS_PER_S, fusion, args.seed
            )
            actions = {}
            if args.kill_node:
                leader = deployment.nats.leader(REPORTS_STREAM)
                actions[1 / 3] = lambda: deployment.nats.kill(leader)
            if args.kill_worker:
                actions[1 / 2] = lambda: deployment.kill("w1")
            cells = sensor_cells(sites, FRAME, cluster.cell_size_m)
            began = time.monotonic()
            published, gateway = asyncio.run(play(deployment.cluster, plan, cells, actions))
            held_s = time.monotonic() - began
            store = Store.open(db, upgrade=False)
            try:
                result = settled(
                    deployment,
                    store,
                    published,
                    sites,
                    FRAME,
                    fusion,
                    args.settle_timeout_s,
                    with_reference=not args.no_reference,
                )
            finally:
                store.close()
        finally:
            deployment.stop()
    cell_set = set(cells.values())
    read = [
        len(
            read_cells(
                owned_cells(cell_set, deployment.worker_ids, w, cluster.ownership_block_cells),
                cell_set,
                max_halo_m(fusion),
                cluster.cell_size_m,
            )
        )
        / len(cell_set)
        for w in deployment.worker_ids
    ]
    span_s = (plan[-1].arrival_ns - plan[0].arrival_ns) / NS_PER_S if plan else 0.0
    out = {
        "bench": "cluster",
        "cores": os.cpu_count(),
        "sensors": args.sensors,
        "nodes": args.nodes,
        "workers": args.workers,
        "cell_size_m": args.cell_size_m,
        "lease_ttl_s": args.lease_ttl_s,
        "ownership_block_cells": cluster.ownership_block_cells,
        "cells": len(cell_set),
        "read_fraction_per_worker": [round(x, 2) for x in read],
        "kill_node": args.kill_node,
        "kill_worker": args.kill_worker,
        "store": db.split(":")[0],
        "deliveries": len(plan),
        "offered_per_s": round(len(plan) / span_s, 1) if span_s else None,
        "held_per_s": round((gateway.acknowledged + gateway.duplicates) / held_s, 1),
        "gateway_retries": gateway.retries,
        "longest_publish_wait_s": round(gateway.longest_wait_s, 2),
        "start_s": round(start_s, 2),
        **result,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
