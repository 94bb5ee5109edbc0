"""Patterns in an area over a period: plates seen there for the first time, and plates seen mostly at night."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

import numpy as np

from skynet.records import Observation, ObservationTable

_QUARTER_HOUR = 900.0  # every time zone's offset is a whole number of quarter hours


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


def first_seen(period: ObservationTable, seen_before: set[str]) -> list[FirstSeen]:
    """Keys of ``period`` (the area's observations in the period) not in ``seen_before`` (those seen in
    the area in the look-back before it), earliest first sighting first."""
    seen = np.array([key in seen_before for key in period.keys], bool)
    new = np.flatnonzero(~seen[period.key_codes]) if len(period) else np.zeros(0, np.int64)
    if not len(new):
        return []
    code = period.key_codes[new]
    order = np.lexsort((period.sighting_ids[new], period.at[new], code))
    starts = np.flatnonzero(np.r_[True, code[order][1:] != code[order][:-1]])
    counts = np.bincount(code, minlength=len(period.keys))
    found = [
        FirstSeen(period.keys[code[order[s]]], period.row(int(new[order[s]])), int(counts[code[order[s]]]))
        for s in starts
    ]
    return sorted(found, key=lambda f: (f.first.at, f.key))


def at_night(at: np.ndarray, zone: tzinfo | None, night: tuple[int, int]) -> np.ndarray:
    """Which times ``at`` fall in the hours ``night`` (start, end; wrapping past midnight) of ``zone``
    (None: the server's). Each distinct quarter hour is converted once."""
    quarters, inverse = np.unique(np.floor(np.asarray(at) / _QUARTER_HOUR), return_inverse=True)
    hours = np.array([datetime.fromtimestamp(q * _QUARTER_HOUR, zone).hour for q in quarters], np.int64)
    hour = hours[inverse] if len(hours) else np.zeros(0, np.int64)
    start, end = night
    return (hour >= start) & (hour < end) if start < end else (hour >= start) | (hour < end)


def night_activity(
    period: ObservationTable, zone: tzinfo | None, night: tuple[int, int], min_sightings: int, min_fraction: float
) -> list[NightActivity]:
    """Keys seen at least ``min_sightings`` times in ``period``, at least ``min_fraction`` of them at
    night: the most nightly first, then the most seen."""
    if not len(period):
        return []
    code, keys = period.key_codes, period.keys
    nightly = at_night(period.at, zone, night)
    seen = np.bincount(code, minlength=len(keys))
    at_night_count = np.bincount(code, weights=nightly, minlength=len(keys)).astype(np.int64)
    chosen = np.flatnonzero((seen >= min_sightings) & (at_night_count >= min_fraction * seen))
    found = [
        NightActivity(
            keys[k],
            int(seen[k]),
            int(at_night_count[k]),
            tuple(int(i) for i in np.sort(period.sighting_ids[(code == k) & nightly])),
        )
        for k in chosen
    ]
    return sorted(found, key=lambda n: (-n.fraction, -n.sightings, n.key))
