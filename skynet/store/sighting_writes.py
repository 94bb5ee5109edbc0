"""Storing sightings: validated into rows, then written in one transaction with their plate reads, feed records,
face vectors and media files; a retried live write or a feed record stored before is not written again.

Media files are written before the rows that name them commit, and removed again when the write fails.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skynet.records import Sighting, SightingKind
from skynet.store.cameras import CameraRepository
from skynet.store.database import Database, Dialect
from skynet.store.errors import InvalidSightingError
from skynet.store.faces import DEFAULT_FACE_MODEL, FaceRepository
from skynet.store.feeds import FeedRepository, feed_row
from skynet.store.media import MediaStore, check_jpeg
from skynet.store.plates import PlateRepository, read_rows
from skynet.store.sighting_rows import COLUMNS, CONTEXT_AT, THUMB_AT, live_key, row_of


@dataclass(frozen=True, slots=True)
class SightingMedia:
    """JPEG bytes the store writes next to a sighting: its best-view thumbnail and a context frame."""

    thumbnail: bytes | None = None
    context: bytes | None = None


@dataclass(frozen=True, slots=True)
class CheckedSightings:
    """Sightings validated and turned into rows (:meth:`SightingWriter.check`): each one's ``sightings``
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


class SightingWriter:
    """Writes sightings into the ``sightings`` table and the tables beside it (the write side of
    :class:`~skynet.store.sightings.SightingRepository`)."""

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
