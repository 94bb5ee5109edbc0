"""What external feed records add to their sightings (``feed_records``), and how far each file import got
(``feed_imports``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skynet.records import FeedDetail, Identity, RegistrationPlace
from skynet.store.database import Database, Dialect

_COLUMNS = (
    "sighting_id, feed_key, direction, place, person_name, identity_hash, identity_masked, identity_sealed"
).split(", ")


class FeedRepository:
    """The ``feed_records`` table: one row per sighting of an external feed, unique by its natural key."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` already stored."""
        if not keys:
            return set()
        arg: Any = list(keys)
        sql = "SELECT feed_key FROM feed_records WHERE feed_key = ANY(?)"
        if self.db.dialect is Dialect.SQLITE:
            sql = "SELECT feed_key FROM feed_records WHERE feed_key IN (SELECT value FROM json_each(?))"
            arg = json.dumps(arg)
        return {row[0] for row in self.db.execute(sql, (arg,))}

    def insert(self, ids: Sequence[int], rows: Sequence[tuple | None]) -> None:
        """Inside a write: the feed rows (:func:`feed_row`; None for a video sighting) of new sightings ``ids``."""
        self.db.append_rows(
            "feed_records", _COLUMNS, [(i, *row) for i, row in zip(ids, rows, strict=True) if row is not None]
        )

    def details(self, ids: Sequence[int]) -> dict[int, FeedDetail]:
        """The feed details of the sightings ``ids`` that have one."""
        if not ids:
            return {}
        condition, arg = self.db.ids_in("sighting_id", ids)
        rows = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM feed_records WHERE {condition}", (arg,))
        return {int(r[0]): _detail(r) for r in rows}

    def with_identity(self, key_hash: str, limit: int) -> list[int]:
        """The sightings of identity ``key_hash`` (its keyed hash), newest first."""
        rows = self.db.execute(
            "SELECT f.sighting_id FROM feed_records f JOIN sightings s ON s.id = f.sighting_id "
            "WHERE f.identity_hash = ? ORDER BY s.best_time DESC, s.id DESC LIMIT ?",
            (key_hash, limit),
        )
        return [int(r[0]) for r in rows]


def feed_row(feed: FeedDetail | None) -> tuple | None:
    """The ``feed_records`` row of a sighting's feed detail, without the sighting's id (None: no feed)."""
    if feed is None:
        return None
    identity = feed.identity
    return (
        feed.key,
        feed.direction,
        None if feed.place is None else RegistrationPlace(feed.place).value,
        feed.person_name,
        None if identity is None else identity.key_hash,
        None if identity is None else identity.masked,
        None if identity is None else bytes(identity.sealed),
    )


def _detail(row: Sequence[Any]) -> FeedDetail:
    identity = Identity(row[5], row[6], bytes(row[7])) if row[5] is not None else None
    place = RegistrationPlace(row[3]) if row[3] is not None else None
    return FeedDetail(row[1], row[2], place, row[4], identity)


@dataclass(frozen=True, slots=True)
class FeedImport:
    """How far the import of one file (as one kind of record) got: rows and bytes done, what they gave, and
    the file's size and modification time then (a changed file is imported from its start again)."""

    path: str
    kind: str
    size: int
    mtime: float
    state: str  # running | done | failed
    rows_done: int = 0
    bytes_done: int = 0
    added: int = 0
    duplicates: int = 0
    rejected: int = 0
    report: str | None = None
    updated_at: float = 0.0


_IMPORT_COLUMNS = list(FeedImport.__dataclass_fields__)


class FeedImportRepository:
    """The ``feed_imports`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, path: str, kind: str) -> FeedImport | None:
        row = self.db.execute(
            f"SELECT {', '.join(_IMPORT_COLUMNS)} FROM feed_imports WHERE path = ? AND kind = ?", (path, kind)
        ).fetchone()
        return None if row is None else FeedImport(*row)

    def latest(self, limit: int) -> list[FeedImport]:
        """The imports most recently updated first."""
        rows = self.db.execute(
            f"SELECT {', '.join(_IMPORT_COLUMNS)} FROM feed_imports ORDER BY updated_at DESC LIMIT ?", (limit,)
        )
        return [FeedImport(*row) for row in rows]

    def save(self, state: FeedImport) -> None:
        values = [getattr(state, c) for c in _IMPORT_COLUMNS]
        updates = ", ".join(f"{c} = excluded.{c}" for c in _IMPORT_COLUMNS[2:])
        with self.db.write("recording a feed import's progress"):
            self.db.execute(
                f"INSERT INTO feed_imports ({', '.join(_IMPORT_COLUMNS)}) VALUES ({', '.join('?' * len(values))}) "
                f"ON CONFLICT (path, kind) DO UPDATE SET {updates}",
                values,
            )
