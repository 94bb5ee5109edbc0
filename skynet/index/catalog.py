"""The sighting catalog: the store (source of truth) and the face indexes derived from it, kept in step.

Each embedding model has its own face index (:mod:`skynet.index.face_models`); searches use the
store's *searched* model. Faces stored through the catalog carry the *live* model (the one the
configured model pack embeds with). While the two differ a re-embedding job
(:mod:`skynet.index.reembed`) fills the live model's index, then :meth:`Catalog.switch_face_model`
makes it the searched one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from skynet.config import Settings
from skynet.index.face_index import FaceIndex
from skynet.index.face_models import INDEX_DIR, face_model_id, index_dir
from skynet.index.face_search import FaceHits, FaceSearcher
from skynet.index.partition_check import set_right_all
from skynet.records import Sighting, SightingKind
from skynet.store import Store, open_media, open_store
from skynet.store.changes import deleted_faces
from skynet.store.errors import QueryError
from skynet.store.faces import DEFAULT_FACE_MODEL, FaceBatch
from skynet.store.id_cursor import IdCursor
from skynet.store.media import MediaStore
from skynet.store.sighting_writes import SightingMedia
from skynet.store.sightings import DeletedSightings

log = logging.getLogger(__name__)


def remove_legacy_index(data_dir: Path) -> None:
    """Delete a face index saved before indexes were kept per model (``index/faces.npz``): the
    partitioned index of the default model is rebuilt from the store instead."""
    root = Path(data_dir) / INDEX_DIR
    old = [root / "faces.npz", *root.glob("faces-*.hnsw")]
    if old[0].is_file():
        for path in old:
            path.unlink(missing_ok=True)
        log.info("face index: %s is of an earlier format, removed; rebuilt from the store", old[0])


class Catalog:
    """Writes go to the store first, then to the face index of their model; indexes catch up at open.

    ``faces`` is the searched model's index; ``live_model`` the model of the embeddings written
    through :meth:`add_sightings`.
    """

    def __init__(
        self,
        store: Store,
        faces: FaceIndex,
        *,
        data_dir: Path | None = None,
        index_root: Path | None = None,
        live_model: str | None = None,
        index_options: dict | None = None,
        indexing: bool = True,
    ) -> None:
        self.store = store
        self.indexing = indexing
        self.faces = faces
        self.live_model = live_model or faces.model or DEFAULT_FACE_MODEL
        self.data_dir, self.index_root = data_dir, index_root
        self._index_options = index_options or {}
        self._indexes: dict[str, FaceIndex] = {faces.model or self.live_model: faces}
        self._lock = threading.Lock()
        self._refreshed_to = store.faces.last_id()  # the indexes hold the store's vectors up to here
        self._deletions = IdCursor(store.changes.last_id())  # the change log read up to here (forget_deleted)
        self._deletions_lock = threading.Lock()
        # where face searches go instead of ``faces`` (an API node of a sharded cluster: the index shards)
        self.searcher: FaceSearcher | None = None

    @classmethod
    def open(
        cls,
        data_dir: Path,
        database_url: str | None = None,
        *,
        face_model: str | None = None,
        indexing: bool = True,
        index_root: Path | None = None,
        media: MediaStore | None = None,
        **index_options,
    ) -> Catalog:
        """Open (creating if needed) the store and face indexes in ``data_dir``.

        The store is SQLite in ``data_dir``, or PostgreSQL at ``database_url`` when given (the face indexes
        stay in ``data_dir``, and media files too unless ``media`` is given). ``face_model`` is the model of the
        embeddings this catalog will store (default: the searched one); its index is opened too.
        ``index_root``: the face indexes' directory instead of ``<data_dir>/index``. ``indexing`` False: a catalog
        that only stores (a camera node of a cluster, whose sightings the
        API nodes index): no index is loaded or kept, and face searches find nothing.
        """
        store = open_store(data_dir, database_url, media=media)
        try:
            remove_legacy_index(data_dir)
            searched = store.faces.searched_model() or face_model or DEFAULT_FACE_MODEL
            if indexing:
                faces = FaceIndex.open(
                    index_dir(data_dir, searched, index_root), store.faces, model=searched, **index_options
                )
            else:
                faces = FaceIndex(index_dir(data_dir, searched, index_root), store.faces.dim(searched), model=searched)
        except BaseException:
            store.close()
            raise
        catalog = cls(
            store,
            faces,
            data_dir=Path(data_dir),
            index_root=index_root,
            live_model=face_model,
            index_options=index_options,
            indexing=indexing,
        )
        try:
            if indexing:
                catalog.index(catalog.live_model)
        except BaseException:
            catalog.close()
            raise
        return catalog

    @classmethod
    def from_settings(cls, settings: Settings, *, indexing: bool = True, **index_options) -> Catalog:
        """The catalog of ``settings``' data directory, storing faces as the configured pack's model."""
        return cls.open(
            settings.data_dir,
            settings.database_url,
            face_model=face_model_id(settings.model_pack),
            indexing=indexing,
            index_root=settings.index_dir,
            media=open_media(settings),
            **index_options,
        )

    @property
    def face_model(self) -> str | None:
        """The embedding model searches use."""
        return self.faces.model

    def index(self, model: str) -> FaceIndex:
        """``model``'s face index, opened (and caught up with the store) on first use."""
        with self._lock:
            index = self._indexes.get(model)
            if index is None:
                if self.data_dir is None:
                    raise QueryError(f"this catalog has no face index of model {model}")
                index = FaceIndex.open(
                    index_dir(self.data_dir, model, self.index_root),
                    self.store.faces,
                    model=model,
                    **self._index_options,
                )
                self._indexes[model] = index
            return index

    def open_indexes(self) -> list[FaceIndex]:
        """The face indexes opened so far (the searched model's, the live model's, any other in use); none in a
        catalog that does not index."""
        with self._lock:
            return list(self._indexes.values()) if self.indexing else []

    def add_sightings(
        self, sightings: Sequence[Sighting], media: Sequence[SightingMedia | None] | None = None
    ) -> list[int]:
        """Store ``sightings`` (one transaction) and index the new faces among them; returns their ids (a live
        sighting stored before under its idempotency key keeps its id and is not indexed again)."""
        # opened (caught up) before the write, so it adds the new ones once
        index = self.index(self.live_model) if self.indexing else None
        stored = self.store.sightings.add_once(sightings, media, model=self.live_model)
        ids = stored.ids
        faces = [
            (i, s) for i, s, new in zip(ids, sightings, stored.new, strict=True) if new and s.kind == SightingKind.FACE
        ]
        if faces and index is not None:
            vectors = np.stack([np.asarray(s.embedding, dtype=np.float32) for _, s in faces])
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            index.add(
                FaceBatch(
                    ids=np.array([i for i, _ in faces], dtype=np.int64),
                    vectors=vectors,
                    times=np.array([s.best_time for _, s in faces], dtype=np.float64),
                    camera_ids=[s.camera_id for _, s in faces],
                )
            )
        return ids

    def refresh(self) -> int:
        """Index the face vectors other processes stored since the last refresh (a CLI re-index while the
        server runs), in every open index, and remove those deleted (:meth:`forget_deleted`); returns how many
        were added. Cheap when there are none."""
        self.forget_deleted()
        last = self.store.faces.last_id()
        if last <= self._refreshed_to:
            return 0
        indexes = self.open_indexes()
        added = sum(index.catch_up_after(self.store.faces, self._refreshed_to) for index in indexes)
        self._refreshed_to = last
        return added

    def forget_deleted(self) -> int:
        """Remove from the open indexes the faces deleted since the last call, by this process or another (the
        store's change log: retention or a re-index on another node, a CLI beside the server); returns how many
        vectors went. Cheap when nothing was deleted."""
        if not self.indexing:
            return 0
        removed = 0
        with self._deletions_lock:
            for page in self.store.changes.follow(self._deletions):
                gone = deleted_faces(page)
                removed += self._remove_vectors(gone) if len(gone) else 0
        return removed

    def check_indexes(self) -> dict[str, dict[int, tuple[int, int]]]:
        """Set right each open index's partitions whose vector count differs from the store's (one count query per
        partition: what following the store missed); returns (removed, added) per partition set right, per model."""
        checked = {index.model or "": set_right_all(index, self.store.faces) for index in self.open_indexes()}
        return {model: fixed for model, fixed in checked.items() if fixed}

    def add_face_embeddings(self, model: str, batch: FaceBatch) -> None:
        """Store ``model``'s vectors of existing face sightings (a re-embedding job) and index them."""
        index = self.index(model)  # opened (caught up) before the write, so it adds the new ones once
        vectors = self.store.faces.add(model, batch.ids.tolist(), list(batch.vectors))
        index.add(FaceBatch(batch.ids, vectors, batch.times, batch.camera_ids))

    def search_faces(self, embedding: np.ndarray, k: int = 10, **filters) -> FaceHits:
        """See :meth:`FaceIndex.search` (on the searched model's index, or on :attr:`searcher` when one is set)."""
        return (self.searcher or self.faces).search(embedding, k, **filters)

    def face_embedding(self, sighting_id: int) -> np.ndarray | None:
        """The searched model's vector of face sighting ``sighting_id`` (None: no such vector)."""
        return self.store.faces.vector(sighting_id, self.faces.model)

    def switch_face_model(self, model: str) -> None:
        """Make ``model`` the searched one: its index is saved, the store records the switch (one
        write), then searches move to it at once."""
        index = self.index(model)
        index.save()
        self.store.faces.set_searched_model(model)
        self.faces = index

    def delete_before(self, cutoff: float) -> DeletedSightings:
        """Delete sightings older than ``cutoff`` from the store, then their vectors from the indexes."""
        deleted = self.store.sightings.delete_before(cutoff)
        self._remove_vectors(deleted.face_ids)
        self.store.changes.prune()
        return deleted

    def delete_file_sightings(self, path: str) -> DeletedSightings:
        """Delete the sightings of archive file ``path`` (before re-indexing it), vectors included."""
        deleted = self.store.sightings.delete_from_file(path)
        self._remove_vectors(deleted.face_ids)
        self.store.changes.prune()
        return deleted

    def _remove_vectors(self, ids: np.ndarray) -> int:
        with self._lock:
            indexes = list(self._indexes.values())
        return sum(index.remove(ids) for index in indexes)

    def save_indexes(self) -> None:
        """Save every open face index."""
        with self._lock:
            indexes = list(self._indexes.values())
        for index in indexes:
            index.save()

    def close(self) -> None:
        try:
            with self._lock:
                indexes = list(self._indexes.values())
            for index in indexes:
                index.close()
        finally:
            self.store.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
