"""The clustered deployment on loopback: 3 NATS nodes (JetStream R3, MQTT front door), fusion
workers owning cells, a storage writer on PostgreSQL; nodes and workers killed mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from nats.js.errors import BadRequestError
from typer.testing import CliRunner

from ouie.cli import app
from ouie.cluster.audit import STREAM_SEQ, publish_audit
from ouie.cluster.cells import (
    cell_gap_m,
    cell_name,
    halo_m,
    owned_cells,
    read_cells,
    rendezvous_owner,
    sensor_cells,
)
from ouie.cluster.config import ClusterConfig
from ouie.cluster.fusion_worker import fuse_at
from ouie.cluster.local import (
    LocalNatsCluster,
    NatsServerMissing,
    nats_server_binary,
    node_config,
)
from ouie.cluster.notifier import NOTIFIER_BUCKET
from ouie.cluster.processes import broker_listen
from ouie.cluster.streams import (
    AUDIT_STREAM,
    INGEST_STREAM,
    MSG_ID,
    REPORTS_STREAM,
    connect,
    ensure_streams,
    incident_subject,
)
from ouie.cluster.synthetic import (
    TRIAL_CLASSES,
    TRIAL_NOISE,
    read_stream,
    sensor_grid,
    stream_reports,
    write_site,
)
from ouie.cluster.trial import LocalDeployment, play, settled
from ouie.core.audit import AuditEvent
from ouie.core.classes import EventClass
from ouie.core.config import ConfigError
from ouie.core.geo import LocalFrame
from ouie.core.incident import Incident, IncidentStatus
from ouie.core.timebase import NS_PER_S
from ouie.fusion.association import Associator
from ouie.fusion.config import FusionConfig
from ouie.fusion.synthetic import ReportNoise, synthesize_deliveries, truth_event
from ouie.store.audit import verify_chain
from ouie.store.repository import Store
from ouie.transport.mqtt import BrokerSettings, MqttBus
from ouie.transport.outbox import Outbox, SensorUplink
from tests.builders import close_uplinks, receipted_uplink, trial_sounds_reports
from tests.notify_receiver import Receiver

FRAME = LocalFrame(45.4397, 4.3872, 520.0)


def _nats_or_skip() -> None:
    try:
        nats_server_binary()
    except NatsServerMissing as missing:
        pytest.skip(str(missing))


def test_rendezvous_moves_only_the_dead_workers_cells() -> None:
    cells = {cell_name((i, j)) for i in range(-5, 5) for j in range(-5, 5)}
    before = {c: rendezvous_owner(c, ["w1", "w2", "w3"]) for c in cells}
    after = {c: rendezvous_owner(c, ["w1", "w3"]) for c in cells}
    moved = {c for c in cells if before[c] != after[c]}
    assert moved == {c for c in cells if before[c] == "w2"}
    assert 20 <= len(moved) <= 47  # about a third of 100
    shares = [owned_cells(cells, ["w1", "w2", "w3"], w) for w in ("w1", "w2", "w3")]
    assert set().union(*shares) == cells and sum(map(len, shares)) == len(cells)


def test_owning_squares_of_cells_shares_less_halo_than_owning_scattered_cells() -> None:
    """A 20 km city in 1 km cells, 3 workers, the widest halo of the default fusion (3 km):
    with every cell hashed on its own each worker reads the whole city; by 5 × 5 squares a
    worker reads well under it."""
    cells = {cell_name((i, j)) for i in range(20) for j in range(20)}
    workers = ["w1", "w2", "w3"]
    reach_m = 2 * FusionConfig().range_m(*EventClass)

    def read_fractions(block_cells: int) -> list[float]:
        return [
            len(read_cells(owned_cells(cells, workers, w, block_cells), cells, reach_m, 1000.0))
            / len(cells)
            for w in workers
        ]

    assert min(read_fractions(1)) > 0.95
    blocks = read_fractions(5)
    assert max(blocks) < 0.95 and float(np.mean(blocks)) < 0.7, blocks
    owned = [owned_cells(cells, workers, w, 5) for w in workers]
    assert set().union(*owned) == cells and sum(map(len, owned)) == len(cells)


def test_cell_names_are_subject_tokens_and_the_gap_between_cells_is_their_squares() -> None:
    sites = sensor_grid(FRAME, 9, 600.0)
    cells = sensor_cells(sites, FRAME, 500.0)
    assert all("." not in c and "*" not in c and ">" not in c for c in cells.values())
    assert len(set(cells.values())) == 9
    assert cell_gap_m((0, 0), (1, 1), 500.0) == 0.0
    assert cell_gap_m((0, 0), (3, 0), 500.0) == 1000.0
    assert cell_gap_m((0, 0), (2, 2), 100.0) == pytest.approx(np.hypot(100, 100))


def test_a_glass_break_halo_is_the_widest_impulsive_range_and_a_scream_its_own() -> None:
    fusion = FusionConfig()
    assert halo_m(EventClass.GLASS_BREAK, fusion) == 2 * 1500.0  # confused with explosions
    assert halo_m(EventClass.SCREAM, fusion) == 2 * 500.0


def test_a_report_fusion_raises_on_is_skipped_and_the_next_one_fused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sensors = sensor_grid(FRAME, 9, 100.0)
    associator = Associator(sensors, FRAME, FusionConfig())
    truth = [truth_event(FRAME, "gunshot", 10**18, 0.0, 0.0)]
    noise = ReportNoise(miss_rate=0.0, false_alarms_per_sensor_hour=0.0, duplicate_rate=0.0)
    rng = np.random.default_rng(1)
    reports = [d.report for d in synthesize_deliveries(sensors, FRAME, truth, 343.0, noise, rng)]
    add = associator.add

    def fails_once(report, now_ns):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(associator, "add", add)
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(associator, "add", fails_once)
    assert fuse_at(associator, 10**18, reports[0]) is None
    emitted = [fuse_at(associator, 10**18 + 1, r) for r in reports[1:]]
    emitted.append(fuse_at(associator, 10**18 + 60 * NS_PER_S))
    incidents = [i for batch in emitted if batch for i in batch]
    assert incidents and reports[0].report_id not in incidents[-1].report_ids
    assert set(incidents[-1].report_ids) == {r.report_id for r in reports[1:]}


def test_a_replay_longer_than_the_dedupe_window_is_refused_naming_both_fields() -> None:
    with pytest.raises(ValueError, match=r"cluster\.replay_s.*cluster\.duplicate_window_s"):
        ClusterConfig(replay_s=200.0, duplicate_window_s=120.0)


@pytest.mark.timeout(300)
def test_killing_a_node_and_a_worker_mid_stream_loses_and_doubles_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    """3 NATS nodes, 2 fusion workers and a writer as processes; the leader of the reports
    stream and then a worker are killed (-9) while sounds stream in: every report is stored
    once, every incident emitted once, and the incidents equal one Associator's on the same
    stream (status, reports, position of their last revision)."""
    _nats_or_skip()
    fusion = FusionConfig(hearing_range_m=dict.fromkeys(EventClass, 300.0), window_margin_s=0.5)
    cluster = ClusterConfig(cell_size_m=400.0, lease_ttl_s=2.0, replay_s=60.0)
    sensors = sensor_grid(FRAME, 49, 200.0)
    site = write_site(tmp_path / "site", sensors, FRAME, fusion, cluster, postgres_url)
    Store.open(postgres_url).close()  # schema first: the writer and the test share it
    deployment = LocalDeployment(tmp_path / "run", site, cluster, nodes=3, workers=2)
    rng = np.random.default_rng(7)
    cells = sensor_cells(sensors, FRAME, cluster.cell_size_m)
    deployment.start(timeout_s=120.0)
    try:
        t0 = time.time_ns() + NS_PER_S
        truth = [
            truth_event(
                FRAME, TRIAL_CLASSES[k % 3], t0 + k * 500_000_000, *rng.uniform(-550, 550, 2)
            )
            for k in range(14)
        ]
        deliveries = synthesize_deliveries(
            sensors, FRAME, truth, fusion.speed_of_sound_mps, TRIAL_NOISE, rng
        )
        leader = deployment.nats.leader(REPORTS_STREAM)
        published, gateway = asyncio.run(
            play(
                deployment.cluster,
                deliveries,
                cells,
                {
                    0.35: lambda: deployment.nats.kill(leader),
                    0.6: lambda: deployment.kill("w1"),
                },
            )
        )
        deployment.wait_workers({"w2"})  # w1's lease expired: w2 owns every cell
        store = Store.open(postgres_url, upgrade=False)
        try:
            result = settled(deployment, store, published, sensors, FRAME, fusion)
        finally:
            store.close()
    finally:
        deployment.stop()
    assert gateway.retries > 0, gateway  # the kill was felt: publishes waited for a new leader
    assert result["lost"] == 0, result
    assert result["duplicate_reports"] == 0, result
    assert result["stream_reports"] == len(published), result  # repeats dropped by Msg-Id
    assert result["missing_incidents"] == 0, result
    assert result["duplicate_incidents"] == 0, result
    assert result["mismatched_incidents"] == 0, result
    assert result["stored_incidents"] >= 10, result  # most of the 14 sounds were heard


@pytest.mark.timeout(300)
def test_killing_the_audit_appender_and_a_node_keeps_one_chain_without_loss_or_repeat(
    tmp_path: Path, postgres_url: str
) -> None:
    """Two audit appenders on 3 NATS nodes; 300 events published; after the first third, the
    appender holding the lease and the audit stream's leader node are killed (-9): the other
    appender takes the lease over, and the chain verifies and holds every event exactly once,
    in the stream's order."""
    _nats_or_skip()
    cluster = ClusterConfig(lease_ttl_s=2.0)
    site = write_site(
        tmp_path / "site",
        sensor_grid(FRAME, 4, 200.0),
        FRAME,
        FusionConfig(),
        cluster,
        postgres_url,
    )
    Store.open(postgres_url).close()
    deployment = LocalDeployment(
        tmp_path / "run", site, cluster, nodes=3, workers=0, writers=0, appenders=2
    )
    deployment.start(timeout_s=120.0)
    store = Store.open(postgres_url, upgrade=False)
    events = [
        AuditEvent(action="incident.view", actor=f"op{k % 3}", subject=f"incident:{k}")
        for k in range(300)
    ]

    async def publish(batch: list[AuditEvent]) -> None:
        nc = await connect(deployment.cluster, "test-audit")
        try:
            js = nc.jetstream(timeout=5)
            for event in batch:
                await publish_audit(js, event)
        finally:
            await nc.close()

    def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
        """Until `condition()`; a cluster electing a leader answers with errors: ask again."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if condition():
                    return
            except Exception:
                pass
            assert time.monotonic() < deadline, what
            time.sleep(0.1)

    try:
        wait_for(lambda: deployment.audit_holder() is not None, "an appender takes the lease")
        holder = deployment.audit_holder()
        assert holder is not None
        leader = deployment.nats.leader(AUDIT_STREAM)
        asyncio.run(publish(events[:100]))
        wait_for(lambda: store.audit.count() > 0, "the holder appends")
        deployment.kill(holder)
        deployment.nats.kill(leader)
        asyncio.run(publish(events[100:]))
        wait_for(lambda: store.audit.count() >= 300, "every event appended")
        successor = deployment.audit_holder()
        entries = list(store.audit.entries())
    finally:
        store.close()
        deployment.stop()
    assert successor is not None and successor != holder
    assert [e["details"][STREAM_SEQ] for e in entries] == list(range(1, 301))
    assert [e["subject"] for e in entries] == [e.subject for e in events]
    assert verify_chain(entries) == []


@pytest.mark.timeout(300)
def test_sensors_on_the_mqtt_front_door_lose_nothing_when_the_ingest_leader_is_killed(
    tmp_path: Path, postgres_url: str
) -> None:
    """Sensors with their own uplink (paho-mqtt, on-disk outbox, receipts) publish through
    NATS's MQTT listener of a node that survives; the node leading the ingest stream is killed
    (-9) after a third of the reports: every report reaches the reports stream and the store
    exactly once (a report the listener PUBACKed and the stream lost is published again for
    want of a receipt, and a repeat is dropped by report id)."""
    _nats_or_skip()
    cluster = ClusterConfig(cell_size_m=400.0)
    sensors = sensor_grid(FRAME, 9, 200.0)
    site = write_site(tmp_path / "site", sensors, FRAME, FusionConfig(), cluster, postgres_url)
    Store.open(postgres_url).close()
    deployment = LocalDeployment(tmp_path / "run", site, cluster, nodes=3, workers=0, writers=1)
    deployment.start(timeout_s=120.0)
    reports = trial_sounds_reports(sensors, FRAME, 40, 100_000_000, 200.0, seed=3)
    store = Store.open(postgres_url, upgrade=False)
    uplinks: dict[str, tuple[MqttBus, Outbox, SensorUplink]] = {}
    try:
        leaders = {deployment.nats.leader(INGEST_STREAM), deployment.nats.leader(REPORTS_STREAM)}
        killed = deployment.nats.leader(INGEST_STREAM)
        door = (
            next(i for i in range(3) if i not in leaders) if len(leaders) < 3 else (killed + 1) % 3
        )
        host, port = deployment.nats.nodes[door].mqtt_address
        for sensor in {r.sensor_id for r in reports}:
            settings = BrokerSettings(host=host, port=port)
            uplinks[sensor] = receipted_uplink(sensor, settings, tmp_path)
        assert all(bus.wait_connected(60.0) for bus, _, _ in uplinks.values())
        for k, report in enumerate(reports):
            if k == len(reports) // 3:
                deployment.nats.kill(killed)
            uplinks[report.sensor_id][2].send(report)
            time.sleep(0.02)  # a stream of reports, not one burst: some are in flight at the kill
        assert all(uplink.flush(120.0) for _, _, uplink in uplinks.values())
        expected = {r.report_id for r in reports}
        deadline = time.monotonic() + 120.0
        while store.count_reports() < len(expected) and time.monotonic() < deadline:
            time.sleep(0.2)
        stored, stored_count = store.report_ids(), store.count_reports()
        in_stream = [
            r.report_id for _, r in stream_reports(read_stream(deployment.cluster, REPORTS_STREAM))
        ]
    finally:
        close_uplinks(uplinks)
        store.close()
        deployment.stop()
    assert sorted(in_stream) == sorted(expected)
    assert stored == expected and stored_count == len(expected)


def test_a_broker_node_listens_on_its_url_port_and_routes_to_the_other_hosts() -> None:
    cluster = ClusterConfig(servers=["nats://a:4222", "nats://b:4300", "nats://c:4222"])
    listen, routes = broker_listen(cluster, "b")
    assert (listen.name, listen.client_port, listen.route_port) == ("b", 4300, 6222)
    assert routes == ["a:6222", "c:6222"]
    conf = node_config(listen, routes, Path("/data/js"), cluster.replicas)
    assert 'routes: ["nats-route://a:6222", "nats-route://c:6222"]' in conf
    assert "mqtt {\n  host: 0.0.0.0\n  port: 1883\n  stream_replicas: 3" in conf
    with pytest.raises(ConfigError, match=r"--id 'd'.*cluster\.servers"):
        broker_listen(cluster, "d")


def test_a_single_node_runs_jetstream_without_routes_and_a_trial_needs_its_replicas(
    tmp_path: Path,
) -> None:
    """nats-server refuses JetStream in a cluster block without routes: one node has none."""
    _nats_or_skip()
    single = LocalNatsCluster(tmp_path / "one", 1)
    try:
        single.start(timeout_s=60.0)
    finally:
        single.stop()
    assert "cluster {" not in (tmp_path / "one" / "n1" / "nats.conf").read_text()
    site = write_site(
        tmp_path / "site", sensor_grid(FRAME, 4, 200.0), FRAME, FusionConfig(), ClusterConfig(), ""
    )
    with pytest.raises(ConfigError, match=r"cluster\.replicas is 3.*not 1 \(set cluster"):
        LocalDeployment(tmp_path / "run", site, ClusterConfig(), nodes=1)


def test_streams_wait_for_the_third_node_rather_than_fail_on_placement(tmp_path: Path) -> None:
    """With two of three nodes up, JetStream refuses an R3 stream ("no suitable peers for
    placement", code 400): a worker starting then must wait for the third node, not die (CI
    caught a worker dying so). A stream that exists with another configuration is raised."""
    _nats_or_skip()
    nodes = LocalNatsCluster(tmp_path / "nats", 3)
    cluster = ClusterConfig(servers=nodes.urls)

    async def create_then_start_third() -> tuple[float, float]:
        connection = await connect(cluster.model_copy(update={"servers": nodes.urls[:2]}), "t")
        try:
            started = time.monotonic()
            creating = asyncio.create_task(ensure_streams(connection.jetstream(), cluster))
            await asyncio.sleep(3.0)
            assert not creating.done(), "R3 streams placed on two nodes"
            nodes.start_node(nodes.nodes[2])
            await creating
            waited_s = time.monotonic() - started
            other = cluster.model_copy(update={"lease_ttl_s": cluster.lease_ttl_s + 1.0})
            refused_at = time.monotonic()
            with pytest.raises(BadRequestError, match="different configuration"):
                await ensure_streams(connection.jetstream(), other)
            return waited_s, time.monotonic() - refused_at
        finally:
            await connection.close()

    try:
        for node in nodes.nodes[:2]:
            nodes.start_node(node)
        nodes.wait_ready(60.0)
        waited_s, refused_s = asyncio.run(create_then_start_third())
    finally:
        nodes.stop()
    assert waited_s >= 3.0
    assert refused_s < 30.0  # at once, not after the 60 s of a forming cluster


def test_serve_with_a_cluster_role_and_no_id_says_which_option_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", "-c", str(tmp_path / "site.yaml"), "--role", "fusion"]
    )
    assert result.exit_code != 0
    assert "--role fusion needs --id" in str(result.exception)


@pytest.mark.timeout(300)
def test_killing_the_notifier_holding_the_lease_sends_every_incident_through_the_other(
    tmp_path: Path,
) -> None:
    """Two notifiers (webhook output) on 3 NATS nodes; 30 alerting incidents published into
    the incidents stream; after the first 10 the notifier holding the lease is killed (-9):
    the other takes over and every incident reaches the webhook (a repeat of a message the
    dead one queued but had not acknowledged would be counted; none is asserted absent)."""
    _nats_or_skip()
    receiver = Receiver()
    receiver.start()
    cluster = ClusterConfig(lease_ttl_s=2.0)
    site = write_site(
        tmp_path / "site",
        sensor_grid(FRAME, 4, 200.0),
        FRAME,
        FusionConfig(),
        cluster,
        f"sqlite:///{tmp_path / 'store.db'}",
    )
    config = yaml.safe_load(site.read_text())
    config["notify"] = {
        "webhook": {"enabled": True, "destinations": [{"name": "desk", "url": receiver.url}]}
    }
    site.write_text(yaml.safe_dump(config))
    deployment = LocalDeployment(
        tmp_path / "run", site, cluster, nodes=3, workers=0, writers=0, notifiers=2
    )
    deployment.start(timeout_s=120.0)
    incidents = [
        Incident(
            incident_id=f"inc-{k}",
            revision=1,
            class_="gunshot",
            status=IncidentStatus.FIX,
            onset_ns=time.time_ns(),
            lat=45.44,
            lon=4.387,
            uncertainty_m=10.0,
            ellipse95=None,
            hyperbola=None,
            score=0.9,
            sensors_used=["s1", "s2", "s3"],
            sensors_rejected=[],
            report_ids=[f"r{k}a", f"r{k}b", f"r{k}c"],
        )
        for k in range(30)
    ]

    async def publish(batch: list[Incident]) -> None:
        nc = await connect(deployment.cluster, "test-incidents")
        try:
            js = nc.jetstream(timeout=5)
            for incident in batch:
                await js.publish(
                    incident_subject("0_0"),
                    incident.to_json().encode(),
                    headers={MSG_ID: f"{incident.incident_id}.{incident.revision}"},
                )
        finally:
            await nc.close()

    def sent_ids() -> list[str]:
        return [json.loads(r.body)["incident"]["id"] for r in receiver.received]

    try:
        holder = None
        deadline = time.monotonic() + 120.0
        while holder is None and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                holder = deployment.lease_holder(NOTIFIER_BUCKET)
            time.sleep(0.1)
        assert holder is not None
        asyncio.run(publish(incidents[:10]))
        assert receiver.wait_for(1, 120.0)
        deployment.kill(holder)
        asyncio.run(publish(incidents[10:]))
        deadline = time.monotonic() + 120.0
        while len(set(sent_ids())) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        successor = deployment.lease_holder(NOTIFIER_BUCKET)
    finally:
        deployment.stop()
        receiver.stop()
    assert set(sent_ids()) == {i.incident_id for i in incidents}
    assert successor is not None and successor != holder
