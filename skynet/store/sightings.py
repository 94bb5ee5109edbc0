"""Sightings: their rows, with their plate reads, media files and (faces) the vector they were seen with.

Writes are :class:`~skynet.store.sighting_writes.SightingWriter`'s; here are the reads and the deletion. After a
deletion commits, the files of the deleted rows go (a crash in between leaves orphans, which the store sweeps at
open).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skynet.records import Sighting, SightingKind, SightingSource
from skynet.store.checks import finite
from skynet.store.errors import StorageFullError
from skynet.store.holds import HELD
from skynet.store.sighting_rows import PLATE_AT, SELECT, SOURCE_AT, sighting_of
from skynet.store.sighting_writes import SightingWriter

_DELETE_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class DeletedSightings:
    """What a deletion removed: every sighting id, the face ones among them, the alerts on them, and media
    files; ``held_ids``: the sightings it would have removed but kept, as they are held evidence."""

    ids: np.ndarray
    face_ids: np.ndarray
    files: int
    alert_ids: tuple[int, ...] = ()
    held_ids: tuple[int, ...] = ()

    def audited(self) -> dict[str, Any]:
        """What the audit log records of the deletion: counts, and the ids of the deleted sightings and alerts
        and of the held sightings kept, as ``[first, last]`` runs (a retention run deletes consecutive ids)."""
        return {
            "sightings": len(self.ids),
            "face_vectors": len(self.face_ids),
            "files": self.files,
            "alerts": len(self.alert_ids),
            "held_kept": len(self.held_ids),
            "sighting_ids": id_runs(self.ids.tolist()),
            "alert_ids": id_runs(self.alert_ids),
            "held_ids": id_runs(self.held_ids),
        }


def id_runs(ids: Sequence[int]) -> list[list[int]]:
    """``ids`` as sorted ``[first, last]`` runs of consecutive ids: ``[1, 2, 3, 7]`` is ``[[1, 3], [7, 7]]``."""
    runs: list[list[int]] = []
    for i in sorted(set(int(i) for i in ids)):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


class SightingRepository(SightingWriter):
    """The ``sightings`` table: writes (:class:`SightingWriter`), reads and deletion. A sighting read back carries
    no embedding: face vectors are kept per model (:class:`~skynet.store.faces.FaceRepository`), and no reader of
    stored sightings needs one."""

    def get(self, sighting_id: int) -> Sighting | None:
        found = self.get_many([sighting_id])
        return found[0] if found else None

    def get_many(self, sighting_ids: Sequence[int]) -> list[Sighting]:
        """The sightings with these ids that exist, in the order asked (two queries for any number)."""
        if not sighting_ids:
            return []
        condition, arg = self.db.ids_in("id", sighting_ids)
        rows = {r[0]: r for r in self.db.execute(f"{SELECT} WHERE {condition}", (arg,))}
        return self.from_rows([rows[i] for i in sighting_ids if i in rows])

    def from_rows(self, rows: Sequence[Sequence[Any]]) -> list[Sighting]:
        """Sightings of :data:`SELECT` rows, with their alternative plate reads and feed details."""
        alternatives = self.plates.alternatives([r[0] for r in rows if r[PLATE_AT] is not None])
        feeds = self.feeds.details([r[0] for r in rows if r[SOURCE_AT] != SightingSource.VIDEO])
        return [sighting_of(r, alternatives.get(r[0], []), feeds.get(r[0])) for r in rows]

    def ids_after(self, after_id: int, also: Sequence[int] = (), limit: int = 10_000) -> list[int]:
        """Ascending ids above ``after_id``, plus those of ``also`` that exist: the rows a follower of the store
        has not seen (``also``: ids below that it found missing, whose writes may not have committed yet)."""
        rows = self.db.execute("SELECT id FROM sightings WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
        found = [r[0] for r in rows]
        if also:
            condition, arg = self.db.ids_in("id", also)
            found = sorted(
                {*found, *(r[0] for r in self.db.execute(f"SELECT id FROM sightings WHERE {condition}", (arg,)))}
            )
        return found

    def last_id(self) -> int:
        """The highest sighting id (0: none)."""
        row = self.db.execute("SELECT max(id) FROM sightings").fetchone()
        return int(row[0] or 0)

    def counts(self) -> dict[str, int]:
        """How many sightings of each kind."""
        counts = dict(self.db.execute("SELECT kind, count(*) FROM sightings GROUP BY kind").fetchall())
        return {kind.value: int(counts.get(kind.value, 0)) for kind in SightingKind}

    def delete_before(self, cutoff: float) -> DeletedSightings:
        """Delete every sighting whose best view is older than ``cutoff`` (with reads, vectors, alerts, media),
        but the held ones."""
        finite("cutoff", cutoff)
        return self._delete_where("best_time < ?", cutoff)

    def delete_from_file(self, path: str) -> DeletedSightings:
        """Delete every sighting that came from archive file ``path`` (before it is re-indexed), but the held ones."""
        return self._delete_where("origin_file = ?", path)

    def _delete_where(self, condition: str, value: Any) -> DeletedSightings:
        """Delete the sightings matching ``condition`` and not held (:mod:`skynet.store.holds`) in chunks, one
        transaction each; the alerts on them go too (their ids are reported). On a full disk a chunk is retried
        once in the room of the store's reserve (:mod:`skynet.store.space_reserve`), set aside again at the end."""
        all_ids, face_ids, alert_ids, files = [], [], [], 0
        while True:
            try:
                rows, alerts = self._delete_chunk(condition, value)
            except StorageFullError:
                if not self.db.release_reserve():
                    raise
                rows, alerts = self._delete_chunk(condition, value)
            if not rows:
                break
            all_ids += [r[0] for r in rows]
            face_ids += [r[0] for r in rows if r[1] == "face"]
            alert_ids += alerts
            files += self.media.remove(p for r in rows for p in r[2:] if p)
        self.db.keep_reserve()
        held = self.db.execute(f"SELECT id FROM sightings WHERE {condition} AND id IN ({HELD}) ORDER BY id", (value,))
        return DeletedSightings(
            np.array(all_ids, dtype=np.int64),
            np.array(face_ids, dtype=np.int64),
            files,
            tuple(sorted(alert_ids)),
            tuple(r[0] for r in held),
        )

    def _delete_chunk(self, condition: str, value: Any) -> tuple[list[Any], list[int]]:
        """Delete up to :data:`_DELETE_CHUNK` sightings of :meth:`_delete_where` in one transaction; returns their
        rows (id, kind, media paths) and the ids of the alerts deleted with them."""
        with self.db.write("deleting sightings"):
            rows = self.db.execute(
                f"SELECT id, kind, thumbnail_path, context_path FROM sightings WHERE {condition} "
                f"AND id NOT IN ({HELD}) LIMIT ?",
                (value, _DELETE_CHUNK),
            ).fetchall()
            if not rows:
                return [], []
            ids_condition, arg = self.db.ids_in("id", [r[0] for r in rows])
            alerts_condition, alerts_arg = self.db.ids_in("sighting_id", [r[0] for r in rows])
            alerts = [r[0] for r in self.db.execute(f"SELECT id FROM alerts WHERE {alerts_condition}", (alerts_arg,))]
            self.db.execute(f"DELETE FROM sightings WHERE {ids_condition}", (arg,))
        return rows, alerts

    # --- media files ---------------------------------------------------------------------------

    def media_paths(self) -> set[str]:
        """Every media path a sighting names."""
        rows = self.db.execute(
            "SELECT thumbnail_path FROM sightings WHERE thumbnail_path IS NOT NULL "
            "UNION ALL SELECT context_path FROM sightings WHERE context_path IS NOT NULL"
        )
        return {row[0] for row in rows}

    def missing_media(self) -> list[str]:
        """A line for each media file a sighting names that is not there."""
        rows = self.db.execute(
            "SELECT id, thumbnail_path, context_path FROM sightings "
            "WHERE thumbnail_path IS NOT NULL OR context_path IS NOT NULL"
        )
        return [f"sighting {r[0]}: missing {p}" for r in rows for p in r[1:] if p and not self.media.exists(p)]
