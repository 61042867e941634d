"""The options that choose the simulated street sensors' detector, shared by the benches that
render an evening or an hour through the sensors (operator_view, alerting_events,
false_alarms_per_hour, e2e_latency)."""

from __future__ import annotations

import argparse


def add_input_gain_option(parser: argparse.ArgumentParser) -> None:
    """--input-gain-db (default: what `ouie demo` sets from the scenario's microphone)."""
    parser.add_argument(
        "--input-gain-db",
        type=float,
        default=None,
        help="the sensors' DetectorConfig.input_gain_db (default: from the scenario's "
        "microphone, as `ouie demo` sets it)",
    )


def add_detector_options(parser: argparse.ArgumentParser) -> None:
    """--profile, --input-gain-db and --rules (their defaults: what `ouie demo` runs)."""
    parser.add_argument(
        "--profile",
        default=None,
        choices=["street", "recording"],
        help="the sensors' detector profile (default: street, as `ouie demo` runs them)",
    )
    add_input_gain_option(parser)
    parser.add_argument(
        "--rules",
        default=None,
        help="JSON of DetectorConfig fields to change (thresholds, min_windows, "
        "candidate_threshold...): the decision rules re-run over YAMNet's remembered window "
        "scores (bench/window_cache.py), in seconds once the audio was scored",
    )
