"""What a face search returns, and the search of several partitions for one query.

The partitions a search touches are searched side by side on a pool of threads (FAISS releases the GIL;
as many threads as cores, shared by every index) when they are large and no other search is running; then
their answers are merged: exact
answers as they are, IVF candidates narrowed to the best over all partitions and only those re-ranked with
their exact vectors (:func:`~skynet.index.face_partition.rerank`).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from skynet.index.face_partition import Found, Partition, Tuning, rerank
from skynet.store.errors import QueryError

# below this many rows in all, a search takes well under a millisecond: handing partitions to other threads
# (each waiting for a core on a busy machine) would cost more than it saves
PARALLEL_ROWS = 200_000
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_running = 0  # searches in search_partitions now, in every index (guarded by _pool_lock)


@dataclass(frozen=True, slots=True)
class FaceHit:
    """A face sighting and its cosine similarity to the query."""

    sighting_id: int
    similarity: float


class FaceHits(list):
    """Search hits, most similar first; ``incomplete`` lists the (since, until) time ranges the
    search could not cover (partitions being rebuilt from the store): empty when it is complete."""

    def __init__(self, hits=(), incomplete: tuple[tuple[float, float], ...] = ()) -> None:
        super().__init__(hits)
        self.incomplete = incomplete


class FaceSearcher(Protocol):
    """What answers face searches: a :class:`~skynet.index.face_index.FaceIndex`, or the index shards of a
    cluster (:class:`skynet.cluster.sharded_index.ShardedFaceIndex`)."""

    def search(
        self,
        embedding: np.ndarray,
        k: int = 10,
        *,
        since: float | None = None,
        until: float | None = None,
        cameras: list[str] | None = None,
        min_similarity: float | None = None,
        model: str | None = None,
    ) -> FaceHits: ...


def normalised(vector: np.ndarray, dim: int | None) -> np.ndarray:
    """The query as a unit float32 vector of ``dim`` dimensions; a clear error for anything else."""
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is not None and query.size != dim:
        raise QueryError(f"query embedding has {query.size} dimensions; the index holds {dim}-d embeddings")
    norm = float(np.linalg.norm(query)) if np.all(np.isfinite(query)) else 0.0
    if norm < 1e-6:
        raise QueryError("query embedding is zero or not finite")
    return query / norm


def checked_query(
    embedding: np.ndarray, k: int, model: str | None, index_model: str | None, dim: int | None
) -> np.ndarray:
    """The normalised query of a search for ``k`` hits, or a clear error: ``k`` below 1, or a query embedded by
    ``model`` where the index holds ``index_model`` vectors."""
    if k < 1:
        raise QueryError("k must be at least 1")
    if model is not None and index_model is not None and model != index_model:
        raise QueryError(
            f"the query embedding comes from model {model}, the face index holds {index_model} vectors",
            "embed the query with the model the index was built with",
        )
    return normalised(embedding, dim)


def search_partitions(
    parts: list[Partition],
    query: np.ndarray,
    k: int,
    since: float | None,
    until: float | None,
    cam_codes: np.ndarray | None,
    tuning: Tuning,
) -> list[FaceHit]:
    """The top-``k`` hits of ``query`` over ``parts`` (each searched with the filters), most similar first."""

    def one(part: Partition):
        return part.search(query, k, since, until, cam_codes, tuning)

    global _running
    with _pool_lock:
        _running += 1
        alone = _running == 1
    try:
        # side by side only while no other search runs: concurrent searches already keep the cores busy, and
        # each partition handed to a pool thread costs GIL hand-offs (16 HTTP clients at 10M: a quarter of the
        # samples of `py-spy record --gil` were pool threads waking their callers, `Future.set_result`)
        side_by_side = alone and len(parts) > 1 and sum(p.rows.n for p in parts) >= PARALLEL_ROWS
        found = list(_threads().map(one, parts)) if side_by_side else [one(p) for p in parts]
    finally:
        with _pool_lock:
            _running -= 1
    scores, ids = rerank(query, found, k, tuning.refine)
    return [FaceHit(int(i), float(s)) for s, i in zip(scores, ids, strict=True)]


def merge_hits(answers: list[list[FaceHit]], k: int) -> list[FaceHit]:
    """The top-``k`` of several searches' exact hits (shards of one index, each already re-ranked), merged as
    :func:`search_partitions` merges its partitions' exact answers."""
    found = [
        Found(np.array([h.similarity for h in hits], np.float32), np.array([h.sighting_id for h in hits], np.int64))
        for hits in answers
        if hits
    ]
    scores, ids = rerank(np.zeros(0, np.float32), found, k, refine=1)
    return [FaceHit(int(i), float(s)) for s, i in zip(scores, ids, strict=True)]


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="face-search")
        return _pool
