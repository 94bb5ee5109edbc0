"""Companions (伴随): who was seen near a target's passes, at several cameras, more often than chance."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from skynet.records import Observation

MIN_GAP_S = 1.0
"""Gaps shorter than this (overlapping passes included) count as this long: times are not more exact."""


@dataclass(frozen=True, slots=True)
class Companion:
    """``key`` was seen within the window of the target's passes at ``cameras`` (distinct), in the
    sightings ``with_target`` (the companion's, paired with the target's: (companion, target) sighting
    ids). ``surprise`` is -log10 of the chance of that, given how often ``key`` is seen at those cameras
    at all (higher: less likely by chance)."""

    key: str
    cameras: tuple[str, ...]
    with_target: tuple[tuple[int, int], ...]
    surprise: float


def companions(
    target: Sequence[Observation],
    near: Mapping[int, Sequence[Observation]],
    counts: Mapping[tuple[str, str], int],
    window_s: float,
    span_s: float,
    min_cameras: int,
    exclude: frozenset[str] = frozenset(),
) -> list[Companion]:
    """Companions of ``target`` (its passes); ``near[i]`` are the observations at the camera of
    ``target[i]`` within ``window_s`` of that pass; ``counts[(key, camera)]`` how often each was seen at
    each camera over the ``span_s`` seconds searched. Keys in ``exclude`` (the target itself) are left
    out. Ranked by distinct cameras, then surprise: at each camera, the chance that one of the key's
    sightings there falls as close to a pass of the target as its closest one did (``window_s`` only
    bounds the search), so a car a few seconds behind outranks one that happened by within the window."""
    if span_s <= 0:
        raise ValueError("the span searched must be positive")
    pairs: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    closest: dict[tuple[str, str], float] = {}  # (key, camera): the shortest gap to a pass of the target
    for i, pass_ in enumerate(target):
        for other in near.get(i, ()):
            if other.key in exclude:
                continue
            pairs[other.key][pass_.camera_id].append((other.sighting_id, pass_.sighting_id))
            gap = max(0.0, other.first - pass_.last, pass_.first - other.last)
            where = (other.key, pass_.camera_id)
            closest[where] = min(gap, closest.get(where, math.inf))
    found = []
    for key, at in pairs.items():
        if len(at) < min_cameras:
            continue
        surprise = 0.0
        for camera in at:
            seen = max(1, counts.get((key, camera), 1))
            reach = 2 * (closest[(key, camera)] + MIN_GAP_S)  # a sighting this close, before or after
            chance = 1.0 - math.exp(-seen * reach / span_s)
            surprise -= math.log10(max(chance, 1e-12))
        found.append(
            Companion(
                key,
                tuple(sorted(at)),
                tuple(sorted({p for pairs_ in at.values() for p in pairs_})),
                round(surprise, 3),
            )
        )
    return sorted(found, key=lambda c: (-len(c.cameras), -c.surprise, c.key))
