"""`ouie serve --role ROLE`: one process of a clustered deployment (docs/deployment.md), each
reading the cluster site file (`ouie.cluster.config.ClusterSiteConfig`):

| role   | what runs                                                        | --id               |
| ------ | ---------------------------------------------------------------- | ------------------ |
| broker | a NATS node (JetStream, routes to the others, MQTT listener)     | its host in servers |
| fusion | a fusion worker (cells by lease + rendezvous hashing)            | worker id (unique) |
| writer | a storage writer + the MQTT ingest stage (work queues)           | —                  |
| audit  | an audit appender (appends while it holds the lease)             | appender id        |
| notify | a notifier (sends the alerts while it holds the lease)           | notifier id        |
| console | the operator console on the store, live from the incidents stream | —                 |

`central` (the default) is the single-process service of `ouie serve` and reads a city file.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from ouie.core.config import ConfigError


class Role(StrEnum):
    """What `ouie serve` runs."""

    CENTRAL = "central"
    BROKER = "broker"
    FUSION = "fusion"
    WRITER = "writer"
    AUDIT = "audit"
    NOTIFY = "notify"
    CONSOLE = "console"


NEEDS_ID = frozenset({Role.BROKER, Role.FUSION, Role.AUDIT, Role.NOTIFY})


CONSOLE_HOST, CONSOLE_PORT = "127.0.0.1", 8080
"""Where `--role console` listens unless `--host`/`--port` say otherwise."""


def run_cluster_role(
    role: Role,
    config: Path,
    process_id: str | None,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Run one clustered role until SIGTERM or Ctrl-C (ConfigError when `--id` is missing);
    `host` and `port` are the console's HTTP address."""
    from ouie.cluster import processes

    if role in NEEDS_ID and not process_id:
        raise ConfigError(f"--role {role.value} needs --id (see `ouie serve --help`)")
    if role is Role.BROKER:
        processes.run_broker(config, str(process_id))
    elif role is Role.FUSION:
        processes.run_fusion(config, str(process_id))
    elif role is Role.WRITER:
        processes.run_writer(config)
    elif role is Role.AUDIT:
        processes.run_audit(config, str(process_id))
    elif role is Role.NOTIFY:
        processes.run_notifier(config, str(process_id))
    elif role is Role.CONSOLE:
        from ouie.app.cluster_console import run_console

        run_console(config, host or CONSOLE_HOST, port or CONSOLE_PORT)
    else:
        raise ValueError(f"{role.value} is not a role of a clustered deployment")
