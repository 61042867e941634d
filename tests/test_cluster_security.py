"""A secured NATS cluster: accounts (bcrypt in the nodes' configuration), per-sensor subject
permissions on the MQTT front door, and TLS on the client, route and MQTT ports."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import nats
import pytest
from typer.testing import CliRunner

from ouie.cli import app
from ouie.cluster.config import ClusterConfig, ClusterSecurity
from ouie.cluster.local import (
    LocalNatsCluster,
    NatsServerMissing,
    NodeAccounts,
    NodeListen,
    nats_server_binary,
    node_config,
)
from ouie.cluster.streams import connect
from ouie.cluster.synthetic import sensor_grid, write_site
from ouie.cluster.trial import LocalDeployment
from ouie.core.config import ConfigError
from ouie.core.geo import LocalFrame
from ouie.fusion.config import FusionConfig
from ouie.store.repository import Store
from ouie.transport.broker import CENTRAL_USER, provision_accounts
from ouie.transport.mqtt import BrokerSettings, MqttBus, TlsConfig
from ouie.transport.outbox import Outbox, SensorUplink
from ouie.transport.topics import reports_topic
from tests.builders import close_uplinks, receipted_uplink, trial_sounds_reports, wait_until
from tests.services import make_ca, make_signed_cert

SENSORS = ["s1", "s2"]
FRAME = LocalFrame(45.4397, 4.3872, 520.0)


def test_a_node_config_holds_hashes_and_keeps_each_sensor_to_its_own_subjects(
    tmp_path: Path,
) -> None:
    secrets = provision_accounts(tmp_path / "secrets", [CENTRAL_USER, *SENSORS])
    security = ClusterSecurity(secrets_dir=tmp_path / "secrets")
    accounts = NodeAccounts.read(security, SENSORS)
    listen = NodeListen("n1", "0.0.0.0", 4222, 6222, 1883)
    conf = node_config(listen, ["b:6222"], Path("/data/js"), 3, accounts=accounts)
    for sensor in SENSORS:
        assert secrets[sensor] not in conf  # only its bcrypt hash
    assert conf.count('"$2b$04$') == 2 + len(SENSORS)  # central on clients and routes, sensors
    assert (
        'user: "s1", password: "$2b$04$' in conf
        and 'allowed_connection_types: ["MQTT"], permissions: {publish: {allow: '
        '["ouie.v1.sensors.s1.>"]}, subscribe: {allow: ["ouie.v1.sensors.s1.>"]}}'
        in conf
    )
    assert f'"nats-route://central:{secrets[CENTRAL_USER]}@b:6222"' in conf
    with pytest.raises(ConfigError, match=r"secrets_dir: cannot read .*s3\.secret"):
        NodeAccounts.read(security, [*SENSORS, "s3"])
    no_key = ClusterSecurity(secrets_dir=tmp_path / "secrets", tls=TlsConfig(ca_file=Path("ca")))
    with pytest.raises(ConfigError, match=r"cluster\.security\.tls: a broker node needs cert_file"):
        NodeAccounts.read(no_key, SENSORS)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalNatsCluster, Path]]:
    """3 nodes with accounts and TLS on every port (a throw-away CA; the nodes' certificate
    for 127.0.0.1, server and client use); (cluster, folder of secrets and PKI)."""
    try:
        nats_server_binary()
    except NatsServerMissing as missing:
        pytest.skip(str(missing))
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (apt-get install openssl)")
    folder = tmp_path_factory.mktemp("secured")
    pki = folder / "pki"
    pki.mkdir()
    ca_file = make_ca(pki, "ca")
    cert, key = make_signed_cert(
        pki,
        "node",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth",
    )
    provision_accounts(folder / "secrets", [CENTRAL_USER, *SENSORS])
    security = ClusterSecurity(
        secrets_dir=folder / "secrets",
        tls=TlsConfig(ca_file=ca_file, cert_file=cert, key_file=key),
    )
    cluster = LocalNatsCluster(folder / "nats", 3, security, SENSORS)
    cluster.start(timeout_s=120.0)
    yield cluster, folder
    cluster.stop()


def _security(folder: Path) -> ClusterSecurity:
    """What an ouie process (not a node) is given: the secrets and the CA only."""
    return ClusterSecurity(
        secrets_dir=folder / "secrets", tls=TlsConfig(ca_file=folder / "pki" / "ca.crt")
    )


def test_ouie_processes_log_in_over_tls_and_nothing_else_gets_in(
    secured: tuple[LocalNatsCluster, Path],
) -> None:
    cluster, folder = secured
    config = ClusterConfig(servers=cluster.urls, security=_security(folder))
    trusted = _security(folder).tls
    assert trusted is not None

    async def attempts() -> tuple[bool, list[str]]:
        nc = await connect(config, "ouie-process", timeout_s=30.0)
        info = await nc.jetstream(timeout=5).account_info()
        await nc.close()
        refused = []
        tries: dict[str, dict[str, Any]] = {
            "no login": {"tls": trusted.context()},
            "wrong password": {
                "tls": trusted.context(),
                "user": CENTRAL_USER,
                "password": "not-the-secret",
            },
            "no TLS": {"user": CENTRAL_USER, "password": _security(folder).password()},
            "a sensor's account": {
                "tls": trusted.context(),
                "user": "s1",
                "password": _security(folder).password("s1"),
            },
        }
        for name, options in tries.items():
            try:
                other = await nats.connect(
                    cluster.urls[0], connect_timeout=3, allow_reconnect=False, **options
                )
            except Exception:
                refused.append(name)
            else:
                await other.close()
        return info.streams >= 0, refused

    logged_in, refused = asyncio.run(attempts())
    assert logged_in
    assert refused == ["no login", "wrong password", "no TLS", "a sensor's account"]


def test_a_sensor_publishes_its_own_reports_over_mqtt_tls_and_nothing_as_another(
    secured: tuple[LocalNatsCluster, Path],
) -> None:
    cluster, folder = secured
    security = _security(folder)
    assert security.tls is not None
    host, port = cluster.nodes[1].mqtt_address
    seen: list[str] = []

    def sensor(user: str, password: str, tls: TlsConfig | None = security.tls) -> MqttBus:
        return MqttBus(
            BrokerSettings(host=host, port=port, tls=tls, username=user, password=password),
            f"sensor-{user}",
        )

    async def listen_and(publish: Callable[[], None]) -> None:
        nc = await nats.connect(cluster.urls[0], **security.client_options())
        await nc.subscribe("ouie.v1.sensors.>", cb=partial(_seen, seen))
        await nc.flush()
        await asyncio.to_thread(publish)
        await asyncio.sleep(1.0)
        await nc.close()

    s1 = sensor("s1", security.password("s1"))
    impostor = sensor("s2", "a guess")
    in_clear = sensor("s2", security.password("s2"), tls=None)
    try:
        assert s1.wait_connected(30.0)

        def publish() -> None:
            s1.publish(reports_topic("s1"), b'{"own": true}')
            s1.publish(reports_topic("s2"), b'{"as another": true}')
            time.sleep(0.5)

        asyncio.run(listen_and(publish))
        assert not impostor.wait_connected(3.0)
        assert not in_clear.wait_connected(1.0)
    finally:
        for bus in (s1, impostor, in_clear):
            bus.close()
    assert seen == ["ouie.v1.sensors.s1.reports"]


async def _seen(seen: list[str], msg: nats.aio.msg.Msg) -> None:
    seen.append(msg.subject)


def test_a_process_trusting_another_ca_refuses_the_nodes(
    secured: tuple[LocalNatsCluster, Path], tmp_path: Path
) -> None:
    cluster, folder = secured
    other_ca = make_ca(tmp_path, "other")

    async def attempt() -> None:
        await nats.connect(
            cluster.urls[0],
            connect_timeout=3,
            allow_reconnect=False,
            tls=TlsConfig(ca_file=other_ca).context(),
            **{"user": CENTRAL_USER, "password": _security(folder).password()},
        )

    with pytest.raises(ssl.SSLCertVerificationError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(attempt())


def test_a_process_with_a_wrong_secret_stops_at_once_naming_the_account(
    secured: tuple[LocalNatsCluster, Path], tmp_path: Path
) -> None:
    cluster, folder = secured
    (tmp_path / f"{CENTRAL_USER}.secret").write_text("an old secret\n")
    security = ClusterSecurity(secrets_dir=tmp_path, tls=_security(folder).tls)
    config = ClusterConfig(servers=cluster.urls, security=security)
    began = time.monotonic()
    with pytest.raises(ConfigError, match=r"cluster\.security: the nodes refuse 'central'"):
        asyncio.run(connect(config, "ouie-process", timeout_s=60.0))
    assert time.monotonic() - began < 20.0


@pytest.mark.timeout(300)
def test_a_secured_deployment_takes_sensors_reports_over_mqtt_tls_to_stored_incidents(
    tmp_path: Path, postgres_url: str
) -> None:
    """3 secured nodes, a writer (with its MQTT ingest) and a fusion worker as processes that
    read only `central`'s secret and the CA from the site config; 9 sensors with their own
    accounts send through the MQTT front door over TLS: every report is stored once and the
    sounds become incidents."""
    try:
        nats_server_binary()
    except NatsServerMissing as missing:
        pytest.skip(str(missing))
    pki = tmp_path / "pki"
    pki.mkdir()
    ca_file = make_ca(pki, "ca")
    cert, key = make_signed_cert(
        pki, "node", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"
    )
    sensors = sensor_grid(FRAME, 9, 200.0)
    provision_accounts(tmp_path / "secrets", [CENTRAL_USER, *(s.id for s in sensors)])
    security = ClusterSecurity(
        secrets_dir=tmp_path / "secrets",
        tls=TlsConfig(ca_file=ca_file, cert_file=cert, key_file=key),
    )
    cluster = ClusterConfig(cell_size_m=400.0, security=security)
    site = write_site(tmp_path / "site", sensors, FRAME, FusionConfig(), cluster, postgres_url)
    Store.open(postgres_url).close()
    deployment = LocalDeployment(tmp_path / "run", site, cluster, nodes=3, workers=1, writers=1)
    # 3 s apart: beyond the burst gap, each sound its own incident
    reports = trial_sounds_reports(sensors, FRAME, 6, 3_000_000_000, 150.0, seed=5)
    host, port = deployment.nats.nodes[0].mqtt_address
    uplinks: dict[str, tuple[MqttBus, Outbox, SensorUplink]] = {}
    store = Store.open(postgres_url, upgrade=False)
    try:
        deployment.start(timeout_s=120.0)
        for sensor in {r.sensor_id for r in reports}:
            settings = BrokerSettings(
                host=host,
                port=port,
                tls=TlsConfig(ca_file=ca_file),
                username=sensor,
                password=security.password(sensor),
            )
            uplinks[sensor] = receipted_uplink(sensor, settings, tmp_path)
        assert all(bus.wait_connected(60.0) for bus, _, _ in uplinks.values())
        for report in reports:
            uplinks[report.sensor_id][2].send(report)
        assert all(uplink.flush(120.0) for _, _, uplink in uplinks.values())
        assert wait_until(lambda: store.count_reports() == len(reports), 120.0)
        assert wait_until(lambda: store.count_incidents() >= 4, 120.0)
        stored = store.report_ids()
    finally:
        close_uplinks(uplinks)
        store.close()
        deployment.stop()
    assert stored == {r.report_id for r in reports}


def test_cluster_secrets_writes_one_private_secret_per_account_and_keeps_them(
    tmp_path: Path,
) -> None:
    sensors = sensor_grid(FRAME, 4, 200.0)
    cluster = ClusterConfig(security=ClusterSecurity(secrets_dir=Path("secrets")))
    site = write_site(tmp_path, sensors, FRAME, FusionConfig(), cluster, "sqlite:///x.db")
    runner = CliRunner()
    first = runner.invoke(app, ["cluster", "secrets", str(site)])
    assert first.exit_code == 0, first.output
    files = sorted((tmp_path / "secrets").iterdir())
    assert [f.name for f in files] == sorted(
        f"{a}.secret" for a in ["central", *(s.id for s in sensors)]
    )
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    before = {f.name: f.read_text() for f in files}
    assert runner.invoke(app, ["cluster", "secrets", str(site)]).exit_code == 0
    assert {f.name: f.read_text() for f in files} == before
    open_site = write_site(
        tmp_path / "open", sensors, FRAME, FusionConfig(), ClusterConfig(), "sqlite:///x.db"
    )
    refused = runner.invoke(app, ["cluster", "secrets", str(open_site)])
    assert refused.exit_code == 2 and "cluster.security is not set" in refused.output
