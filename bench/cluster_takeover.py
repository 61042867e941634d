"""How long a clustered deployment takes to replace a process killed with -9 (JSON).

Method: `LocalDeployment` on loopback (3 NATS nodes, 2 fusion workers, 2 audit appenders, a
SQLite store, 16 sensors), `--lease-ttl-s` for both leases. Once every lease is held, the
fusion worker w1 is killed (-9) and the time until the lease bucket lists only w2 is measured
(w2 then owns every cell); then the audit appender holding the chain's lease is killed and the
time until the other holds it is measured. Each is polled every 0.1 s, so figures are good to
about 0.1 s plus the time one lease query takes on the machine. Repeated `--repeats` times
(a fresh deployment each).

Usage: `python bench/cluster_takeover.py [--lease-ttl-s 10] [--repeats 3] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ouie.cluster.config import ClusterConfig
from ouie.cluster.synthetic import sensor_grid, write_site
from ouie.cluster.trial import LocalDeployment
from ouie.core.geo import LocalFrame
from ouie.fusion.config import FusionConfig
from ouie.store.repository import Store

FRAME = LocalFrame(45.4397, 4.3872, 520.0)


def seconds_until(condition: Callable[[], bool], timeout_s: float = 300.0) -> float:
    """Seconds until `condition()` holds (errors while the cluster answers none: not yet)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        try:
            if condition():
                return time.monotonic() - began
        except Exception:
            pass
        time.sleep(0.1)
    raise TimeoutError("no takeover")


def one_run(folder: Path, ttl_s: float) -> dict[str, float]:
    """Kill w1, then the audit holder; the two takeover times."""
    cluster = ClusterConfig(lease_ttl_s=ttl_s)
    db = f"sqlite:///{folder / 'store.db'}"
    Store.open(db).close()
    site = write_site(
        folder / "site", sensor_grid(FRAME, 16, 200.0), FRAME, FusionConfig(), cluster, db
    )
    deployment = LocalDeployment(folder / "run", site, cluster, 3, 2, writers=1, appenders=2)
    deployment.start()
    try:
        seconds_until(lambda: deployment.audit_holder() is not None)
        deployment.kill("w1")
        worker_s = seconds_until(lambda: deployment.leases() == {"w2"})
        holder = deployment.audit_holder()
        assert holder is not None
        deployment.kill(holder)
        audit_s = seconds_until(lambda: deployment.audit_holder() not in (None, holder))
    finally:
        deployment.stop()
    return {"fusion_worker_takeover_s": round(worker_s, 2), "audit_takeover_s": round(audit_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lease-ttl-s", type=float, default=ClusterConfig().lease_ttl_s)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="ouie-takeover-") as tmp:
            runs.append(one_run(Path(tmp), args.lease_ttl_s))
    out = {
        "bench": "cluster_takeover",
        "cores": os.cpu_count(),
        "lease_ttl_s": args.lease_ttl_s,
        "runs": runs,
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
