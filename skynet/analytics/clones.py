"""Cloned-plate candidates (套牌): one plate seen at two places too far apart for the time between."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from skynet.records import Camera, Observation, ObservationTable
from skynet.trajectory.geo import EARTH_RADIUS_M, valid_position


@dataclass(frozen=True, slots=True)
class ClonedPlate:
    """The most implausible move of one plate: from ``first`` to ``second`` (another camera), ``distance_m``
    apart, ``gap_s`` from the end of the one pass to the start of the other (0: at the same time), which
    needs ``speed_kmh`` (infinite for passes at the same time)."""

    plate: str
    first: Observation
    second: Observation
    distance_m: float
    gap_s: float
    speed_kmh: float
    moves: int  # how many of the plate's moves were implausible


def cloned_plates(
    table: ObservationTable, cameras: Mapping[str, Camera], max_speed_kmh: float, min_distance_m: float = 0.0
) -> list[ClonedPlate]:
    """Plates of ``table`` that moved between two consecutive sightings (in time) faster than
    ``max_speed_kmh`` over at least ``min_distance_m``: most implausible first (the highest speed, then the
    longest distance). Cameras without a position are left out. Vectorised: millions of rows are fine."""
    placed = {c.id: (c.latitude, c.longitude) for c in cameras.values() if valid_position(c.latitude, c.longitude)}
    keep = np.fromiter((c in placed for c in table.camera_ids), bool, len(table))
    if keep.sum() < 2:
        return []
    ids, keys, camera_ids = table.sighting_ids[keep], table.keys[keep], table.camera_ids[keep]
    first, last, at = table.first[keep], table.last[keep], table.at[keep]
    plates, plate = np.unique(keys, return_inverse=True)
    order = np.lexsort((ids, at, plate))
    plate, camera_ids, first, last = plate[order], camera_ids[order], first[order], last[order]
    lat = np.radians([placed[c][0] for c in camera_ids])  # type: ignore[arg-type]
    lon = np.radians([placed[c][1] for c in camera_ids])  # type: ignore[arg-type]
    move = (plate[1:] == plate[:-1]) & (camera_ids[1:] != camera_ids[:-1])
    a = np.sin(np.diff(lat) / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(np.diff(lon) / 2) ** 2
    distance = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    gap = np.maximum(0.0, first[1:] - last[:-1])
    with np.errstate(divide="ignore"):
        speed = np.where(gap > 0, distance / np.where(gap > 0, gap, 1.0) * 3.6, np.inf)
    implausible = np.flatnonzero(move & (speed > max_speed_kmh) & (distance >= min_distance_m))
    worst: dict[int, int] = {}
    counts: dict[int, int] = {}
    for i in implausible:
        p = int(plate[i])
        counts[p] = counts.get(p, 0) + 1
        if p not in worst or (speed[i], distance[i]) > (speed[worst[p]], distance[worst[p]]):
            worst[p] = int(i)
    rows = np.flatnonzero(keep)[order]  # position in ``table`` of each sorted row
    found = [
        ClonedPlate(
            str(plates[p]),
            table.row(int(rows[i])),
            table.row(int(rows[i + 1])),
            float(distance[i]),
            float(gap[i]),
            float(speed[i]),
            counts[p],
        )
        for p, i in worst.items()
    ]
    return sorted(found, key=lambda c: (-c.speed_kmh, -c.distance_m, c.plate))
