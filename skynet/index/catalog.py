"""The sighting catalog: the store (source of truth) and the face index derived from it, kept in step."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from skynet.config import Settings
from skynet.index.face_index import FaceHit, FaceIndex
from skynet.index.sqlite_store import SqliteStore
from skynet.index.store import DeletedSightings, FaceBatch, SightingMedia, SightingStore
from skynet.records import Sighting, SightingKind

INDEX_DIR = "index"


def open_store(data_dir: Path, database_url: str | None = None) -> SightingStore:
    """SQLite in ``data_dir``, or PostgreSQL at ``database_url`` when given (media stays in ``data_dir``)."""
    if database_url:
        from skynet.index.postgres_store import PostgresStore  # psycopg only where PostgreSQL is used

        return PostgresStore(data_dir, database_url)
    return SqliteStore(data_dir)


class Catalog:
    """Writes go to the store first, then to the face index; the index is caught up at open."""

    def __init__(self, store: SightingStore, faces: FaceIndex) -> None:
        self.store = store
        self.faces = faces

    @classmethod
    def open(cls, data_dir: Path, database_url: str | None = None, **index_options) -> Catalog:
        """Open (creating if needed) the store and face index in ``data_dir``.

        The store is SQLite in ``data_dir``, or PostgreSQL at ``database_url`` when given (media
        files and the face index stay in ``data_dir``).
        """
        store = open_store(data_dir, database_url)
        try:
            faces = FaceIndex.open(Path(data_dir) / INDEX_DIR, store, **index_options)
        except BaseException:
            store.close()
            raise
        return cls(store, faces)

    @classmethod
    def from_settings(cls, settings: Settings, **index_options) -> Catalog:
        return cls.open(settings.data_dir, settings.database_url, **index_options)

    def add_sightings(self, sightings: Sequence[Sighting],
                      media: Sequence[SightingMedia | None] | None = None) -> list[int]:
        """Store ``sightings`` (one transaction) and index the faces among them; returns their ids."""
        ids = self.store.add_sightings(sightings, media)
        faces = [(i, s) for i, s in zip(ids, sightings) if s.kind == SightingKind.FACE]
        if faces:
            vectors = np.stack([np.asarray(s.embedding, dtype=np.float32) for _, s in faces])
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            self.faces.add(FaceBatch(ids=np.array([i for i, _ in faces], dtype=np.int64), vectors=vectors,
                                     times=np.array([s.best_time for _, s in faces], dtype=np.float64),
                                     camera_ids=[s.camera_id for _, s in faces]))
        return ids

    def search_faces(self, embedding: np.ndarray, k: int = 10, **filters) -> list[FaceHit]:
        """See :meth:`FaceIndex.search`."""
        return self.faces.search(embedding, k, **filters)

    def delete_before(self, cutoff: float) -> DeletedSightings:
        """Delete sightings older than ``cutoff`` from the store, then their vectors from the index."""
        deleted = self.store.delete_sightings_before(cutoff)
        self.faces.remove(deleted.face_ids)
        return deleted

    def delete_file_sightings(self, path: str) -> DeletedSightings:
        """Delete the sightings of archive file ``path`` (before re-indexing it), vectors included."""
        deleted = self.store.delete_sightings_from_file(path)
        self.faces.remove(deleted.face_ids)
        return deleted

    def close(self) -> None:
        try:
            self.faces.close()
        finally:
            self.store.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
