"""Sightings: their rows, with their plate reads, media files and (faces) the vector they were seen with.

Media files are written before the rows that name them commit, and removed again when the write
fails; after a deletion commits, the files of the deleted rows go (a crash in between leaves
orphans, which the store sweeps at open).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skynet.records import Sighting, SightingKind, SightingSource
from skynet.store.cameras import CameraRepository
from skynet.store.checks import finite
from skynet.store.database import Database, Dialect
from skynet.store.errors import InvalidSightingError, StorageFullError
from skynet.store.faces import DEFAULT_FACE_MODEL, FaceRepository
from skynet.store.feeds import FeedRepository, feed_row
from skynet.store.holds import HELD
from skynet.store.media import MediaStore, check_jpeg
from skynet.store.plates import PlateRepository, read_rows
from skynet.store.sighting_rows import (
    COLUMNS,
    CONTEXT_AT,
    PLATE_AT,
    SELECT,
    SOURCE_AT,
    THUMB_AT,
    live_key,
    row_of,
    sighting_of,
)

_DELETE_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class SightingMedia:
    """JPEG bytes the store writes next to a sighting: its best-view thumbnail and a context frame."""

    thumbnail: bytes | None = None
    context: bytes | None = None


@dataclass(frozen=True, slots=True)
class CheckedSightings:
    """Sightings validated and turned into rows (:meth:`SightingRepository.check`): each one's ``sightings``
    row, its ``plate_reads`` rows and its ``feed_records`` row (or None), all without the id the write gives
    it; with their media and the embedding model of their faces, ready for one write."""

    sightings: list[Sighting]
    media: list[SightingMedia | None]
    rows: list[list]
    reads: list[list[tuple]]
    feeds: list[tuple | None]
    model: str
    encoded: list[str] | None = None
    """Each ``rows`` row as the database's bulk insert takes it ahead (:meth:`Database.encoded_rows`), or None."""

    def subset(self, chosen: Sequence[int]) -> CheckedSightings:
        """Those at the positions ``chosen``."""
        if len(chosen) == len(self.sightings):
            return self
        return CheckedSightings(
            [self.sightings[i] for i in chosen],
            [self.media[i] for i in chosen],
            [self.rows[i] for i in chosen],
            [self.reads[i] for i in chosen],
            [self.feeds[i] for i in chosen],
            self.model,
            None if self.encoded is None else [self.encoded[i] for i in chosen],
        )


@dataclass(frozen=True, slots=True)
class StoredSightings:
    """What an idempotent write did: each sighting's id, and whether its row is new (False: stored before)."""

    ids: list[int]
    new: list[bool]


def _text_in(db: Database, column: str, values: Sequence[str]) -> tuple[str, Any]:
    """A condition that ``column`` is one of ``values`` (strings), and its one argument."""
    if db.dialect is Dialect.POSTGRESQL:
        return f"{column} = ANY(?)", list(values)
    return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))


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


class SightingRepository:
    """The ``sightings`` table. A sighting read back carries no embedding: face vectors are kept per model
    (:class:`~skynet.store.faces.FaceRepository`), and no reader of stored sightings needs one."""

    def __init__(
        self,
        db: Database,
        media: MediaStore,
        cameras: CameraRepository,
        faces: FaceRepository,
        plates: PlateRepository,
        feeds: FeedRepository,
    ) -> None:
        self.db = db
        self.media = media
        self.cameras = cameras
        self.faces = faces
        self.plates = plates
        self.feeds = feeds

    def add(
        self,
        sightings: Sequence[Sighting],
        media: Sequence[SightingMedia | None] | None = None,
        *,
        model: str | None = None,
    ) -> list[int]:
        """Store ``sightings`` (and write their media) in one transaction; returns their ids (see :meth:`add_once`)."""
        return self.add_once(sightings, media, model=model).ids

    def add_once(
        self,
        sightings: Sequence[Sighting],
        media: Sequence[SightingMedia | None] | None = None,
        *,
        model: str | None = None,
    ) -> StoredSightings:
        """Store ``sightings`` (and write their media) in one transaction; returns their ids, and which are new.

        A live sighting already stored under its idempotency key (camera, kind, track, start: a retried
        write whose first commit went unanswered) keeps its row and id, and nothing of it is written again.
        Face embeddings are stored as made by embedding ``model`` (default: the searched model).
        Everything is validated first; on any error nothing of the batch is kept."""
        return self._add_checked(self.check(sightings, media, model=model))

    def check(
        self,
        sightings: Sequence[Sighting],
        media: Sequence[SightingMedia | None] | None = None,
        *,
        model: str | None = None,
    ) -> CheckedSightings:
        """``sightings`` validated (:class:`InvalidSightingError` naming the first fault) and turned into rows,
        to be stored by :meth:`add_new` (or as :meth:`add_once` does): a bulk import checks its next batch while
        the database writes the one before."""
        if media is not None and len(media) != len(sightings):
            raise InvalidSightingError(f"{len(sightings)} sightings but {len(media)} media items")
        items: list[SightingMedia | None] = list(media) if media is not None else [None] * len(sightings)
        for item in items:
            if item is not None:
                for what, data in (("thumbnail", item.thumbnail), ("context frame", item.context)):
                    if data is not None:
                        check_jpeg(data, what)
        model = model or self.faces.searched_model() or DEFAULT_FACE_MODEL
        positions = self.cameras.positions()
        rows, reads, feeds = [], [], []
        for sighting in sightings:
            self.cameras.require(sighting.camera_id)
            rows.append(row_of(sighting, positions))
            reads.append(read_rows(sighting.plate))
            feeds.append(feed_row(sighting.feed))
        encoded = self.db.encoded_rows(rows)  # here, not in the write: the checking thread does it
        return CheckedSightings(list(sightings), items, rows, reads, feeds, model, encoded)

    def _add_checked(self, checked: CheckedSightings) -> StoredSightings:
        sightings, items, rows, model = checked.sightings, checked.media, checked.rows, checked.model
        keys = [live_key(sighting) for sighting in sightings]
        known = self._stored_keys(keys)
        fresh = [i for i, key in enumerate(keys) if key is None or key not in known]
        faces = [n for n, i in enumerate(fresh) if sightings[i].kind == SightingKind.FACE]
        blobs = self.faces.blobs(model, [sightings[fresh[n]].embedding for n in faces])
        new_rows = [rows[i] for i in fresh]
        written = self._write_media(new_rows, [items[i] for i in fresh])
        try:
            with self.db.write("storing sightings"):
                if blobs:
                    self.faces.record_model(model, len(blobs[0]) // 4)
                # rows made ahead hold no media path: usable unless media were written into the rows
                encoded = None if checked.encoded is None or written else [checked.encoded[i] for i in fresh]
                new_ids = self.db.insert_many("sightings", COLUMNS, new_rows, encoded) if new_rows else []
                self.faces.insert(model, [new_ids[n] for n in faces], blobs)
                self.plates.add_reads(new_ids, [checked.reads[i] for i in fresh])
                self.feeds.insert(new_ids, [checked.feeds[i] for i in fresh])
        except BaseException:
            self.media.remove(written)
            raise
        ids = {i: new_id for i, new_id in zip(fresh, new_ids, strict=True)}
        return StoredSightings(
            ids=[ids[i] if i in ids else known[keys[i] or ()] for i in range(len(sightings))],
            new=[i in ids for i in range(len(sightings))],
        )

    def _stored_keys(self, keys: Sequence[tuple | None]) -> dict[tuple, int]:
        """Idempotency key -> id of the live sightings of ``keys`` (:func:`live_key`) stored already (one query)."""
        wanted = {key for key in keys if key is not None}
        if not wanted:
            return {}
        camera_condition, camera_arg = _text_in(self.db, "camera_id", sorted({key[0] for key in wanted}))
        track_condition, track_arg = self.db.ids_in("track_id", sorted({key[2] for key in wanted}))
        starts = [key[3] for key in wanted]
        rows = self.db.execute(
            "SELECT id, camera_id, kind, track_id, first_seen FROM sightings WHERE origin_kind = 'live' "
            f"AND {camera_condition} AND {track_condition} AND first_seen BETWEEN ? AND ?",
            (camera_arg, track_arg, min(starts), max(starts)),
        )
        return {key: row[0] for row in rows if (key := tuple(row[1:])) in wanted}

    def add_new(
        self, sightings: Sequence[Sighting] | CheckedSightings, media: Sequence[SightingMedia | None] | None = None
    ) -> list[int | None]:
        """Store the feed ``sightings`` (or those :meth:`check` gave) whose natural key (``feed.key``) is not
        stored yet, in one transaction; returns each one's new id, None for a record stored before (or earlier
        in the batch)."""
        checked = sightings if isinstance(sightings, CheckedSightings) else self.check(sightings, media)
        if any(s.feed is None for s in checked.sightings):
            raise InvalidSightingError("only sightings of an external feed have a natural key")
        with self.db.write("storing feed records"):
            keys = [s.feed.key if s.feed is not None else "" for s in checked.sightings]
            known = self.feeds.known_keys(keys)
            new: dict[str, int] = {}
            for i, key in enumerate(keys):
                if key not in known and key not in new:
                    new[key] = i
            chosen = list(new.values())
            ids = self._add_checked(checked.subset(chosen)).ids
        found: list[int | None] = [None] * len(keys)
        for i, sighting_id in zip(chosen, ids, strict=True):
            found[i] = sighting_id
        return found

    def _write_media(self, rows: list[list], media: Sequence[SightingMedia | None]) -> list[str]:
        """Write the media files of ``rows`` and put their paths in the rows; returns the paths written."""
        written: list[str] = []
        try:
            for row, item in zip(rows, media, strict=True):
                if item is None and row[THUMB_AT] is None and row[CONTEXT_AT] is None:
                    continue  # nothing to write or to find (a checkpoint read without an image)
                thumbnail, context = (item.thumbnail, item.context) if item is not None else (None, None)
                for column, data in ((THUMB_AT, thumbnail), (CONTEXT_AT, context)):
                    if data is not None:
                        row[column] = self.media.write("thumbnails" if column == THUMB_AT else "context", bytes(data))
                        written.append(row[column])
                    elif row[column] is not None and not self.media.exists(row[column]):
                        raise InvalidSightingError(f"media file {row[column]} not found in {self.media.where}")
            self.media.sync_dirs(written)
        except BaseException:
            self.media.remove(written)
            raise
        return written

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
