"""Model files: where YAMNet is looked for, and `ouie models pull yamnet` (download from the
publisher, SHA-256 verified, into the user's cache)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

YAMNET_SHA256 = "687f226c147a2caab4706fbbab5e9cecb14b9a368264bf61108078b1fddf68f5"
"""SHA-256 of YAMNet's TFLite model (Kaggle: google/yamnet/tfLite/classification-tflite/1)."""
YAMNET_URL = (
    "https://www.kaggle.com/api/v1/models/google/yamnet/tfLite/classification-tflite/1/download"
)
"""The publisher's download of that model (TF Hub's YAMNet moved to Kaggle Models)."""
YAMNET_FILE = "yamnet.tflite"


class ModelUnavailableError(RuntimeError):
    """No usable model file; the message says how to get one."""


def cache_dir() -> Path:
    """`$OUIE_CACHE_DIR`, else `$XDG_CACHE_HOME/ouie`, else `~/.cache/ouie`."""
    if explicit := os.environ.get("OUIE_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ouie"


def cached_yamnet_path() -> Path:
    """Where `ouie models pull yamnet` puts the model."""
    return cache_dir() / "models" / YAMNET_FILE


def find_yamnet(model_path: Path | None) -> Path | None:
    """The configured file if given (must exist), else the cached one if present."""
    if model_path is not None:
        if not Path(model_path).is_file():
            raise ModelUnavailableError(f"{model_path}: no such model file")
        return Path(model_path)
    cached = cached_yamnet_path()
    return cached if cached.is_file() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def install_verified(candidate: Path, expected_sha256: str, destination: Path) -> Path:
    """Copy `candidate` to `destination` if its SHA-256 matches; raise otherwise."""
    actual = sha256_of(candidate)
    if actual != expected_sha256:
        raise ModelUnavailableError(
            f"{candidate}: SHA-256 {actual} does not match the expected {expected_sha256}; "
            "refusing to install it"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(candidate, destination)
    return destination


def pull_yamnet(from_file: Path | None = None, url: str = YAMNET_URL) -> Path:
    """Fill the cache with YAMNet, from a local file or the publisher, checking SHA-256.

    Kaggle serves the model as a .tar.gz holding `1.tflite`, or the bare .tflite; both are
    accepted."""
    destination = cached_yamnet_path()
    if from_file is not None:
        return install_verified(Path(from_file), YAMNET_SHA256, destination)
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        download = Path(tmp) / "download"
        try:
            with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response:
                response.raise_for_status()
                with download.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as error:
            raise ModelUnavailableError(
                f"could not download YAMNet from {url} ({error}). Offline? Get the file "
                f"(SHA-256 {YAMNET_SHA256}) another way and run "
                "`ouie models pull yamnet --from-file PATH`, or pass `--model PATH`."
            ) from None
        return install_verified(_unpack_tflite(download, Path(tmp)), YAMNET_SHA256, destination)


def _unpack_tflite(download: Path, workdir: Path) -> Path:
    """The .tflite inside a downloaded archive (or the download itself)."""
    import tarfile

    if not tarfile.is_tarfile(download):
        return download
    with tarfile.open(download) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.endswith(".tflite")]
        if not members:
            raise ModelUnavailableError("the downloaded archive holds no .tflite file")
        archive.extract(members[0], workdir, filter="data")
        return workdir / members[0].name
