"""`ouie models show` and the shipped operating point: the thresholds the sensor runs can be read
as text, live in one place (`ouie.sensor.config.SHIPPED_OPERATING_POINT`), and the text, the
head file and its report do not contradict each other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ouie.cli import app
from ouie.core.classes import EventClass
from ouie.sensor.backends import load_head
from ouie.sensor.config import SHIPPED_OPERATING_POINT, DetectorConfig
from ouie.sensor.head import DEFAULT_HEAD_PATH, Head
from ouie.sensor.model_files import ModelUnavailableError

REPORT = json.loads(DEFAULT_HEAD_PATH.with_name("head_report.json").read_text())


def test_models_show_prints_every_threshold_the_sensor_runs() -> None:
    result = CliRunner().invoke(app, ["models", "show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    head = load_head(DetectorConfig())
    assert head is not None and head.name in result.output
    for event_class, threshold in head.thresholds.items():
        row = next(line for line in result.output.splitlines() if f" {event_class} " in line)
        assert f"{threshold:.2f}" in row
    assert "SHIPPED_OPERATING_POINT" in result.output
    assert "detector.thresholds" in result.output
    assert f"reads {head.embedding_transform} of YAMNet's embedding" in result.output
    assert all(f"{c} {a:g}" in result.output for c, a in head.prior.items())


def test_the_shipped_operating_point_is_the_one_chosen_on_held_out_sources() -> None:
    """Config, head file and report agree; the report says the thresholds were chosen on
    held-out predictions only, and the sensor runs the shipped head at them."""
    point = REPORT["operating_point"]
    assert "held-out predictions only" in point["chosen_on"]
    assert {str(c): t for c, t in SHIPPED_OPERATING_POINT.items()} == {
        c: t for c, t in point["thresholds"].items() if EventClass(c) in SHIPPED_OPERATING_POINT
    }
    shipped = Head.load(DEFAULT_HEAD_PATH)
    assert {c: shipped.thresholds[c] for c in SHIPPED_OPERATING_POINT} == SHIPPED_OPERATING_POINT
    assert REPORT["thresholds"][shipped.name] == {str(c): t for c, t in shipped.thresholds.items()}
    runs = load_head(DetectorConfig())
    assert runs is not None
    for event_class, threshold in SHIPPED_OPERATING_POINT.items():
        assert runs.thresholds[event_class] == threshold


def test_another_head_file_runs_at_its_own_thresholds(tmp_path: Path) -> None:
    shipped = Head.load(DEFAULT_HEAD_PATH)
    own = {**shipped.thresholds, EventClass.GUNSHOT: 0.42}
    shipped.retuned(own, name="custom").save(tmp_path / "head.npz")
    runs = load_head(DetectorConfig(head_path=tmp_path / "head.npz"))
    assert runs is not None and runs.thresholds[EventClass.GUNSHOT] == 0.42


def test_the_report_names_every_source_with_its_licence() -> None:
    sources = REPORT["sources"]
    assert sum(s["clips"] for s in sources.values()) == REPORT["clips"]
    assert all(s["licence"] for s in sources.values())
    assert "non-commercial" in REPORT["licence_caveat"]


def test_a_truncated_or_foreign_head_file_is_refused_by_name(tmp_path: Path) -> None:
    """A head file cut short (a copy that died half-way) or an .npz without a head's arrays
    gives one line naming the file, exit code 2, never a traceback; the sensor's loader raises
    ModelUnavailableError, which `ouie sensor` and `ouie demo` report the same way."""
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(DEFAULT_HEAD_PATH.read_bytes()[:1000])
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, labels=np.array(["gunshot", "none"]))
    for path in (truncated, foreign):
        result = CliRunner().invoke(app, ["models", "show", "--head", str(path)])
        assert result.exit_code == 2, result.output
        assert f"{path}: not a readable ouie head file" in result.output
        assert "Traceback" not in result.output
        with pytest.raises(ModelUnavailableError, match="not a readable ouie head file"):
            load_head(DetectorConfig(head_path=path))
