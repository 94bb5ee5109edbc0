"""The store's change log (``store_changes``, schema version 18): what a process that keeps state derived from the
store must redo when another process changes it -- face sightings deleted (their vectors leave every face index)
and alerts whose pass was seen again or that were acknowledged (live streams update them).

Triggers write it in the transaction of the change, whatever made it (retention, a re-indexed file, an alert folded
by a camera node, a hand-written ``DELETE``); in PostgreSQL one row per statement, with every id it touched. Rows are
kept :data:`KEEP_S` (pruned after each deletion); a follower away for longer sets its face index right by counts
(:mod:`skynet.index.partition_check`). Ids come from a sequence: follow them with
:class:`~skynet.store.id_cursor.IdCursor`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from skynet.store.database import Database
from skynet.store.id_cursor import IdCursor

KEEP_S = 86_400.0


class ChangeKind(StrEnum):
    FACES_DELETED = "faces_deleted"
    ALERT_UPDATED = "alert_updated"


@dataclass(frozen=True, slots=True)
class Change:
    """One change: its id in the log, what happened, and the ids of the sightings or alerts it happened to."""

    id: int
    kind: ChangeKind
    ids: np.ndarray


class ChangeLog:
    """The ``store_changes`` table (written by the database's triggers; read and pruned here)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def after(self, change_id: int, also: Sequence[int] = (), limit: int = 1000) -> list[Change]:
        """The changes with ids above ``change_id`` (at most ``limit``), plus those of ``also`` that exist (ids below
        that a follower found missing: changes still committing), in id order."""
        rows = self.db.execute(
            "SELECT id, kind, ids FROM store_changes WHERE id > ? ORDER BY id LIMIT ?", (change_id, limit)
        ).fetchall()
        if also:
            condition, arg = self.db.ids_in("id", list(also))
            rows += self.db.execute(f"SELECT id, kind, ids FROM store_changes WHERE {condition}", (arg,)).fetchall()
        unique = {row[0]: row for row in rows}
        return [
            Change(i, ChangeKind(kind), np.array(ids.split(","), dtype=np.int64))
            for i, kind, ids in (unique[i] for i in sorted(unique))
        ]

    def follow(self, cursor: IdCursor, limit: int = 10_000) -> Iterator[list[Change]]:
        """The changes ``cursor`` has not read yet, page by page (at most ``limit`` new ones each), each page taken
        as read as it is handed out."""
        while True:
            last = cursor.last
            page = self.after(last, cursor.pending(), limit)
            cursor.seen(change.id for change in page)
            if page:
                yield page
            if sum(change.id > last for change in page) < limit:
                return

    def last_id(self) -> int:
        """The highest change id (0: none)."""
        row = self.db.execute("SELECT max(id) FROM store_changes").fetchone()
        return int(row[0] or 0)

    def prune(self, keep_s: float = KEEP_S) -> int:
        """Delete the changes older than ``keep_s``; returns how many."""
        with self.db.write("pruning the change log"):
            return self.db.execute("DELETE FROM store_changes WHERE at < ?", (time.time() - keep_s,)).rowcount


def deleted_faces(changes: Sequence[Change]) -> np.ndarray:
    """The ids of the face sightings ``changes`` deleted."""
    gone = [change.ids for change in changes if change.kind is ChangeKind.FACES_DELETED]
    return np.concatenate(gone) if gone else np.zeros(0, np.int64)


def updated_alerts(changes: Sequence[Change]) -> list[int]:
    """The ids of the alerts ``changes`` updated, each once, ascending."""
    return sorted({int(i) for change in changes if change.kind is ChangeKind.ALERT_UPDATED for i in change.ids})
