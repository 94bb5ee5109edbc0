"""Sightings listed as they came: narrowed by camera, kind, source and time, newest first, a page at a time
(keyset paging: a page starts after the last sighting of the one before, so deep pages cost what the first
does), and counted per camera per hour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skynet.records import Sighting, SightingKind, SightingSource
from skynet.store.checks import finite
from skynet.store.database import Database, Dialect
from skynet.store.errors import QueryError
from skynet.store.sighting_rows import SELECT
from skynet.store.sightings import SightingRepository

_HOUR = {Dialect.SQLITE: "CAST(best_time / 3600 AS INTEGER)", Dialect.POSTGRESQL: "floor(best_time / 3600)::bigint"}


@dataclass(frozen=True, slots=True)
class SightingFilter:
    """Which sightings: of these cameras, kinds and sources (None: any), best view within [since, until]."""

    cameras: Sequence[str] | None = None
    kinds: Sequence[SightingKind] | None = None
    sources: Sequence[SightingSource] | None = None
    since: float | None = None
    until: float | None = None

    def sql(self) -> tuple[list[str], list[Any]]:
        """SQL conditions on ``sightings`` and their arguments."""
        conditions: list[str] = []
        args: list[Any] = []
        for value, condition in ((self.since, "best_time >= ?"), (self.until, "best_time <= ?")):
            if value is not None:
                finite("time bound", value)
                conditions.append(condition)
                args.append(value)
        for column, values in (
            ("camera_id", self.cameras),
            ("kind", None if self.kinds is None else [SightingKind(k).value for k in self.kinds]),
            ("source", None if self.sources is None else [SightingSource(s).value for s in self.sources]),
        ):
            if values is not None:
                conditions.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "1 = 0")
                args += list(values)
        if self.sources and SightingSource.VIDEO not in self.sources:
            # implied, but SQLite uses the index of feed sightings (partial: source <> 'video') only when told
            conditions.append(f"source <> '{SightingSource.VIDEO.value}'")
        return conditions, args


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the best-view time and id of its last (oldest) sighting."""

    best_time: float
    id: int

    def text(self) -> str:
        return f"{self.best_time!r}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        try:
            time_text, _, id_text = text.rpartition(":")
            cursor = cls(float(time_text), int(id_text))
            finite("cursor", cursor.best_time)
            return cursor
        except (ValueError, QueryError):
            raise QueryError("bad cursor: pass on the next_cursor of the page before") from None


@dataclass(frozen=True, slots=True)
class Page:
    """A page of sightings, newest first, and the cursor of the next one (None: this is the last)."""

    sightings: list[Sighting] = field(default_factory=list)
    next_cursor: Cursor | None = None


class SightingList:
    """Lists and counts the ``sightings`` table."""

    def __init__(self, db: Database, sightings: SightingRepository) -> None:
        self.db = db
        self.sightings = sightings

    def page(self, where: SightingFilter, limit: int = 100, after: Cursor | None = None) -> Page:
        """Up to ``limit`` sightings of ``where``, newest first, older than ``after`` when given."""
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise QueryError("limit must be between 1 and 10000")
        conditions, args = where.sql()
        if after is not None:
            conditions.append("(best_time < ? OR (best_time = ? AND id < ?))")
            args += [after.best_time, after.best_time, after.id]
        sql = f"{SELECT} {_where(conditions)} ORDER BY best_time DESC, id DESC LIMIT ?"
        rows = self.db.execute(sql, (*args, limit + 1)).fetchall()
        found = self.sightings.from_rows(rows[:limit])
        last = found[-1] if len(rows) > limit and found else None
        return Page(found, Cursor(last.best_time, int(last.id or 0)) if last else None)

    def hourly_counts(self, where: SightingFilter) -> list[tuple[str, float, int]]:
        """(camera id, start of the hour in Unix seconds, sightings) of every camera-hour with any, in time order."""
        conditions, args = where.sql()
        hour = _HOUR[self.db.dialect]
        rows = self.db.execute(
            f"SELECT camera_id, {hour} AS hour, count(*) FROM sightings {_where(conditions)} "
            f"GROUP BY camera_id, {hour} ORDER BY hour, camera_id",
            args,
        )
        return [(r[0], float(r[1]) * 3600.0, int(r[2])) for r in rows]


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""
