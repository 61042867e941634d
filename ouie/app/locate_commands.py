"""Command-line commands of ouie.fusion (registered by ouie.cli): `ouie locate`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ouie.app.locate import Detect
    from ouie.core.geo import LocalFrame
    from ouie.core.incident import Incident
    from ouie.core.recording import RecordingFolder
    from ouie.core.report import EventReport
    from ouie.fusion.evaluation import Evaluation
    from ouie.fusion.multilateration import Array


def locate(
    recording_dir: Annotated[Path, typer.Argument(help="A recording folder (docs/design.md).")],
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per incident on stdout.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG: map, ellipses and error CDF.")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="Detector backend: auto, yamnet or builtin.")
    ] = "auto",
    model: Annotated[Path | None, typer.Option(help="YAMNet .tflite file.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML with a FusionConfig.")] = None,
    temperature_c: Annotated[
        float | None, typer.Option(help="Air temperature (sets c), °C; overrides --config.")
    ] = None,
) -> None:
    """Detect events in every sensor's audio, fuse them into located incidents and print them;
    with truth.json, also the error statistics. Exit code 1 when a sensor's audio could not be
    read (the others are still used), 2 on unusable input."""
    from rich.console import Console

    from ouie.app.locate import detect_recording, frame_for, fuse_reports
    from ouie.core.config import ConfigError, load_yaml_config
    from ouie.core.recording import RecordingFolder, RecordingFormatError
    from ouie.fusion.config import FusionConfig

    err = _wide(Console(stderr=True))
    try:
        folder = RecordingFolder.read(recording_dir)
        fusion = load_yaml_config(config, FusionConfig) if config else FusionConfig()
    except (RecordingFormatError, ConfigError) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    if temperature_c is not None:
        fusion = fusion.model_copy(update={"air_temperature_c": temperature_c})
    detect = _detector(backend, model, err)
    failed: list[str] = []

    def report_failure(sensor_id: str, error: Exception) -> None:
        failed.append(sensor_id)
        err.print(f"[red]error:[/red] sensor {sensor_id}: {error}")

    reports = detect_recording(folder, detect, report_failure)
    frame = frame_for(folder.sensors)
    incidents, associator = fuse_reports(reports, folder.sensors, frame, fusion)
    err.print(
        f"{len(reports)} reports from {len(folder.sensors) - len(failed)} sensors → "
        f"{len(incidents)} incidents (c = {fusion.speed_of_sound_mps:.1f} m/s)"
    )
    if json_lines:
        for incident in incidents:
            print(incident.to_json())
    else:
        _wide(Console()).print(_incident_table(incidents))
    evaluation = None
    if folder.truth is not None:
        evaluation = _evaluate(incidents, folder, frame, reports, associator.positions_enu_m)
        err.print(_evaluation_table(evaluation))
    if plot is not None:
        from ouie.fusion.plot import plot_incidents

        plot_incidents(
            plot,
            associator.positions_enu_m,
            incidents,
            frame,
            folder.truth,
            evaluation,
            title=folder.path.name,
        )
        err.print(f"plot written to {plot}")
    if failed:
        raise typer.Exit(1)


def _wide(console: Console) -> Console:
    """A console at least 110 columns wide, so the tables stay legible when piped (rich
    assumes 80 columns without a terminal)."""
    if console.width < 110:
        console.width = 110
    return console


def _detector(backend: str, model: Path | None, err: Console) -> Detect:
    """The sensor pipeline as a `Detect`; exits with code 2 and a clear message if unusable."""
    from ouie.app.locate import detector_config, sensor_detector
    from ouie.core.config import ConfigError

    try:
        detect, name = sensor_detector(detector_config(backend, model))
    except (ConfigError, RuntimeError, OSError) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    err.print(f"detector: {name}")
    return detect


def _incident_table(incidents: list[Incident]) -> Table:
    """One row per incident, for a person."""
    from rich.table import Table

    table = Table("onset (UTC)", "class", "status", "lat", "lon", "±95 % m", "sensors", "score")
    for incident in incidents:
        rejected = f" (−{len(incident.sensors_rejected)})" if incident.sensors_rejected else ""
        table.add_row(
            incident.onset_utc[11:23],
            incident.class_.value,
            incident.status.value,
            f"{incident.lat:.6f}" if incident.lat is not None else "—",
            f"{incident.lon:.6f}" if incident.lon is not None else "—",
            f"{incident.uncertainty_m:.1f}" if incident.uncertainty_m is not None else "—",
            f"{incident.n_sensors}{rejected}",
            f"{incident.score:.2f}",
        )
    return table


def _evaluate(
    incidents: list[Incident],
    folder: RecordingFolder,
    frame: LocalFrame,
    reports: list[EventReport],
    positions: dict[str, Array],
) -> Evaluation:
    """Incidents against the folder's truth, with both baselines on the same reports."""
    from ouie.fusion.baselines import energy_centroid_en_m, loudest_sensor_en_m
    from ouie.fusion.evaluation import evaluate

    return evaluate(
        incidents,
        folder.truth or [],
        frame,
        {r.report_id: r for r in reports},
        positions,
        {"loudest_sensor": loudest_sensor_en_m, "energy_centroid": energy_centroid_en_m},
    )


def _evaluation_table(evaluation: Evaluation) -> Table:
    """Fusion and baselines side by side, with detection rate and ellipse coverage."""
    from rich.table import Table

    def metres(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    table = Table("method", "located", "median m", "p90 m", "max m", title="against truth.json")
    errors = evaluation.errors
    table.add_row(
        "fusion (TDOA)",
        f"{evaluation.fixed}/{evaluation.alerting_events}",
        metres(errors.median_m),
        metres(errors.p90_m),
        metres(errors.max_m),
    )
    for name, stats in evaluation.baselines.items():
        table.add_row(
            name.replace("_", " "),
            f"{stats.n}/{evaluation.alerting_events}",
            metres(stats.median_m),
            metres(stats.p90_m),
            metres(stats.max_m),
        )
    coverage = "—" if evaluation.coverage95 is None else f"{evaluation.coverage95:.0%}"
    table.caption = (
        f"alerting events detected {evaluation.detection_rate:.0%}, "
        f"located {evaluation.fix_rate:.0%}; "
        f"truth inside the 95 % ellipse {coverage}; {evaluation.false_incidents} alerting "
        "incidents match no true event"
    )
    return table


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.command()(locate)
