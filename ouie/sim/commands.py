"""Command-line commands of ouie.sim (registered by ouie.cli): `ouie simulate`,
`ouie scenario list`, `ouie scenario plot`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from ouie.sim.scenario import Scenario

scenario_app = typer.Typer(
    help="Built-in and user scenarios of the city simulator.", no_args_is_help=True
)

ScenarioArg = Annotated[
    str, typer.Argument(help="A built-in name (see `ouie scenario list`) or a YAML file.")
]


def _load(name_or_path: str) -> Scenario:
    """The scenario, or exit 2 with the error naming the bad field."""
    from rich.console import Console

    from ouie.core.config import ConfigError
    from ouie.sim.scenario import load_scenario

    try:
        return load_scenario(name_or_path)
    except ConfigError as error:
        Console(stderr=True).print(f"[red]scenario error[/red]\n{error}")
        raise typer.Exit(2) from None


def _log_to_console() -> None:
    """Warnings of the simulator (e.g. a source inside a building) go to the console."""
    import logging

    from rich.logging import RichHandler

    logger = logging.getLogger("ouie.sim")
    if not logger.handlers:
        logger.addHandler(RichHandler(show_time=False, show_path=False))
        logger.setLevel(logging.INFO)


def simulate_command(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Recording folder to write.")],
    duration: Annotated[
        float | None, typer.Option("--duration", help="Override the length, s.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the random seed.")] = None,
    audio_dir: Annotated[
        Path | None,
        typer.Option(
            "--audio-dir",
            help="Folder-per-class recordings (e.g. ../shared/audio) for events and background.",
        ),
    ] = None,
    plot: Annotated[
        bool, typer.Option("--plot", help="Also write map.png and arrivals.png into the folder.")
    ] = False,
) -> None:
    """Render a scenario into a recording folder: sensors.geojson, {id}.wav, meta.json,
    truth.json."""
    import time

    from rich.console import Console

    from ouie.sim.render import simulate

    console = Console()
    loaded = _load(scenario)
    if audio_dir is not None and not audio_dir.is_dir():
        Console(stderr=True).print(f"[red]--audio-dir {audio_dir}: not a folder[/red]")
        raise typer.Exit(2)
    _log_to_console()
    began = time.perf_counter()
    try:
        folder = simulate(loaded, out, audio_dir=audio_dir, duration_s=duration, seed=seed)
    except (OSError, ValueError) as error:
        Console(stderr=True).print(f"[red]cannot simulate {scenario}:[/red] {error}")
        raise typer.Exit(2) from None
    elapsed_s = time.perf_counter() - began
    truth = folder.truth or []
    alerting = sum(1 for t in truth if getattr(t, "alerting", False))
    console.print(
        f"[green]wrote[/green] {out}: {len(folder.sensors)} sensors, {len(truth)} events "
        f"({alerting} alerting) in {elapsed_s:.1f} s"
    )
    console.print(heard_table(out / "truth.json"))
    if plot:
        from ouie.sim.plot import plot_arrivals, plot_scenario

        console.print(f"map: {plot_scenario(loaded, out / 'map.png')}")
        if truth:
            console.print(f"first alerting event: {plot_arrivals(folder, out / 'arrivals.png')}")


def heard_table(truth_path: Path, snr_db: float = 10.0) -> Table:
    """Per class: how many events, how many sensors heard each (received level ≥ `snr_db` over
    the background; median), and the share of those arrivals that were non-line-of-sight."""
    import json
    import statistics

    from rich.table import Table

    by_class: dict[str, list[dict]] = {}
    for event in json.loads(truth_path.read_text(encoding="utf-8")):
        by_class.setdefault(event["class"], []).append(event)
    table = Table(title=f"who heard what (SNR ≥ {snr_db:g} dB)")
    for column in ("class", "events", "sensors hearing (median)", "of which NLOS", "clipped"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, events in sorted(by_class.items()):
        heard = [[a for a in e["arrivals"].values() if a["snr_db"] >= snr_db] for e in events]
        arrivals = [a for h in heard for a in h]
        nlos = sum(a["nlos"] for a in arrivals) / len(arrivals) if arrivals else 0.0
        table.add_row(
            name,
            str(len(events)),
            f"{statistics.median(len(h) for h in heard):g}",
            f"{100 * nlos:.0f} %",
            str(sum(a["clipped"] for a in arrivals)),
        )
    return table


def list_command() -> None:
    """Show the built-in scenarios."""
    from rich.console import Console
    from rich.table import Table

    from ouie.sim.scenario import builtin_scenarios, load_scenario

    table = Table(title="built-in scenarios")
    for column in ("name", "sensors", "cameras", "buildings", "events", "duration", "description"):
        table.add_column(column)
    for name in builtin_scenarios():
        s = load_scenario(name)
        table.add_row(
            name,
            str(len(s.sensors)),
            str(len(s.cameras)),
            str(len(s.buildings)),
            str(len(s.events)),
            f"{s.duration_s:.0f} s",
            s.description,
        )
    Console().print(table)


def plot_command(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path("map.png"),
) -> None:
    """Draw a map of a scenario: sensors, cameras, buildings, events, scale bar."""
    from rich.console import Console

    from ouie.sim.plot import plot_scenario
    from ouie.sim.render import nlos_fractions

    loaded = _load(scenario)
    everywhere, near = nlos_fractions(loaded, 300.0)
    note = (
        f"non-line-of-sight: {100 * everywhere:.0f} % of sensor–event pairs, "
        f"{100 * near:.0f} % of those closer than 300 m"
    )
    path = plot_scenario(loaded, out, note=note)
    Console().print(f"[green]wrote[/green] {path}")


def virtual_cameras(
    scenario: str = typer.Option("saint-etienne", help="Built-in scenario name or YAML path."),
    cameras: Path | None = typer.Option(
        None, help="Cameras YAML; default: the scenario's built-in one, or its sites."
    ),
    write_config: Path = typer.Option(
        Path("virtual-cameras.yaml"),
        help="Write a cameras YAML pointing at the running virtual cameras here.",
    ),
    secret_file: Path = typer.Option(
        Path("virtual-cameras.secret"),
        help="Write their generated 'username:password' here (mode 0600).",
    ),
    for_s: float | None = typer.Option(None, help="Serve this long, s (default: until ^C)."),
) -> None:
    """Serve the scenario's cameras as virtual ONVIF PTZ cameras on 127.0.0.1, and write a
    cameras YAML (with a secret file for the credentials) that ouie can use to reach them."""
    import time

    import yaml
    from rich.console import Console
    from rich.table import Table

    from ouie.cameras.planning import buildings_enu
    from ouie.core.config import ConfigError
    from ouie.sim.cameras.sites import load_cameras_config
    from ouie.sim.cameras.virtual import scenario_marks, start_virtual_cameras
    from ouie.sim.scenario import load_scenario

    console = Console()
    try:
        world = load_scenario(scenario)
        config = load_cameras_config(world, cameras)
    except ConfigError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    with start_virtual_cameras(
        config.cameras, world.frame, buildings_enu(world.buildings, world.frame)
    ) as fleet:
        fleet.set_marks(scenario_marks(world))
        secret_file.touch(mode=0o600)
        secret_file.chmod(0o600)
        credentials = fleet.credentials
        secret_file.write_text(
            f"{credentials.username}:{credentials.password.get_secret_value()}\n"
        )
        served = config.model_copy(
            update={
                "cameras": [
                    c.model_copy(update={"secret_file": secret_file.resolve()})
                    for c in fleet.configs.values()
                ],
                "masks": [],  # already in each camera's list
            }
        )
        partial = write_config.with_name(write_config.name + ".partial")
        partial.write_text(yaml.safe_dump(served.model_dump(mode="json")))
        partial.replace(write_config)  # readers never see half a file
        table = Table(title=f"Virtual ONVIF cameras of {world.name}")
        for column in ("camera", "device service", "masks"):
            table.add_column(column)
        for camera_id, camera in fleet.configs.items():
            url = f"{fleet.cameras[camera_id].base_url()}/onvif/device_service"
            table.add_row(camera_id, url, str(len(camera.masks)))
        console.print(table)
        console.print(f"cameras YAML: {write_config}  credentials: {secret_file}")
        try:
            if for_s is None:
                _wait_until_interrupted()
            else:
                time.sleep(for_s)
        except KeyboardInterrupt:
            console.print("stopping")


def _wait_until_interrupted() -> None:
    """Block until interrupted (^C)."""
    import threading

    threading.Event().wait()


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    app.command("simulate")(simulate_command)
    app.command("virtual-cameras")(virtual_cameras)
    scenario_app.command("list")(list_command)
    scenario_app.command("plot")(plot_command)
    app.add_typer(scenario_app, name="scenario")
