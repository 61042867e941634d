"""Geographic cells: the square grid that keys report subjects and fusion ownership.

A sensor at local ENU (east_m, north_m) is in cell (⌊east_m / size⌋, ⌊north_m / size⌋), named
`"{i}_{j}"` (e.g. `3_-2`: a NATS subject token). A sensor's cell comes
from its configured position, so it never changes while the sensor stays put.

Ownership goes by blocks of k × k cells (k = `ownership_block_cells`): block (⌊i/k⌋, ⌊j/k⌋)
belongs to the live worker w with the highest rendezvous score H(block, w) (the first 8 bytes
of SHA-256 of "block|w"), so a worker's cells come in contiguous squares and its halo is a
ring around each square rather than around every scattered cell; when a worker dies, only its
blocks move.

The halo of a set of cells for a class is every cell whose square comes within
2·R of one of them, R the largest hearing range among the classes that can be associated with
it (`ouie.fusion.association.COMPATIBLE_GROUPS`): two reports of one sound are at most 2·R
apart, so a worker that holds the cell of any report of a sound plus this halo sees all of it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

from ouie.core.classes import EventClass
from ouie.core.geo import LocalFrame
from ouie.core.recording import SensorSite
from ouie.fusion.association import COMPATIBLE_GROUPS
from ouie.fusion.config import FusionConfig

Cell = tuple[int, int]


def cell_of(east_m: float, north_m: float, size_m: float) -> Cell:
    """(⌊east / size⌋, ⌊north / size⌋)."""
    return math.floor(east_m / size_m), math.floor(north_m / size_m)


def cell_name(cell: Cell) -> str:
    """`"{i}_{j}"`, the subject token of a cell."""
    return f"{cell[0]}_{cell[1]}"


def sensor_cells(sensors: Iterable[SensorSite], frame: LocalFrame, size_m: float) -> dict[str, str]:
    """Sensor id → its cell's name, from the configured positions."""
    out = {}
    for site in sensors:
        east, north, _up = frame.to_enu(site.lat, site.lon, site.height_m)
        out[site.id] = cell_name(cell_of(float(east), float(north), size_m))
    return out


def cell_gap_m(a: Cell, b: Cell, size_m: float) -> float:
    """Shortest distance between two cells' squares, m (0 for the same or touching cells)."""
    dx = max(abs(a[0] - b[0]) - 1, 0) * size_m
    dy = max(abs(a[1] - b[1]) - 1, 0) * size_m
    return math.hypot(dx, dy)


def parse_cell(name: str) -> Cell:
    """The inverse of `cell_name`."""
    i, j = name.split("_")
    return int(i), int(j)


def halo_m(event_class: EventClass, config: FusionConfig) -> float:
    """2·R, R the largest hearing range among the classes `event_class` can be associated
    with (its group in COMPATIBLE_GROUPS), m."""
    group = next((g for g in COMPATIBLE_GROUPS if event_class in g), frozenset({event_class}))
    return 2.0 * config.range_m(*group)


def max_halo_m(config: FusionConfig) -> float:
    """The widest halo over all classes, m."""
    return max(halo_m(c, config) for c in EventClass)


def within(cell: Cell, owned: Iterable[Cell], reach_m: float, size_m: float) -> bool:
    """Whether `cell` comes within `reach_m` of any of `owned`."""
    return any(cell_gap_m(cell, o, size_m) <= reach_m for o in owned)


def read_cells(owned: set[str], cells: set[str], reach_m: float, size_m: float) -> set[str]:
    """The cells (among `cells`) whose reports a worker owning `owned` reads: those within
    `reach_m` (the widest halo) of an owned one, the owned ones included."""
    owned_xy = [parse_cell(c) for c in owned]
    return {c for c in cells if within(parse_cell(c), owned_xy, reach_m, size_m)}


def block_name(cell: Cell, block_cells: int) -> str:
    """The name of the ownership block of `cell`: `"{⌊i/k⌋}_{⌊j/k⌋}"`."""
    return cell_name((cell[0] // block_cells, cell[1] // block_cells))


def rendezvous_owner(key: str, workers: list[str]) -> str:
    """The worker with the highest H(key, w) (rendezvous hashing)."""
    return max(
        workers,
        key=lambda w: int.from_bytes(hashlib.sha256(f"{key}|{w}".encode()).digest()[:8], "big"),
    )


def owned_cells(cells: set[str], workers: list[str], me: str, block_cells: int = 1) -> set[str]:
    """The cells whose block rendezvous hashing gives `me` among `workers`."""
    return {
        c for c in cells if rendezvous_owner(block_name(parse_cell(c), block_cells), workers) == me
    }
