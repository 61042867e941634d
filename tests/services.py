"""Real servers for the tests, on loopback, on free ports, in temporary folders: Mosquitto and
PostgreSQL. Each fixture skips with the reason when the program is not installed
(`scripts/system-deps.sh` installs them). Registered from tests/conftest.py."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from ouie.transport.broker import (
    CENTRAL_USER,
    ListenerTls,
    LocalMosquitto,
    free_port,
    mosquitto_binary,
)

SENSOR_ACCOUNTS = [f"s{i}" for i in range(1, 9)]
"""Sensor ids that have broker accounts in the `mosquitto` fixture (user = id, password 'pw-id')."""


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[LocalMosquitto]:
    """A running Mosquitto with accounts `central` and s1…s8 and the ouie ACL; stopped after."""
    if mosquitto_binary() is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    accounts = {name: f"pw-{name}" for name in [CENTRAL_USER, *SENSOR_ACCOUNTS]}
    broker = LocalMosquitto(tmp_path / "mosquitto", accounts)
    broker.start()
    yield broker
    broker.stop()


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> Path:
    """A throw-away self-signed CA (EC P-256, valid 1 day) in `folder`: `<name>.crt/.key`."""
    _openssl(
        folder,
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
        *("-nodes", "-days", "1", "-subj", f"/CN=ouie test {name}"),
        *("-keyout", f"{name}.key", "-out", f"{name}.crt"),
    )
    return folder / f"{name}.crt"


def make_signed_cert(folder: Path, name: str, extensions: str) -> tuple[Path, Path]:
    """A key and a certificate for `name` signed by the CA `ca.crt` in `folder`, with the
    given X.509 v3 `extensions` (openssl -extfile syntax); (cert, key) paths."""
    _openssl(
        folder,
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr"),
    )
    (folder / f"{name}.ext").write_text(extensions + "\n")
    _openssl(
        folder,
        *("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key"),
        *("-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.crt"),
    )
    return folder / f"{name}.crt", folder / f"{name}.key"


def make_broker_tls(folder: Path, require_client_certificate: bool = False) -> ListenerTls:
    """A CA and a broker certificate it signs for 127.0.0.1 / localhost (openssl CLI)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_file = make_ca(folder, "ca")
    cert, key = make_signed_cert(folder, "broker", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    return ListenerTls(ca_file, cert, key, require_client_certificate)


@pytest.fixture
def tls_mosquitto(tmp_path: Path) -> Iterator[LocalMosquitto]:
    """A running Mosquitto like `mosquitto`, whose listener speaks only TLS, with a CA and
    broker certificate made for the test (`broker.tls.ca_file` is the CA to trust)."""
    if mosquitto_binary() is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (apt-get install openssl)")
    accounts = {name: f"pw-{name}" for name in [CENTRAL_USER, *SENSOR_ACCOUNTS]}
    tls = make_broker_tls(tmp_path / "pki")
    broker = LocalMosquitto(tmp_path / "mosquitto-tls", accounts, tls=tls)
    broker.start()
    yield broker
    broker.stop()


class PostgresServer:
    """A throw-away PostgreSQL cluster (trust auth on 127.0.0.1, fsync off)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="ouie-pg-"))
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.log_path = Path(tempfile.mkdtemp(prefix="ouie-pg-log-")) / "postgres.log"
        for _attempt in range(5):  # a drawn port can be taken by another program first
            if self._start():
                return
            self.port = free_port()
        raise RuntimeError(f"postgres did not start: {self.log_path.read_text()[-2000:]}")

    def _start(self, timeout_s: float = 30.0) -> bool:
        """Start on `self.port` and wait until this very server answers (its data directory);
        False when it exited (port taken). The log goes to a file: a pipe nobody reads would
        fill with the server's error lines and stall it."""
        import psycopg

        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                [
                    *self._as_postgres,
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.data_dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "synchronous_commit=off",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=1) as connection:
                    row = connection.execute("SHOW data_directory").fetchone()
                if row is not None and Path(row[0]).resolve() == self.data_dir.resolve():
                    return True
            except psycopg.OperationalError:
                pass
            time.sleep(0.1)
        raise TimeoutError(
            f"postgres did not accept connections: {self.log_path.read_text()[-2000:]}"
        )

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self._as_postgres, str(self.bin_dir / program), *args],
            check=True,
            capture_output=True,
        )

    def dsn(self, database: str) -> str:
        """libpq connection string for `database`."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its SQLAlchemy URL (psycopg 3)."""
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def pause(self) -> None:
        """Stop the server (fast shutdown: clients disconnected), keeping its data."""
        if self._process.poll() is None:
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w")
            self._process.wait(timeout=30)

    def resume(self) -> None:
        """Start the paused server again on the same port."""
        if not self._start():
            raise RuntimeError(f"postgres did not restart: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop the server and delete its files."""
        self.pause()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.log_path.parent, ignore_errors=True)


def _postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def _new_postgres_server() -> PostgresServer:
    """Start a PostgreSQL server; skips the test when it cannot run here."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql)")
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        pytest.skip("running as root needs the 'postgres' user and runuser to start PostgreSQL")
    return PostgresServer(bin_dir)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; skips when not installed."""
    server = _new_postgres_server()
    yield server
    server.stop()


@pytest.fixture
def own_postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for one test, which may pause and resume it (a database outage)."""
    server = _new_postgres_server()
    yield server
    server.stop()


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


_database_numbers = count(1)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh empty database on the session's server, as a `postgresql+psycopg://` URL."""
    return postgres_server.create_database(f"ouie_test_{os.getpid()}_{next(_database_numbers)}")
