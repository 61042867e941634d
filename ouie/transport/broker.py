"""Mosquitto configuration for a deployment: per-sensor accounts and an ACL so that each sensor
can only publish under its own id, and the central account reads reports and publishes incidents;
each account's client id is its user name, so no account can take another's session.

`write_mosquitto_config` writes `mosquitto.conf`, `passwd` (hashed by `mosquitto_passwd -U`) and
`acl` into a folder; the test fixtures and `bench/mqtt_throughput.py` use it, and so can an
installer (copy the files to /etc/mosquitto).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from ouie.transport.mqtt import BrokerSettings, TlsConfig
from ouie.transport.topics import ALL_SENSORS_FILTER, INCIDENTS_TOPIC, reports_topic, status_topic

CENTRAL_USER = "central"
BROKER_USER = "mosquitto"
"""The system user Mosquitto drops to when started by root (Debian, Alpine, the docker image)."""
MESSAGE_SIZE_LIMIT_BYTES = 256 * 1024
"""The largest message the broker takes, bytes (larger ones are acknowledged and dropped, never
held nor forwarded). Reports are at most `MAX_REPORT_BYTES` (16 KiB); the largest messages are
incidents, about 40 bytes per report id they list."""


def acl_text(central_user: str = CENTRAL_USER) -> str:
    """The Mosquitto ACL, built from the topic functions of `ouie.transport.topics`: a sensor
    (user name = sensor id, `%u`) only publishes its own reports and status; the central reads
    every sensor topic and reads and writes incidents."""
    return "\n".join(
        [
            "# Written by ouie.transport.broker. Sensors (user name = sensor id) publish only "
            "their own topics.",
            f"pattern write {reports_topic('%u')}",
            f"pattern write {status_topic('%u')}",
            "",
            f"user {central_user}",
            f"topic read {ALL_SENSORS_FILTER}",
            f"topic readwrite {INCIDENTS_TOPIC}",
            "",
        ]
    )


def mosquitto_binary() -> str | None:
    """Path of the mosquitto broker, or None when it is not installed."""
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


@dataclass(frozen=True)
class ListenerTls:
    """The broker's side of TLS: its certificate and key (PEM), and the CA that clients trust
    (and, with `require_client_certificate`, that signs the clients' certificates)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_client_certificate: bool = False


def write_mosquitto_config(
    folder: Path,
    port: int,
    accounts: Mapping[str, str],
    bind_address: str = "127.0.0.1",
    central_user: str = CENTRAL_USER,
    persistence: bool = True,
    keep_current_user: bool = False,
    tls: ListenerTls | None = None,
) -> Path:
    """Write conf, password and ACL files for `accounts` (user → password) into `folder`.

    Returns the path of `mosquitto.conf`. Passwords are stored hashed (PBKDF2-SHA512) by
    `mosquitto_passwd -U`. `keep_current_user` (tests, benchmarks) stops a broker started by root
    from dropping to the `mosquitto` user, so that it can read files in a private temp folder.
    With `tls` the listener speaks only TLS (≥ 1.2); the password login still applies.
    Client ids are bound to accounts (`use_username_as_clientid`): the id a client asks for is
    replaced by its user name, so a sensor cannot take the central's session.
    """
    folder = folder.resolve()  # mosquitto.conf names its files absolutely: any working folder
    folder.mkdir(parents=True, exist_ok=True)
    passwd = folder / "passwd"
    passwd.write_text("".join(f"{user}:{password}\n" for user, password in accounts.items()))
    passwd.chmod(0o600)
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True)
    acl = folder / "acl"
    acl.write_text(acl_text(central_user))
    lines = [f"listener {port} {bind_address}"]
    if tls is not None:
        lines += [
            f"cafile {tls.ca_file}",
            f"certfile {tls.cert_file}",
            f"keyfile {tls.key_file}",
            "tls_version tlsv1.2",
            f"require_certificate {str(tls.require_client_certificate).lower()}",
        ]
    lines += [
        "allow_anonymous false",
        # The broker takes each client's user name as its client id: an account can only ever
        # hold its own session, so no sensor can take over (disconnect) the central's session
        # or another sensor's. One connection per account; a second one replaces the first.
        "use_username_as_clientid true",
        f"password_file {passwd}",
        f"acl_file {acl}",
        f"message_size_limit {MESSAGE_SIZE_LIMIT_BYTES}",
        "max_queued_messages 1000000",
        "max_inflight_messages 0",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    if persistence:
        lines += ["persistence true", f"persistence_location {folder}/"]
    if keep_current_user and os.geteuid() == 0:
        lines.append("user root")
    conf = folder / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    if not keep_current_user:
        hand_to_broker_user(folder, passwd, acl)
    return conf


def hand_to_broker_user(folder: Path, *files: Path, user: str = BROKER_USER) -> bool:
    """Run as root, give `folder` (persistence) and `files` (password file, ACL; mode 0600
    kept) to `user`: Mosquitto started by root drops to that user *before* it reads them, so
    root-owned 0600 files would be unreadable and every login refused. True when handed over;
    False when not root or there is no such user (the broker then keeps its own user)."""
    if os.geteuid() != 0:
        return False
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return False
    for path in (folder, *files):
        os.chown(path, account.pw_uid, account.pw_gid)
    return True


def provision_accounts(secrets_dir: Path, users: list[str]) -> dict[str, str]:
    """A password per user, kept in `secrets_dir/<user>.secret` (mode 0600): existing ones are
    reused, missing ones drawn at random (192 bits). Returns user → password."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir.chmod(0o700)
    accounts = {}
    for user in users:
        path = secrets_dir / f"{user}.secret"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
        accounts[user] = path.read_text(encoding="utf-8").strip()
    return accounts


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class LocalMosquitto:
    """A Mosquitto broker on loopback in `folder`, for tests, benchmarks and demos.

    `start()` waits until the port accepts connections; `stop()` ends it (persisted sessions and
    queued messages survive a stop/start, as on a real broker restart).
    """

    def __init__(
        self,
        folder: Path,
        accounts: Mapping[str, str],
        port: int | None = None,
        tls: ListenerTls | None = None,
    ) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary, self.folder, self.accounts, self.tls = binary, folder, dict(accounts), tls
        self.host, self.port = "127.0.0.1", port or free_port()
        self.conf = self._write_config()
        self._process: subprocess.Popen[bytes] | None = None
        self._port_fixed = port is not None

    def _write_config(self) -> Path:
        """Write the broker's files for the current port; the path of mosquitto.conf."""
        return write_mosquitto_config(
            self.folder, self.port, self.accounts, keep_current_user=True, tls=self.tls
        )

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and wait until it listens.

        Ports are drawn free but another program may take one first: a broker that cannot bind
        exits at once, so it must still run a moment after the port answers; when the port was
        drawn here and is taken, a new one is drawn (at the first start only).
        """
        for _attempt in range(5):
            if self._start_once(timeout_s):
                return
            if self._port_fixed:
                break
            self.port = free_port()
            self.conf = self._write_config()
        log_text = (self.folder / "mosquitto.log").read_text(errors="replace")
        raise RuntimeError(f"mosquitto could not start on port {self.port}: {log_text[-2000:]}")

    def _start_once(self, timeout_s: float) -> bool:
        """One start on `self.port`; False when the broker exited (port taken)."""
        with (self.folder / "mosquitto.log").open("ab") as log_file:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.conf)], stdout=log_file, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            with socket.socket() as probe:
                if probe.connect_ex((self.host, self.port)) == 0:
                    time.sleep(0.3)  # a broker that failed to bind has exited by now
                    if self._process.poll() is not None:
                        return False
                    self._port_fixed = True  # restarts keep the port, as a real broker does
                    return True
            time.sleep(0.02)
        raise TimeoutError(f"mosquitto did not listen on {self.host}:{self.port}")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, so it saves its persistence file)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def settings(self, user: str) -> BrokerSettings:
        """Connection settings for one of the accounts (trusting the broker's CA with TLS)."""
        return BrokerSettings(
            host=self.host,
            port=self.port,
            tls=TlsConfig(ca_file=self.tls.ca_file) if self.tls is not None else None,
            username=user,
            password=SecretStr(self.accounts[user]),
        )
