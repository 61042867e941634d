"""A webhook receiver for the notify tests: a loopback HTTP server that records what it gets,
can start late (on a port reserved before), and answers a scripted status."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def reserve_port() -> int:
    """A free loopback port (nothing listens on it until a `Receiver` starts there)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records POSTs; `status_for(body)` decides the answer (200 by default)."""

    port: int = field(default_factory=reserve_port)
    received: list[Received] = field(default_factory=list)
    status_for: object = None
    _server: ThreadingHTTPServer | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.status_for(body) if callable(receiver.status_for) else 200
                if status == 200:
                    with receiver._changed:
                        receiver.received.append(Received(self.path, dict(self.headers), body))
                        receiver._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Wait until `count` requests were accepted; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.received) >= count, timeout_s)
