"""Place-and-time intersections (碰撞): who was present at every one (or at least m) of N places and times."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Present:
    """``key`` was present at the places (indexes into the query's list) ``at``."""

    key: str
    at: tuple[int, ...]


def intersect(present: Sequence[set[str]], min_places: int) -> list[Present]:
    """Keys present at ``min_places`` or more of the places, whose keys are ``present[i]``: most places
    first, then by key."""
    if not 1 <= min_places <= len(present):
        raise ValueError(f"min_places must be between 1 and the number of places ({len(present)})")
    counts = Counter(key for keys in present for key in keys)
    found = [
        Present(key, tuple(i for i, keys in enumerate(present) if key in keys))
        for key, n in counts.items()
        if n >= min_places
    ]
    return sorted(found, key=lambda p: (-len(p.at), p.key))
