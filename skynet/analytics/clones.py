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
    position = np.full((len(table.cameras), 2), np.nan)
    for code, camera_id in enumerate(table.cameras):
        known = cameras.get(camera_id)
        if known is not None and known.latitude is not None and known.longitude is not None:
            if valid_position(known.latitude, known.longitude):
                position[code] = np.radians([known.latitude, known.longitude])
    keep = np.flatnonzero(~np.isnan(position[table.camera_codes, 0]))
    if len(keep) < 2:
        return []
    order = keep[np.lexsort((table.sighting_ids[keep], table.at[keep], table.key_codes[keep]))]
    plate, seen_at = table.key_codes[order], table.camera_codes[order]
    lat, lon = position[seen_at, 0], position[seen_at, 1]
    move = (plate[1:] == plate[:-1]) & (seen_at[1:] != seen_at[:-1])
    a = np.sin(np.diff(lat) / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(np.diff(lon) / 2) ** 2
    distance = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    gap = np.maximum(0.0, table.first[order][1:] - table.last[order][:-1])
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
    found = [
        ClonedPlate(
            table.keys[p],
            table.row(int(order[i])),
            table.row(int(order[i + 1])),
            float(distance[i]),
            float(gap[i]),
            float(speed[i]),
            counts[p],
        )
        for p, i in worst.items()
    ]
    return sorted(found, key=lambda c: (-c.speed_kmh, -c.distance_m, c.plate))
