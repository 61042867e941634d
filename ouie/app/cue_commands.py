"""Command-line commands of the camera desk (registered by ouie.cli): `ouie cue`, which plans a
cue for a place and can send it to the scenario's virtual cameras or to the configured ones."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from ouie.cameras.config import CameraConfig, CamerasConfig
    from ouie.cameras.cueing import CueOutcome
    from ouie.cameras.planning import BuildingShape, CueDecision, CueTarget
    from ouie.core.audit import AuditEvent, AuditSink
    from ouie.sim.scenario import Scenario


def _cameras_config(
    world: Scenario,
    cameras_file: Path | None,
    mode: str | None,
    legal_basis: str | None,
    dpia: str | None,
) -> CamerasConfig:
    """The scenario's cameras configuration (see `load_cameras_config`); cue mode options
    override the file's, validated by the same rules (auto needs a legal basis and a DPIA)."""
    from ouie.core.config import validate_config
    from ouie.sim.cameras.sites import load_cameras_config

    config = load_cameras_config(world, cameras_file)
    cueing = config.cueing.model_dump(exclude_none=True)
    overrides = {"mode": mode, "legal_basis": legal_basis, "dpia": dpia}
    cueing |= {key: value for key, value in overrides.items() if value is not None}
    return config.model_copy(
        update={"cueing": validate_config(cueing, type(config.cueing), "cueing options")}
    )


def _options_table(decision: CueDecision) -> object:
    """A rich table of every camera considered: verdict, angles, ONVIF units, masks, quality."""
    from rich.table import Table

    table = Table(title=f"Cue for ({decision.target.lat:.6f}, {decision.target.lon:.6f})")
    for column in ("camera", "usable", "pan °", "tilt °", "hfov °", "ONVIF x, y, zoom"):
        table.add_column(column, justify="right" if "°" in column else "left")
    for column in ("distance m", "masks", "quality", "reason"):
        table.add_column(column)
    chosen = decision.plan.camera_id if decision.plan else None
    for option in decision.options:
        plan = option.plan
        style = "bold green" if option.camera_id == chosen else None
        numbers = (
            [
                f"{plan.pan_deg:+.1f}",
                f"{plan.tilt_deg:+.1f}",
                f"{plan.hfov_deg:.1f}",
                f"{plan.onvif_pan:+.4f}, {plan.onvif_tilt:+.4f}, {plan.onvif_zoom:.4f}",
                f"{plan.distance_m:.0f}",
                plan.mask_decision.value,
                f"{plan.quality:.2f}",
            ]
            if plan
            else [
                "",
                "",
                "",
                "",
                "",
                option.mask_decision.value if option.mask_decision else "",
                "",
            ]
        )
        table.add_row(
            option.camera_id + (" ◀" if option.camera_id == chosen else ""),
            "yes" if option.usable else "no",
            *numbers,
            option.reason,
            style=style,
        )
    return table


def _print_audit(console: Console, events: list[AuditEvent]) -> None:
    """The audit events of this run, one line each."""
    from rich.table import Table

    from ouie.core.timebase import ns_to_iso

    table = Table(title="Audit events")
    for column in ("at (UTC)", "action", "actor", "subject", "details"):
        table.add_column(column)
    for event in events:
        shown = {k: v for k, v in event.details.items() if k not in {"plan", "target"}}
        table.add_row(ns_to_iso(event.at_ns), event.action, event.actor, event.subject, str(shown))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the camera desk's command to the `ouie` app."""
    app.command("cue")(cue)


def cue(
    lat: float = typer.Option(..., help="Latitude of the incident, degrees WGS84."),
    lon: float = typer.Option(..., help="Longitude of the incident, degrees WGS84."),
    radius_m: float = typer.Option(10.0, help="Uncertainty radius to frame, m."),
    scenario: str = typer.Option("saint-etienne", help="Built-in scenario name or YAML path."),
    cameras: Path | None = typer.Option(
        None,
        help="Cameras YAML (cueing, cameras, masks); default: the scenario's built-in one, "
        "or its camera sites with cueing off.",
    ),
    incident_class: str = typer.Option("gunshot", "--class", help="Class of the incident."),
    mode: str | None = typer.Option(None, help="Cue mode override: off, suggest or auto."),
    legal_basis: str | None = typer.Option(None, help="Legal basis (needed by auto)."),
    dpia: str | None = typer.Option(None, help="Impact assessment reference (auto)."),
    execute: bool = typer.Option(False, help="Send the cue to the camera (mode rules apply)."),
    approved_by: str | None = typer.Option(
        None, help="In suggest mode, the person approving this move (audited)."
    ),
    real: bool = typer.Option(
        False, help="Use the configured ONVIF cameras instead of virtual ones."
    ),
    snapshot: Path | None = typer.Option(None, help="Save the camera's PNG after the move."),
    plot: Path | None = typer.Option(None, help="Save a map of the cue as a PNG."),
    as_json: bool = typer.Option(False, "--json", help="Print the decision as JSON."),
    db: str | None = typer.Option(
        None,
        "--db",
        help="Database URL (sqlite:///ouie.db, ...) whose hash-chained audit trail records "
        "the cue; required with --real.",
    ),
) -> None:
    """Which camera to turn toward a place, with pan/tilt/zoom in degrees and ONVIF units and
    the privacy-mask decision; --execute sends it and prints the confirmed position."""
    from rich.console import Console

    from ouie.cameras.config import CueMode
    from ouie.cameras.onvif_client import CameraError
    from ouie.cameras.planning import SEVERITY, CueTarget, buildings_enu, plan_cue
    from ouie.core.classes import EventClass
    from ouie.core.config import ConfigError
    from ouie.sim.scenario import load_scenario

    console = Console()
    try:
        world = load_scenario(scenario)
        config = _cameras_config(world, cameras, mode, legal_basis, dpia)
        severity = SEVERITY[EventClass(incident_class)]
    except (ConfigError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    target = CueTarget(lat=lat, lon=lon, radius_m=radius_m, incident_id="cli", severity=severity)
    buildings = buildings_enu(world.buildings, world.frame)
    events: list[AuditEvent] = []
    decision = plan_cue(
        config.cameras, target, world.frame, buildings, margin=config.cueing.frame_margin
    )
    if as_json:
        print(decision.model_dump_json(indent=2))
    else:
        console.print(_options_table(decision))
        console.print(f"cue mode: [bold]{config.cueing.mode.value}[/bold]; {decision.reason}")
    if plot is not None:
        from ouie.cameras.plot import plot_cue_map

        console.print(
            f"map: {plot_cue_map(decision, config.cameras, world.frame, buildings, plot)}"
        )
    if not execute:
        return
    if config.cueing.mode is CueMode.OFF:
        console.print(
            "[yellow]not sent:[/yellow] cue mode is off (the default: no legal basis declared)."
            " Use --mode suggest --approved-by NAME, or auto with --legal-basis and --dpia."
        )
        raise typer.Exit(3)
    if config.cueing.mode is CueMode.SUGGEST and not (approved_by or "").strip():
        console.print(
            "[yellow]not sent:[/yellow] in suggest mode a person approves each move: "
            "give --approved-by NAME."
        )
        raise typer.Exit(3)
    if real and not db:
        console.print(
            "[yellow]not sent:[/yellow] moving a real camera must go into the audit trail: "
            "give --db DATABASE_URL."
        )
        raise typer.Exit(3)
    sink = _audit_sink(events, db)
    try:
        outcome = _execute(config, world, target, buildings, approved_by, real, snapshot, sink)
    except CameraError as error:
        _print_audit(console, events)
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"[bold]{outcome.status.value}[/bold]: {outcome.message}")
    if outcome.move is not None and outcome.decision and outcome.decision.plan:
        camera_id = outcome.decision.plan.camera_id
        camera = next(c for c in config.cameras if c.id == camera_id)
        console.print(_confirmed_line(camera, outcome))
    if snapshot is not None and outcome.move is not None:
        console.print(f"snapshot: {snapshot}")
    _print_audit(console, events)
    if outcome.move is None:
        raise typer.Exit(1)


def _confirmed_line(camera: CameraConfig, outcome: CueOutcome) -> str:
    """'confirmed c1: pan … tilt … hfov … (ONVIF …) by AbsoluteMove in … ms'."""
    from ouie.cameras.geometry import hfov_for_zoom, onvif_to_pan, onvif_to_tilt

    assert outcome.move is not None
    position = outcome.move.confirmed
    return (
        f"confirmed {camera.id}: pan {onvif_to_pan(camera, position.pan):+.2f}°, "
        f"tilt {onvif_to_tilt(camera, position.tilt):+.2f}°, "
        f"hfov {hfov_for_zoom(camera, position.zoom):.2f}° "
        f"(ONVIF {position.pan:+.4f}, {position.tilt:+.4f}, zoom {position.zoom:.4f}) "
        f"by {outcome.move.method} in {outcome.move.elapsed_s * 1000:.1f} ms"
    )


def _audit_sink(events: list[AuditEvent], db: str | None) -> AuditSink:
    """Keep the events for printing and, with `db`, append them to its hash-chained trail."""
    if db is None:
        return events.append
    from ouie.store.audit import AuditChain
    from ouie.store.database import make_engine, upgrade_schema

    engine = make_engine(db)
    upgrade_schema(engine)
    chain = AuditChain(engine)

    def record(event: AuditEvent) -> None:
        chain.append(event)
        events.append(event)

    return record


def _execute(
    config: CamerasConfig,
    world: Scenario,
    target: CueTarget,
    buildings: list[BuildingShape],
    approved_by: str | None,
    real: bool,
    snapshot: Path | None,
    audit: AuditSink,
) -> CueOutcome:
    """Run the cue through a CueController against virtual cameras (or the real ones)."""
    import asyncio
    from contextlib import nullcontext

    from ouie.cameras.config import CueMode
    from ouie.cameras.cueing import CueController, OnvifMover
    from ouie.sim.cameras.render import Mark
    from ouie.sim.cameras.virtual import start_virtual_cameras

    fleet_context = (
        nullcontext(None) if real else start_virtual_cameras(config.cameras, world.frame, buildings)
    )
    with fleet_context as fleet:
        cameras = list(fleet.configs.values()) if fleet else config.cameras
        if fleet is not None:
            east, north, _ = world.frame.to_enu(target.lat, target.lon, world.origin.height_m)
            fleet.set_marks([Mark((float(east), float(north), target.height_m), "incident")])
        mover = OnvifMover((lambda _camera: fleet.credentials) if fleet else None)

        async def run() -> CueOutcome:
            try:
                controller = CueController(
                    config.cueing, cameras, world.frame, mover, audit, buildings
                )
                outcome = await controller.cue(target)
                if config.cueing.mode is CueMode.SUGGEST and outcome.cue_id in controller.pending:
                    outcome = await controller.approve(outcome.cue_id or "", approved_by or "")
                if snapshot is not None and outcome.move is not None and outcome.decision:
                    plan = outcome.decision.plan
                    assert plan is not None
                    client = await mover.client(next(c for c in cameras if c.id == plan.camera_id))
                    snapshot.write_bytes(await client.snapshot())
                return outcome
            finally:
                await mover.close()

        return asyncio.run(run())
