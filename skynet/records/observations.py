"""Sightings as the investigative analyses see them: one observation, or millions as numpy columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Observation:
    """One sighting as the investigative analyses see it: who (``key``: a plate's text), where, and when
    (the pass from ``first`` to ``last``, best view ``at``; Unix seconds)."""

    sighting_id: int
    key: str
    camera_id: str
    first: float
    last: float
    at: float


@dataclass(frozen=True, slots=True)
class ObservationTable:
    """Many observations as columns of one length, for analyses over millions of rows: sighting ids
    (int64), who and where as integer codes into ``keys`` and ``cameras`` (so sorting and grouping stay in
    numpy), first, last and best-view times (float64)."""

    sighting_ids: np.ndarray
    key_codes: np.ndarray
    keys: tuple[str, ...]
    camera_codes: np.ndarray
    cameras: tuple[str, ...]
    first: np.ndarray
    last: np.ndarray
    at: np.ndarray

    @classmethod
    def of_rows(cls, rows: Sequence[tuple]) -> ObservationTable:
        """The table of ``rows`` (sighting id, key, camera id, first, last, best-view time)."""
        columns = list(zip(*rows, strict=True)) if rows else [()] * 6
        key_codes, keys = _codes(columns[1])
        camera_codes, cameras = _codes(columns[2])
        first, last, at = (np.array(c, np.float64) for c in columns[3:])
        return cls(np.array(columns[0], np.int64), key_codes, keys, camera_codes, cameras, first, last, at)

    def __len__(self) -> int:
        return len(self.sighting_ids)

    def row(self, i: int) -> Observation:
        return Observation(
            int(self.sighting_ids[i]),
            self.keys[self.key_codes[i]],
            self.cameras[self.camera_codes[i]],
            float(self.first[i]),
            float(self.last[i]),
            float(self.at[i]),
        )


def _codes(values: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each value's code (its index among the distinct values, in order of appearance) and those values."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), np.int64, len(values))
    return codes, tuple(index)
