"""The sensor loop and its commands: file source → JSON-line reports; bad config named; model
pull with SHA-256 check; `ouie detect` on good and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from ouie.audio.io import SAMPLE_RATE_HZ
from ouie.audio.sources import FileSource
from ouie.cli import app
from ouie.core.report import EventReport
from ouie.core.timebase import iso_to_ns
from ouie.sensor.example import EXAMPLE_IMPULSE_S, write_example
from ouie.sensor.model_files import YAMNET_SHA256, ModelUnavailableError, pull_yamnet

runner = CliRunner()


def test_file_source_stamps_blocks_exactly_from_the_sample_count(tmp_path: Path) -> None:
    path = write_example(tmp_path / "scene.wav")
    start = iso_to_ns("2026-11-25T18:00:00Z")
    blocks = list(FileSource(path, start, block_s=0.3, realtime=False).blocks())
    block = round(0.3 * SAMPLE_RATE_HZ)
    assert [b.start_ns for b in blocks] == [start + i * block * 62_500 for i in range(len(blocks))]
    assert sum(len(b.samples) for b in blocks) == 8 * SAMPLE_RATE_HZ


def test_ouie_sensor_writes_json_line_reports_with_utc_onsets(tmp_path: Path) -> None:
    wav = write_example(tmp_path / "scene.wav")
    out = tmp_path / "reports.jsonl"
    config = tmp_path / "sensor.yaml"
    config.write_text(
        f"sensor_id: s-07\nsource: {{kind: file, path: {wav}, start_utc: '2026-11-25T18:00:00Z'}}\n"
        f"detector: {{backend: builtin}}\noutput: {out}\nblock_s: 0.25\n"
    )
    result = runner.invoke(app, ["sensor", "--config", str(config)])
    assert result.exit_code == 0, result.output
    reports = [EventReport.from_json(line) for line in out.read_text().splitlines()]
    assert [r.seq for r in reports] == list(range(len(reports)))
    assert {r.sensor_id for r in reports} == {"s-07"}
    assert {r.schema_ for r in reports} == {"ouie.report/2"}  # the contract version it speaks
    assert all(r.envelope is None for r in reports)  # it fills no envelope
    impulse_ns = iso_to_ns("2026-11-25T18:00:00Z") + round(EXAMPLE_IMPULSE_S * 1e9)
    assert min(abs(r.onset_ns - impulse_ns) for r in reports) <= 2 * 62_500


def test_a_bad_sensor_config_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "sensor.yaml"
    config.write_text("sensor_id: s-1\nsource: {kind: file, path: x.wav}\ndetector: {hop_s: 2}\n")
    result = runner.invoke(app, ["sensor", "--config", str(config)])
    assert result.exit_code == 2
    assert "detector.hop_s" in result.output


def test_detect_reports_bad_files_and_goes_on(tmp_path: Path) -> None:
    good = write_example(tmp_path / "good.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.flac").write_bytes(b"not audio at all")
    result = runner.invoke(app, ["detect", "--json", "--backend", "builtin", str(tmp_path)])
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert rows and {r["file"] for r in rows} == {str(good)}
    assert {"file", "class", "score", "start_s", "end_s", "onset_s", "peak_dbfs"} <= set(rows[0])
    assert "empty.wav" in result.stderr and "junk.flac" in result.stderr


def test_detect_example_works_without_any_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OUIE_CACHE_DIR", str(tmp_path))
    result = runner.invoke(app, ["detect", "--example", "--json"])
    assert result.exit_code == 0, result.output
    assert "FALLBACK" in result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert any(abs(r["onset_s"] - EXAMPLE_IMPULSE_S) < 0.001 for r in rows)


def test_backend_yamnet_without_a_model_says_how_to_get_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OUIE_CACHE_DIR", str(tmp_path))
    result = runner.invoke(app, ["detect", "--example", "--backend", "yamnet"])
    assert result.exit_code == 2
    assert "ouie models pull yamnet" in result.stderr


def test_pull_from_a_local_file_checks_sha256(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OUIE_CACHE_DIR", str(tmp_path / "cache"))
    impostor = tmp_path / "yamnet.tflite"
    impostor.write_bytes(b"not the model")
    with pytest.raises(ModelUnavailableError, match="does not match"):
        pull_yamnet(from_file=impostor)
    assert not (tmp_path / "cache" / "models" / "yamnet.tflite").exists()


def test_pull_offline_gives_a_clear_message(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OUIE_CACHE_DIR", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="--from-file"):
        pull_yamnet(url="http://127.0.0.1:9/yamnet.tflite")


def test_pull_installs_the_real_model(tmp_path: Path, monkeypatch, yamnet_model_path: Path) -> None:
    monkeypatch.setenv("OUIE_CACHE_DIR", str(tmp_path))
    installed = pull_yamnet(from_file=yamnet_model_path)
    assert installed == tmp_path / "models" / "yamnet.tflite"
    import hashlib

    assert hashlib.sha256(installed.read_bytes()).hexdigest() == YAMNET_SHA256


def test_short_and_silent_files_give_no_events(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(str(path), np.zeros(4000, np.float32), 16_000)
    result = runner.invoke(app, ["detect", "--json", "--backend", "builtin", str(path)])
    assert result.exit_code == 0
    assert not [line for line in result.stdout.splitlines() if line.startswith("{")]
