"""`ouie serve --role console`: the operator console of a clustered deployment, as a process of
its own beside 3 NATS nodes, a fusion worker and a writer on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from ouie.cluster.cells import sensor_cells
from ouie.cluster.config import ClusterConfig
from ouie.cluster.local import NatsServerMissing, nats_server_binary
from ouie.cluster.synthetic import TRIAL_CLASSES, TRIAL_NOISE, sensor_grid, write_site
from ouie.cluster.trial import LocalDeployment, play
from ouie.console.auth import CSRF_HEADER, hash_password
from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.core.timebase import NS_PER_S
from ouie.fusion.config import FusionConfig
from ouie.fusion.synthetic import synthesize_deliveries, truth_event
from ouie.store.records import Role
from ouie.store.repository import Store
from ouie.transport.broker import free_port
from tests.builders import wait_until

FRAME = LocalFrame(45.4397, 4.3872, 520.0)
PASSWORD = "op-secret-cluster-1"


def _follow(base_url: str, cookies: httpx.Cookies, seen: list[str], stop: threading.Event) -> None:
    """Append the id of every `incident` event of the console's live feed to `seen`, until
    `stop` or the console ends the stream."""
    with (
        httpx.Client(base_url=base_url, cookies=cookies, timeout=None) as client,
        client.stream("GET", "/api/events") as stream,
        contextlib.suppress(httpx.HTTPError),  # the console stopped: the stream ends
    ):
        kind = None
        for line in stream.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "incident":
                seen.append(json.loads(line.removeprefix("data: "))["id"])


@pytest.mark.timeout(300)
def test_a_console_process_shows_the_clusters_incidents_live_and_records_decisions(
    tmp_path: Path, postgres_url: str
) -> None:
    """The console process follows the incidents the worker emits and the writer stores (each
    appears on its live feed), and an operator's decision made there is stored and audited in
    the one chain."""
    try:
        nats_server_binary()
    except NatsServerMissing as missing:
        pytest.skip(str(missing))
    fusion = FusionConfig(hearing_range_m=dict.fromkeys(EventClass, 300.0), window_margin_s=0.5)
    cluster = ClusterConfig(cell_size_m=400.0)
    sensors = sensor_grid(FRAME, 9, 200.0)
    site = write_site(tmp_path / "site", sensors, FRAME, fusion, cluster, postgres_url)
    store = Store.open(postgres_url)
    store.add_user("olga", Role.OPERATOR, hash_password(PASSWORD))
    deployment = LocalDeployment(tmp_path / "run", site, cluster, nodes=3, workers=1, writers=1)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/console"
    console = None
    seen: list[str] = []
    stop = threading.Event()
    try:
        deployment.start(timeout_s=120.0)
        # the console's site names the nodes' loopback ports (the others get --servers)
        console_site = write_site(
            tmp_path / "console", sensors, FRAME, fusion, deployment.cluster, postgres_url
        )
        with (tmp_path / "console.log").open("ab") as log:
            console = subprocess.Popen(
                [
                    *(sys.executable, "-c", "from ouie.cli import main; main()", "serve"),
                    *("--role", "console", "-c", str(console_site), "--port", str(port)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        assert wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60.0), (
            tmp_path / "console.log"
        ).read_text()
        client = httpx.Client(base_url=base_url, timeout=10.0)
        csrf = client.get("/api/session").json()["csrf"]
        login = client.post(
            "/api/login", json={"name": "olga", "password": PASSWORD}, headers={CSRF_HEADER: csrf}
        )
        assert login.status_code == 200, login.text
        headers = {CSRF_HEADER: login.json()["csrf"]}
        follower = threading.Thread(
            target=_follow, args=(base_url, client.cookies, seen, stop), daemon=True
        )
        follower.start()
        time.sleep(1.0)  # the feed is open before the sounds
        rng = np.random.default_rng(11)
        t0 = time.time_ns() + NS_PER_S
        truth = [
            truth_event(FRAME, TRIAL_CLASSES[k], t0 + k * 700_000_000, *rng.uniform(-150, 150, 2))
            for k in range(3)
        ]
        deliveries = synthesize_deliveries(sensors, FRAME, truth, 343.0, TRIAL_NOISE, rng)
        cells = sensor_cells(sensors, FRAME, cluster.cell_size_m)
        asyncio.run(play(deployment.cluster, deliveries, cells))
        assert wait_until(lambda: store.count_incidents() >= 2 and len(set(seen)) >= 2, 120.0), (
            store.count_incidents(),
            seen,
            (tmp_path / "console.log").read_text()[-2000:],
        )
        incident_id = seen[0]
        listed = {i["id"] for i in client.get("/api/incidents").json()}
        decided = client.post(
            f"/api/incidents/{incident_id}/disposition",
            json={"action": "confirm", "note": "seen on the cluster console"},
            headers=headers,
        )
    finally:
        stop.set()
        if console is not None:
            console.terminate()
            console.wait(timeout=30)
        deployment.stop()
    assert set(seen) <= listed
    assert decided.status_code == 200, decided.text
    assert [d.actor for d in store.list_dispositions(incident_id)] == ["olga"]
    entries = [(e["action"], e["actor"], e["subject"]) for e in store.audit.entries()]
    assert ("incident.disposition", "olga", f"incident:{incident_id}") in entries
    assert list(store.audit.verify()) == []
    store.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
