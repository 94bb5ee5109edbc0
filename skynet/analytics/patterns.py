"""Patterns in an area over a period: plates seen there for the first time, and plates seen mostly at night."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from skynet.records import Observation


@dataclass(frozen=True, slots=True)
class FirstSeen:
    """``key`` was first seen in the area at ``first`` (its first sighting there), ``sightings`` times in
    the period."""

    key: str
    first: Observation
    sightings: int


@dataclass(frozen=True, slots=True)
class NightActivity:
    """``key`` was seen ``night`` of ``sightings`` times at night in the area."""

    key: str
    sightings: int
    night: int
    sighting_ids: tuple[int, ...]

    @property
    def fraction(self) -> float:
        return self.night / self.sightings


def first_seen(period: Sequence[Observation], seen_before: set[str]) -> list[FirstSeen]:
    """Keys of ``period`` (the area's observations in the period) not in ``seen_before`` (those seen in
    the area in the look-back before it), earliest first sighting first."""
    by_key: dict[str, list[Observation]] = defaultdict(list)
    for observation in period:
        if observation.key not in seen_before:
            by_key[observation.key].append(observation)
    found = [FirstSeen(key, min(seen, key=lambda o: (o.at, o.sighting_id)), len(seen)) for key, seen in by_key.items()]
    return sorted(found, key=lambda f: (f.first.at, f.key))


def at_night(at: float, zone: tzinfo | None, night: tuple[int, int]) -> bool:
    """Whether ``at`` falls in the hours ``night`` (start, end; wrapping past midnight) of ``zone`` (None:
    the server's)."""
    hour = datetime.fromtimestamp(at, zone).hour
    start, end = night
    return start <= hour < end if start < end else hour >= start or hour < end


def night_activity(
    period: Sequence[Observation], zone: tzinfo | None, night: tuple[int, int], min_sightings: int, min_fraction: float
) -> list[NightActivity]:
    """Keys seen at least ``min_sightings`` times in ``period``, at least ``min_fraction`` of them at
    night: the most nightly first, then the most seen."""
    by_key: dict[str, list[Observation]] = defaultdict(list)
    for observation in period:
        by_key[observation.key].append(observation)
    found = []
    for key, seen in by_key.items():
        if len(seen) < min_sightings:
            continue
        nightly = [o for o in seen if at_night(o.at, zone, night)]
        if len(nightly) / len(seen) >= min_fraction:
            found.append(NightActivity(key, len(seen), len(nightly), tuple(o.sighting_id for o in nightly)))
    return sorted(found, key=lambda n: (-n.fraction, -n.sightings, n.key))
