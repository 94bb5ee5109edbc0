"""Cloned-plate candidates (套牌): one plate seen at two places too far apart for the time between."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

from skynet.records import Camera, Observation
from skynet.trajectory.geo import haversine_m, valid_position


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
    observations: Sequence[Observation],
    cameras: Mapping[str, Camera],
    max_speed_kmh: float,
    min_distance_m: float = 0.0,
) -> list[ClonedPlate]:
    """Plates of ``observations`` (ordered by plate, then time) that moved between two consecutive
    sightings faster than ``max_speed_kmh`` over at least ``min_distance_m``: most implausible first
    (the highest speed, then the longest distance). Cameras without a position are left out."""
    found = []
    for plate, group in groupby(observations, key=lambda o: o.key):
        seen = [o for o in group if _position(cameras, o.camera_id) is not None]
        moves = [m for a, b in zip(seen, seen[1:], strict=False) if (m := _move(plate, a, b, cameras))]
        implausible = [m for m in moves if m.speed_kmh > max_speed_kmh and m.distance_m >= min_distance_m]
        if implausible:
            worst = max(implausible, key=lambda m: (m.speed_kmh, m.distance_m))
            found.append(
                ClonedPlate(
                    plate, worst.first, worst.second, worst.distance_m, worst.gap_s, worst.speed_kmh, len(implausible)
                )
            )
    return sorted(found, key=lambda c: (-c.speed_kmh, -c.distance_m, c.plate))


def _position(cameras: Mapping[str, Camera], camera_id: str) -> tuple[float, float] | None:
    camera = cameras.get(camera_id)
    if camera is None or not valid_position(camera.latitude, camera.longitude):
        return None
    return camera.latitude, camera.longitude  # type: ignore[return-value]


def _move(plate: str, a: Observation, b: Observation, cameras: Mapping[str, Camera]) -> ClonedPlate | None:
    if a.camera_id == b.camera_id:
        return None
    (lat1, lon1), (lat2, lon2) = _position(cameras, a.camera_id), _position(cameras, b.camera_id)  # type: ignore[misc]
    distance = haversine_m(lat1, lon1, lat2, lon2)
    gap = max(0.0, b.first - a.last)
    speed = math.inf if gap == 0 else distance / gap * 3.6
    return ClonedPlate(plate, a, b, distance, gap, speed, 1)
