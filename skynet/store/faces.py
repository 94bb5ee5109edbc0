"""Face vectors per embedding model: the ``face_embeddings`` table and the searched model.

Vectors of different embedding models are not comparable, so every vector is stored under the
model that made it (``<pack>/<embedder>``, see :mod:`skynet.index.face_models`). Searches use one
model, the *searched* one; a re-embedding job fills in another model's vectors, then switches.
``meta`` holds ``face_model`` (the searched model) and ``embedding_dim/<model>`` (each model's dimension).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from skynet.records import Box
from skynet.store.checks import blob_vectors, embedding_blob
from skynet.store.database import Database
from skynet.store.errors import InvalidSightingError

DEFAULT_FACE_MODEL = "default/dlib_resnet"
"""The model of every face embedding stored before embeddings recorded their model (schema 3)."""

_VECTORS = (
    "SELECT f.sighting_id, f.embedding, s.best_time, s.camera_id FROM face_embeddings f "
    "JOIN sightings s ON s.id = f.sighting_id WHERE f.model = ? AND "
)
_IN_RANGE = (
    "SELECT {} FROM face_embeddings f JOIN sightings s ON s.id = f.sighting_id "
    "WHERE f.model = ? AND s.best_time >= ? AND s.best_time < ?"
)
_WITHOUT_VECTOR = "NOT EXISTS (SELECT 1 FROM face_embeddings f WHERE f.model = ? AND f.sighting_id = s.id)"


@dataclass(frozen=True, slots=True)
class FaceBatch:
    """Face sightings as columns, for building the derived face index."""

    ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, d) float32, L2-normalised
    times: np.ndarray  # (n,) float64, best_time
    camera_ids: list[str]


@dataclass(frozen=True, slots=True)
class FaceSource:
    """A face sighting as a re-embedding job sees it: where the face is, and its stored images."""

    id: int
    camera_id: str
    best_time: float
    box: Box  # in the analysed frame
    thumbnail_path: str | None
    context_path: str | None


class FaceRepository:
    """Face vectors by model; ``model`` None everywhere means the searched model."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._dims: dict[str, int] = {}  # committed dimension of each model

    def searched_model(self) -> str | None:
        """The embedding model searches use; None before the first face embedding is stored."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'face_model'").fetchone()
        return row[0] if row else None

    def set_searched_model(self, model: str) -> None:
        """Make ``model`` the one searches use (the end of a re-embedding job: one atomic write)."""
        with self.db.write("switching the face embedding model"):
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES ('face_model', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (model,),
            )

    def dim(self, model: str | None = None) -> int | None:
        """The dimension of ``model``'s vectors; None if it has none yet."""
        model = model or self.searched_model()
        if model is None:
            return None
        if model not in self._dims:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (f"embedding_dim/{model}",)).fetchone()
            if row is None:
                return None
            self._dims[model] = int(row[0])
        return self._dims[model]

    def counts(self) -> dict[str, int]:
        """How many face vectors each embedding model has."""
        rows = self.db.execute("SELECT model, count(*) FROM face_embeddings GROUP BY model")
        return {model: int(count) for model, count in rows}

    def ids(self, model: str | None = None, *, between: tuple[float, float] | None = None) -> np.ndarray:
        """Sorted ids of the face sightings that have a vector of ``model`` (``between``: seen in [since, until))."""
        model = model or self.searched_model()
        if between is None:
            rows = self.db.execute(
                "SELECT sighting_id FROM face_embeddings WHERE model = ? ORDER BY sighting_id", (model,)
            ).fetchall()
        else:
            rows = self.db.execute(f"{_IN_RANGE.format('f.sighting_id')} ORDER BY f.sighting_id", (model, *between))
            rows = rows.fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def count_between(self, between: tuple[float, float], model: str | None = None) -> int:
        """How many face sightings seen in [since, until) have a vector of ``model`` (one index partition)."""
        row = self.db.execute(_IN_RANGE.format("count(*)"), (model or self.searched_model(), *between)).fetchone()
        return int(row[0])

    def batches(
        self,
        ids: np.ndarray | None = None,
        *,
        after_id: int = 0,
        batch_size: int = 50_000,
        model: str | None = None,
        between: tuple[float, float] | None = None,
    ) -> Iterator[FaceBatch]:
        """``model``'s vectors in sighting id order: those of ``ids`` if given, else every one after ``after_id``
        (``between``: only those whose best-view time is in [since, until): one partition of the face index)."""
        model = model or self.searched_model()
        if between is not None:
            yield from self._batches_between(model, between, after_id, batch_size)
            return
        if ids is not None:
            ids = np.unique(np.asarray(ids, dtype=np.int64))
            for start in range(0, len(ids), batch_size):
                condition, arg = self.db.ids_in("f.sighting_id", ids[start : start + batch_size].tolist())
                rows = self.db.execute(f"{_VECTORS}{condition} ORDER BY f.sighting_id", (model, arg)).fetchall()
                if rows:
                    yield _face_batch(rows)
            return
        while True:
            rows = self.db.execute(
                f"{_VECTORS}f.sighting_id > ? ORDER BY f.sighting_id LIMIT ?", (model, after_id, batch_size)
            ).fetchall()
            if not rows:
                return
            yield _face_batch(rows)
            after_id = rows[-1][0]

    def _batches_between(
        self, model: str | None, between: tuple[float, float], after_id: int, batch_size: int
    ) -> Iterator[FaceBatch]:
        since, until = between
        while True:
            rows = self.db.execute(
                f"{_VECTORS}s.best_time >= ? AND s.best_time < ? AND f.sighting_id > ? ORDER BY f.sighting_id LIMIT ?",
                (model, since, until, after_id, batch_size),
            ).fetchall()
            if not rows:
                return
            yield _face_batch(rows)
            after_id = rows[-1][0]

    def partition_keys(self, partition_s: float, model: str | None = None) -> list[int]:
        """The time partitions (``floor(best_time / partition_s)``) that hold a vector of ``model``, oldest first:
        the span of face sightings' times, then one probe of the time index per partition in it."""
        model = model or self.searched_model()
        low, high = self.db.execute(
            "SELECT min(best_time), max(best_time) FROM sightings WHERE kind = 'face'"
        ).fetchone()
        if low is None:
            return []
        probe = (
            "SELECT 1 FROM sightings s JOIN face_embeddings f ON f.sighting_id = s.id AND f.model = ? "
            "WHERE s.best_time >= ? AND s.best_time < ? LIMIT 1"
        )
        keys = range(math.floor(low / partition_s), math.floor(high / partition_s) + 1)
        return [k for k in keys if self.db.execute(probe, (model, k * partition_s, (k + 1) * partition_s)).fetchone()]

    def last_id(self) -> int:
        """The highest sighting id with a face vector of any model (0: none)."""
        row = self.db.execute("SELECT max(sighting_id) FROM face_embeddings").fetchone()
        return int(row[0] or 0)

    def vector(self, sighting_id: int, model: str | None = None) -> np.ndarray | None:
        """Face sighting ``sighting_id``'s vector of ``model``, if it has one."""
        row = self.db.execute(
            "SELECT embedding FROM face_embeddings WHERE model = ? AND sighting_id = ?",
            (model or self.searched_model(), sighting_id),
        ).fetchone()
        return np.frombuffer(row[0], dtype="<f4").copy() if row else None

    def to_embed(self, model: str, *, after_id: int = 0, limit: int = 256) -> list[FaceSource]:
        """Face sightings after ``after_id`` with no vector of ``model`` yet, in id order, with their images."""
        rows = self.db.execute(
            "SELECT id, camera_id, best_time, x1, y1, x2, y2, thumbnail_path, context_path FROM sightings s "
            f"WHERE kind = 'face' AND id > ? AND {_WITHOUT_VECTOR} ORDER BY id LIMIT ?",
            (after_id, model, limit),
        ).fetchall()
        return [FaceSource(r[0], r[1], r[2], Box(*r[3:7]), r[7], r[8]) for r in rows]

    def count_to_embed(self, model: str) -> int:
        """How many face sightings have no vector of ``model`` yet."""
        sql = f"SELECT count(*) FROM sightings s WHERE kind = 'face' AND {_WITHOUT_VECTOR}"
        return int(self.db.execute(sql, (model,)).fetchone()[0])

    def without_vectors(self) -> int:
        """How many face sightings have no vector of any model (none should)."""
        sql = "SELECT count(*) FROM sightings s WHERE kind = 'face' AND NOT EXISTS "
        sql += "(SELECT 1 FROM face_embeddings f WHERE f.sighting_id = s.id)"
        return int(self.db.execute(sql).fetchone()[0])

    def add(self, model: str, ids: Sequence[int], vectors: Sequence[np.ndarray]) -> np.ndarray:
        """Store ``model``'s vectors of face sightings ``ids`` (a re-embedding job); sightings deleted
        meanwhile are skipped. Returns the L2-normalised vectors as stored."""
        if len(ids) != len(vectors):
            raise InvalidSightingError(f"{len(ids)} sighting ids but {len(vectors)} vectors")
        blobs = self.blobs(model, vectors)
        if not blobs:
            return np.zeros((0, self.dim(model) or 0), np.float32)
        with self.db.write("storing re-embedded faces"):
            self.record_model(model, len(blobs[0]) // 4)
            self.db.executemany(
                "INSERT INTO face_embeddings (model, sighting_id, embedding) SELECT ?, id, ? FROM sightings "
                "WHERE id = ? AND kind = 'face' ON CONFLICT DO NOTHING",
                [(model, blob, int(i)) for i, blob in zip(ids, blobs, strict=True)],
            )
        return blob_vectors(blobs)

    # --- for the repositories that store vectors with their own rows --------------------------

    def blobs(self, model: str, vectors: Sequence[object]) -> list[bytes]:
        """Checked, L2-normalised float32 bytes of ``vectors``, all of ``model``'s dimension (or, for a
        model without vectors yet, of the first one's)."""
        dim = self.dim(model)
        blobs = []
        for vector in vectors:
            blobs.append(embedding_blob(vector, dim))
            dim = len(blobs[-1]) // 4
        return blobs

    def record_model(self, model: str, dim: int) -> None:
        """Inside a write: note ``model``'s dimension (refusing vectors of another size stored meanwhile),
        and make it the searched model if there is none yet."""
        if self._dims.get(model) == dim:
            return
        key = f"embedding_dim/{model}"
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (key, str(dim)))
        self.db.execute("INSERT INTO meta (key, value) VALUES ('face_model', ?) ON CONFLICT DO NOTHING", (model,))
        stored = int(self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])
        if stored != dim:
            raise InvalidSightingError(
                f"face embedding has {dim} dimensions; the store holds {stored}-d {model} vectors"
            )

    def insert(self, model: str, ids: Sequence[int], blobs: Sequence[bytes]) -> None:
        """Inside a write: store the vectors of new face sightings."""
        self.db.executemany(
            "INSERT INTO face_embeddings (model, sighting_id, embedding) VALUES (?, ?, ?)",
            [(model, int(i), blob) for i, blob in zip(ids, blobs, strict=True)],
        )


def _face_batch(rows: list[tuple]) -> FaceBatch:
    n = len(rows)
    return FaceBatch(
        ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
        vectors=blob_vectors([r[1] for r in rows]),
        times=np.fromiter((r[2] for r in rows), dtype=np.float64, count=n),
        camera_ids=[r[3] for r in rows],
    )
