"""Command-line commands of ouie.video (registered by ouie.cli): `ouie video detect`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from ouie.core.commands import shared_group

VIDEO_HELP = "Non-biometric video events on the cameras' own streams (off by default)."


def register(app: typer.Typer) -> None:
    """Add this concern's commands to the `ouie` app."""
    shared_group(app, "video", VIDEO_HELP).command("detect")(detect)


def detect(
    video: Annotated[
        str | None,
        typer.Argument(help="Video file or stream URL (default: the camera's `source`)."),
    ] = None,
    camera_config: Annotated[
        Path, typer.Option("--camera-config", help="Video-analysis YAML (VideoConfig).")
    ] = Path("video.yaml"),
    camera: Annotated[
        str | None, typer.Option(help="Camera id (needed when the file has several).")
    ] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per event, when it ends.")
    ] = False,
    counts: Annotated[
        bool, typer.Option("--counts", help="One JSON line per analysed frame: t_s, people.")
    ] = False,
    start_utc: Annotated[
        datetime | None,
        typer.Option(help="UTC time of the first frame, for the schedules (default: now)."),
    ] = None,
) -> None:
    """Find intrusions, wrong-way crossings and crowding on one camera's video. Refused unless
    the configuration enables video analysis with its legal basis and impact assessment."""
    import json
    from datetime import UTC

    from ouie.core.config import ConfigError
    from ouie.video.config import load_video_config
    from ouie.video.events import analyse
    from ouie.video.source import VideoReadError, read_frames

    try:
        config = load_video_config(camera_config)
        chosen = config.camera(camera)
    except ConfigError as error:
        raise typer.BadParameter(str(error), param_hint="--camera-config") from None
    if not config.enabled:
        raise typer.BadParameter(
            f"{camera_config}: video analysis is off (enabled: false); enabling it needs "
            "enabled: true with legal_basis and dpia declared",
            param_hint="--camera-config",
        )
    source = video or chosen.source
    if source is None:
        raise typer.BadParameter(f"give VIDEO or camera {chosen.id}'s source")
    start = start_utc or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    try:
        for result in analyse(chosen, read_frames(source, chosen.analysis_fps), start):
            if counts:
                print(json.dumps({"t_s": round(result.t_s, 3), "people": result.people}))
            for event in result.events:
                if event.ongoing:
                    continue
                if json_lines:
                    print(event.model_dump_json())
                elif not counts:
                    print(
                        f"{event.kind:<10} {event.zone:<12} {event.start_s:8.1f} – "
                        f"{event.end_s:8.1f} s  {event.count} people"
                    )
    except VideoReadError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
