"""Who was seen where and when, as the investigative analyses (:mod:`skynet.analytics`) read it: plate
sightings reduced to (plate text, camera, time span), each query answered from an index (the plate's
sightings in time order, or a camera's)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from skynet.records import Observation, ObservationTable
from skynet.store.checks import finite
from skynet.store.database import Database

_COLUMNS = "id, plate_text, camera_id, first_seen, last_seen, best_time FROM sightings"
_IN_CHUNK = 500  # values per IN (...) list
MAX_PASS_S = 600.0
"""The longest pass a sighting spans (tracks end long before: a parked car is many sightings)."""


class ObservationRepository:
    """Plate observations out of the ``sightings`` table (the voted text of each plate sighting)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def plates(self, since: float, until: float, cameras: Sequence[str] | None = None) -> ObservationTable:
        """Every plate sighting whose best view is in [``since``, ``until``] (at ``cameras``), in no order
        (read by the time index: sorting is the analysis's, in numpy)."""
        where, args = _window(since, until, cameras)
        rows = self.db.execute(f"SELECT {_COLUMNS} WHERE plate_text IS NOT NULL AND {where}", args).fetchall()
        return ObservationTable.of_rows(rows)

    def plates_of(self, texts: Iterable[str], since: float, until: float) -> list[Observation]:
        """The sightings of the plates ``texts`` in [``since``, ``until``], ordered by text and time."""
        found: list[Observation] = []
        texts = sorted(set(texts))
        for start in range(0, len(texts), _IN_CHUNK):
            chunk = texts[start : start + _IN_CHUNK]
            where, args = _window(since, until, None)
            rows = self.db.execute(
                f"SELECT {_COLUMNS} WHERE plate_text IN ({', '.join('?' * len(chunk))}) AND {where}",
                [*chunk, *args],
            )
            found += [_observation(r) for r in rows]
        return sorted(found, key=lambda o: (o.key, o.at, o.sighting_id))

    def plates_at(self, camera_id: str, since: float, until: float) -> list[Observation]:
        """The plate sightings of one camera whose time span overlaps [``since``, ``until``]."""
        # the best view lies inside the span: a span overlapping the window has its best view at most
        # one span length outside it; sightings are short (a pass), so a bounded margin finds them all
        where, args = _window(since - MAX_PASS_S, until + MAX_PASS_S, [camera_id])
        rows = self.db.execute(
            f"SELECT {_COLUMNS} WHERE plate_text IS NOT NULL AND {where} AND last_seen >= ? AND first_seen <= ?",
            [*args, since, until],
        )
        return [_observation(r) for r in rows]

    def plate_counts(
        self, texts: Iterable[str], cameras: Sequence[str], since: float, until: float
    ) -> dict[tuple[str, str], int]:
        """How often each plate of ``texts`` was seen at each of ``cameras`` in [``since``, ``until``]."""
        counts: dict[tuple[str, str], int] = {}
        texts = sorted(set(texts))
        for start in range(0, len(texts), _IN_CHUNK):
            chunk = texts[start : start + _IN_CHUNK]
            where, args = _window(since, until, cameras)
            rows = self.db.execute(
                f"SELECT plate_text, camera_id, count(*) FROM sightings WHERE plate_text IN "
                f"({', '.join('?' * len(chunk))}) AND {where} GROUP BY plate_text, camera_id",
                [*chunk, *args],
            )
            counts.update({(text, camera): int(n) for text, camera, n in rows})
        return counts

    def plate_texts(self, cameras: Sequence[str], since: float, until: float) -> set[str]:
        """The distinct plates seen at ``cameras`` with a best view in [``since``, ``until``]."""
        where, args = _window(since, until, cameras)
        rows = self.db.execute(
            f"SELECT DISTINCT plate_text FROM sightings WHERE plate_text IS NOT NULL AND {where}", args
        )
        return {r[0] for r in rows}


def _window(since: float, until: float, cameras: Sequence[str] | None) -> tuple[str, list[Any]]:
    finite("time bound", since)
    finite("time bound", until)
    where = "best_time >= ? AND best_time <= ?"
    args: list[Any] = [since, until]
    if cameras is not None:
        where += f" AND camera_id IN ({', '.join('?' * len(cameras))})" if cameras else " AND camera_id IS NULL"
        args += list(cameras)
    return where, args


def _observation(row: tuple) -> Observation:
    return Observation(int(row[0]), row[1], row[2], float(row[3]), float(row[4]), float(row[5]))
