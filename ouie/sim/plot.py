"""Pictures of the simulator (PNG): a map of a scenario (buildings, sensors, cameras with their
pan-zero heading, the scripted events by class, in the local ENU frame with a scale bar), and
spectrograms of one event at its nearest sensors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ouie.core.classes import ALERTING_CLASSES
from ouie.core.recording import RecordingFolder
from ouie.core.timebase import iso_to_ns
from ouie.sim.scenario import Scenario

EVENT_STYLE: dict[str, tuple[str, str]] = {
    "gunshot": ("*", "#d62728"),
    "explosion": ("X", "#8c1c13"),
    "scream": ("P", "#e377c2"),
    "glass_break": ("D", "#ff7f0e"),
    "siren": ("^", "#1f77b4"),
    "alarm": ("v", "#17becf"),
}
"""Marker and colour per event class; distractors share a grey circle."""
DISTRACTOR_STYLE = ("o", "#7f7f7f")


def nice_scale_length_m(about_m: float) -> float:
    """The largest of 1, 2 or 5 × 10^k metres not above `about_m` (a readable scale bar)."""
    about_m = max(about_m, 1.0)
    exponent = 10.0 ** np.floor(np.log10(about_m))
    return float(max(m * exponent for m in (1.0, 2.0, 5.0) if m * exponent <= about_m))


def plot_scenario(scenario: Scenario, out_path: Path, *, note: str | None = None) -> Path:
    """Draw the scenario's map into `out_path` (PNG), with an optional line of `note` under the
    title, and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon as PolygonPatch
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    frame = scenario.frame
    fig, ax = plt.subplots(figsize=(11, 9), dpi=110)
    for building in scenario.buildings:
        ring = frame.to_enu([p[1] for p in building.footprint], [p[0] for p in building.footprint])
        ax.add_patch(
            PolygonPatch(ring[:, :2], closed=True, facecolor="#c8c2b8", edgecolor="#6b6358", lw=0.8)
        )
        centre = ring[:, :2].mean(axis=0)
        ax.annotate(f"{building.height_m:.0f} m", centre, ha="center", va="center", fontsize=6)

    sensors = frame.to_enu([s.lat for s in scenario.sensors], [s.lon for s in scenario.sensors])
    arrow_m = max(np.ptp(sensors[:, 0]), np.ptp(sensors[:, 1]), 50.0) / 20.0
    ax.scatter(
        sensors[:, 0],
        sensors[:, 1],
        marker="^",
        s=36,
        c="#2ca02c",
        ec="k",
        lw=0.5,
        zorder=3,
        label=f"sensor ({len(scenario.sensors)})",
    )
    for sensor, (east, north, _) in zip(scenario.sensors, sensors, strict=True):
        ax.annotate(sensor.id, (east, north), xytext=(3, 3), textcoords="offset points", fontsize=6)

    if scenario.cameras:
        cams = frame.to_enu([c.lat for c in scenario.cameras], [c.lon for c in scenario.cameras])
        ax.scatter(
            cams[:, 0],
            cams[:, 1],
            marker="s",
            s=60,
            c="#9467bd",
            ec="k",
            lw=0.6,
            zorder=4,
            label=f"PTZ camera ({len(scenario.cameras)})",
        )
        for camera, (east, north, _) in zip(scenario.cameras, cams, strict=True):
            heading = np.radians(camera.heading_deg)
            ax.annotate(
                "",
                (east + arrow_m * np.sin(heading), north + arrow_m * np.cos(heading)),
                (east, north),
                arrowprops={"arrowstyle": "->", "color": "#9467bd"},
            )
            ax.annotate(
                camera.id,
                (east, north),
                xytext=(4, -9),
                textcoords="offset points",
                fontsize=7,
                color="#5b3d85",
            )

    by_class: dict[str, list[tuple[float, float]]] = {}
    for event in scenario.events:
        east, north, _ = frame.to_enu(event.lat, event.lon)
        by_class.setdefault(event.class_, []).append((float(east), float(north)))
    for name, points in sorted(by_class.items(), key=lambda kv: kv[0] not in ALERTING_CLASSES):
        marker, colour = EVENT_STYLE.get(name, DISTRACTOR_STYLE)
        xy = np.array(points)
        distractor = name not in EVENT_STYLE
        ax.scatter(
            xy[:, 0],
            xy[:, 1],
            marker=marker,
            s=30 if distractor else 90,
            c=colour,
            ec="k",
            lw=0.4,
            alpha=0.6 if distractor else 0.95,
            zorder=5,
            label=f"{name} ({len(points)})" if not distractor else None,
        )
    distractors = sum(len(p) for n, p in by_class.items() if n not in EVENT_STYLE)
    if distractors:
        ax.scatter(
            [],
            [],
            marker=DISTRACTOR_STYLE[0],
            c=DISTRACTOR_STYLE[1],
            s=30,
            label=f"distractor ({distractors})",
        )

    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.05)
    ax.set_xlabel("east of origin, m")
    ax.set_ylabel("north of origin, m")
    subtitle = f"{len(scenario.events)} events over {scenario.duration_s:.0f} s"
    if note:
        subtitle += f"\n{note}"
    ax.set_title(
        f"{scenario.name}: origin {scenario.origin.lat:.4f} N, {scenario.origin.lon:.4f} E\n"
        f"{subtitle}",
        fontsize=10,
    )
    width_m = float(np.diff(ax.get_xlim())[0])
    bar_m = nice_scale_length_m(width_m / 5.0)
    ax.add_artist(
        AnchoredSizeBar(
            ax.transData,
            bar_m,
            f"{bar_m:g} m",
            "lower right",
            pad=0.6,
            frameon=True,
            size_vertical=width_m / 250.0,
        )
    )
    ax.legend(loc="upper left", fontsize=7, framealpha=0.9)
    ax.grid(True, lw=0.3, alpha=0.5)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path)
    plt.close(fig)
    return out_path


def plot_arrivals(
    folder: RecordingFolder, out_path: Path, *, event_index: int | None = None, sensors: int = 4
) -> Path:
    """Spectrograms of one event at its `sensors` nearest microphones, 0.3 s before to 1.5 s
    after each arrival, with the arrival the sensor's clock stamped marked (a person checks at a
    glance that delays, levels and non-line-of-sight paths look right). The event is the first
    alerting one unless `event_index` is given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile

    truth = json.loads((folder.path / "truth.json").read_text(encoding="utf-8"))
    if not truth:
        raise ValueError(f"{folder.path}: truth.json has no events")
    if event_index is None:
        event_index = next((i for i, e in enumerate(truth) if e.get("alerting")), 0)
    event = truth[event_index]
    nearest = sorted(event["arrivals"].items(), key=lambda kv: kv[1]["distance_m"])[:sensors]
    fig, axes = plt.subplots(
        len(nearest), 1, figsize=(10, 2.2 * len(nearest)), dpi=100, sharex=True, squeeze=False
    )
    for ax, (sensor_id, arrival) in zip(axes[:, 0], nearest, strict=True):
        info = soundfile.info(folder.wav_path(sensor_id))
        rate = int(info.samplerate)
        at_s = (iso_to_ns(arrival["recorded_utc"]) - folder.start_ns) / 1e9
        start = max(0, round((at_s - 0.3) * rate))
        audio, _ = soundfile.read(
            folder.wav_path(sensor_id),
            start=start,
            stop=min(info.frames, start + round(1.8 * rate)),
        )
        ax.specgram(
            audio + 1e-9,
            NFFT=256,
            Fs=rate,
            noverlap=192,
            cmap="magma",
            xextent=(start / rate - at_s, (start + audio.size) / rate - at_s),
        )
        ax.axvline(0.0, color="#00e5ff", lw=1.0)
        ax.set_ylabel("Hz")
        ax.set_title(
            f"{sensor_id}: {arrival['distance_m']:.0f} m, {arrival['path']}"
            f"{' (NLOS)' if arrival['nlos'] else ''}, {arrival['level_db_spl']:.0f} dB SPL, "
            f"SNR {arrival['snr_db']:.0f} dB, stamped {arrival['recorded_utc'][11:]}",
            fontsize=8,
            loc="left",
        )
    axes[-1, 0].set_xlabel("s from the arrival stamped by each sensor's clock")
    fig.suptitle(
        f"{event['class']} emitted {event['onset_utc']} "
        f"({event['source_level_db_spl']:.0f} dB SPL at 1 m, {event['source']})",
        fontsize=10,
    )
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path)
    plt.close(fig)
    return out_path
