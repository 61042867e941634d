"""`ouie models show`: the shipped thresholds can be read as text, and the text does not lie."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ouie.cli import app
from ouie.sensor.head import DEFAULT_HEAD_PATH, DEFAULT_VERIFIER_PATH, Head


def test_models_show_prints_every_shipped_threshold_of_head_and_verifier() -> None:
    result = CliRunner().invoke(app, ["models", "show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for path in (DEFAULT_HEAD_PATH, DEFAULT_VERIFIER_PATH):
        head = Head.load(path)
        assert head.name in result.output
        for event_class, threshold in head.thresholds.items():
            row = next(line for line in result.output.splitlines() if f" {event_class} " in line)
            assert f"{threshold:.2f}" in row
    assert "detector.thresholds" in result.output


def test_the_head_report_states_the_thresholds_the_artefacts_hold() -> None:
    report = json.loads(DEFAULT_HEAD_PATH.with_name("head_report.json").read_text())
    for path in (DEFAULT_HEAD_PATH, DEFAULT_VERIFIER_PATH):
        head = Head.load(path)
        written = report["thresholds"][head.name]
        assert {str(c): t for c, t in head.thresholds.items()} == written
