"""`ouie models pull yamnet` over HTTP as the publisher serves it: a redirect to storage, then a
.tar.gz holding `1.tflite`. A loopback server stands in for Kaggle (no network in tests)."""

from __future__ import annotations

import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ouie.sensor.model_files import YAMNET_SHA256, ModelUnavailableError, pull_yamnet, sha256_of


def archive_of(model: bytes) -> bytes:
    """A .tar.gz with the model as `1.tflite`, as Kaggle Models ships it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("1.tflite")
        info.size = len(model)
        archive.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


@pytest.fixture
def publisher() -> Iterator[tuple[str, dict[str, bytes]]]:
    """(base URL, files served): /download redirects to /storage/model.tar.gz."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/download":
                self.send_response(302)
                self.send_header("Location", "/storage/model.tar.gz")
                self.end_headers()
                return
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *_: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()


def test_the_real_model_is_downloaded_unpacked_and_verified(
    publisher: tuple[str, dict[str, bytes]],
    yamnet_model_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OUIE_CACHE_DIR", str(tmp_path / "cache"))
    base, files = publisher
    files["/storage/model.tar.gz"] = archive_of(yamnet_model_path.read_bytes())
    installed = pull_yamnet(url=f"{base}/download")
    assert installed == tmp_path / "cache" / "models" / "yamnet.tflite"
    assert sha256_of(installed) == YAMNET_SHA256


def test_a_tampered_download_is_refused_and_nothing_is_installed(
    publisher: tuple[str, dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUIE_CACHE_DIR", str(tmp_path / "cache"))
    base, files = publisher
    files["/storage/model.tar.gz"] = archive_of(b"not the model")
    with pytest.raises(ModelUnavailableError, match="does not match"):
        pull_yamnet(url=f"{base}/download")
    assert not (tmp_path / "cache" / "models" / "yamnet.tflite").exists()


def test_a_missing_file_at_the_publisher_says_where_and_how_to_go_on(
    publisher: tuple[str, dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUIE_CACHE_DIR", str(tmp_path / "cache"))
    base, _ = publisher
    with pytest.raises(ModelUnavailableError, match=r"404.*--from-file"):
        pull_yamnet(url=f"{base}/download")
