"""Watch-list entries: plate patterns, and faces with their reference embeddings per model and photos."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from skynet.records import Identity, Recipient, SightingKind, WatchlistEntry
from skynet.store.database import Database
from skynet.store.errors import InvalidSightingError
from skynet.store.faces import DEFAULT_FACE_MODEL, FaceRepository


class WatchlistRepository:
    """The ``watchlist_entries`` table with ``watchlist_embeddings`` (per model) and ``watchlist_photos``;
    ``model`` None means the searched face model."""

    def __init__(self, db: Database, faces: FaceRepository) -> None:
        self.db = db
        self.faces = faces

    def add(self, entry: WatchlistEntry, *, model: str | None = None, photos: Sequence[bytes] = ()) -> int:
        """Store ``entry``; a face entry's embeddings are ``model``'s and its ``photos`` (the image files
        they came from) are kept so that a model switch can re-embed them. Its recipients are kept as
        :meth:`Recipient.parse` writes them. Returns its id."""
        recipients = self._recipients(entry.recipients)
        if entry.kind == SightingKind.PLATE and not entry.plate_pattern:
            raise InvalidSightingError("a plate watch-list entry needs a plate pattern")
        if entry.kind == SightingKind.FACE and not entry.embeddings:
            raise InvalidSightingError("a face watch-list entry needs at least one reference embedding")
        if (entry.kind == SightingKind.IDENTITY) != (entry.identity is not None):
            raise InvalidSightingError("an identity watch-list entry (and only one) needs an identity key")
        identity = entry.identity
        model = model or self.faces.searched_model() or DEFAULT_FACE_MODEL
        blobs = self.faces.blobs(model, entry.embeddings)
        with self.db.write("adding a watch-list entry"):
            entry_id = self.db.insert_returning_id(
                "INSERT INTO watchlist_entries (kind, label, reason, added_by, created_at, expires_at, plate_pattern, "
                "min_similarity, recipients, cooldown_s, identity_hash, identity_masked, identity_sealed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    SightingKind(entry.kind).value,
                    entry.label,
                    entry.reason,
                    entry.added_by,
                    entry.created_at,
                    entry.expires_at,
                    entry.plate_pattern,
                    entry.min_similarity,
                    json.dumps(recipients, ensure_ascii=False),
                    entry.cooldown_s,
                    None if identity is None else identity.key_hash,
                    None if identity is None else identity.masked,
                    None if identity is None else bytes(identity.sealed),
                ),
            )
            if blobs:
                self._put_embeddings(entry_id, model, blobs)
            if photos:
                self.db.executemany(
                    "INSERT INTO watchlist_photos (entry_id, image) VALUES (?, ?)",
                    [(entry_id, bytes(photo)) for photo in photos],
                )
        return entry_id

    @staticmethod
    def _recipients(recipients: Sequence[str]) -> list[str]:
        try:
            return list(dict.fromkeys(Recipient.parse(text).address for text in recipients))
        except ValueError as error:
            raise InvalidSightingError(f"watch-list entry recipient: {error}") from None

    def set_embeddings(self, entry_id: int, model: str, vectors: Sequence[np.ndarray]) -> None:
        """Store (or replace) face entry ``entry_id``'s reference embeddings of ``model``."""
        blobs = self.faces.blobs(model, vectors)
        if not blobs:
            raise InvalidSightingError("a face watch-list entry needs at least one reference embedding")
        with self.db.write("storing watch-list embeddings"):
            self._put_embeddings(entry_id, model, blobs)

    def _put_embeddings(self, entry_id: int, model: str, blobs: list[bytes]) -> None:
        self.faces.record_model(model, len(blobs[0]) // 4)
        self.db.execute(
            "INSERT INTO watchlist_embeddings (entry_id, model, embeddings, embedding_count) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (entry_id, model) DO UPDATE SET embeddings = excluded.embeddings, "
            "embedding_count = excluded.embedding_count",
            (entry_id, model, b"".join(blobs), len(blobs)),
        )

    def photos(self, entry_id: int) -> list[bytes]:
        """The photos kept for face entry ``entry_id`` (none for entries made before photos were kept)."""
        rows = self.db.execute("SELECT image FROM watchlist_photos WHERE entry_id = ? ORDER BY id", (entry_id,))
        return [bytes(r[0]) for r in rows]

    def all(self, model: str | None = None) -> list[WatchlistEntry]:
        """Every entry not deleted; face entries carry their reference embeddings of ``model``, none when they
        have none of that model."""
        rows = self.db.execute(
            "SELECT w.kind, w.label, w.reason, w.added_by, w.created_at, w.expires_at, w.plate_pattern, "
            "e.embeddings, e.embedding_count, w.min_similarity, w.id, w.recipients, w.cooldown_s, w.identity_hash, "
            "w.identity_masked, w.identity_sealed "
            "FROM watchlist_entries w LEFT JOIN watchlist_embeddings e ON e.entry_id = w.id AND e.model = ? "
            "WHERE w.deleted_at IS NULL ORDER BY w.id",
            (model or self.faces.searched_model(),),
        )
        return [
            WatchlistEntry(
                SightingKind(r[0]),
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                tuple(np.frombuffer(r[7], dtype="<f4").reshape(r[8], -1).copy()) if r[8] else (),
                r[9],
                r[10],
                tuple(json.loads(r[11])),
                r[12],
                Identity(r[13], r[14], bytes(r[15])) if r[13] is not None else None,
            )
            for r in rows
        ]

    def delete(self, entry_id: int, by: str, at: float) -> bool:
        """Delete an entry: it matches no more and its photos and reference embeddings go, but its row stays
        (marked deleted by ``by`` at ``at``), so its alerts, acknowledged or not, keep naming it. ``False`` if
        there was no such entry."""
        with self.db.write("deleting a watch-list entry"):
            deleted = self.db.execute(
                "UPDATE watchlist_entries SET deleted_at = ?, deleted_by = ? WHERE id = ? AND deleted_at IS NULL",
                (at, by, entry_id),
            ).rowcount
            self.db.execute("DELETE FROM watchlist_photos WHERE entry_id = ?", (entry_id,))
            self.db.execute("DELETE FROM watchlist_embeddings WHERE entry_id = ?", (entry_id,))
        return deleted > 0
