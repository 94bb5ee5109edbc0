"""The face index's rows (append-only, capacity-doubling arrays), its HNSW graph, and the search over
them: exact top-k over masked rows, and the graph searched with the mask as a selector (see
:mod:`skynet.index.face_index`)."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from skynet.store.errors import QueryError


@dataclass(slots=True)
class FaceRows:
    """The row arrays; ``n`` rows are valid, the arrays may be longer (capacity)."""

    ids: np.ndarray
    vectors: np.ndarray
    times: np.ndarray
    cams: np.ndarray
    alive: np.ndarray
    n: int = 0

    @classmethod
    def empty(cls, dim: int, capacity: int = 1024) -> FaceRows:
        return cls(
            np.zeros(capacity, np.int64),
            np.zeros((capacity, dim), np.float32),
            np.zeros(capacity, np.float64),
            np.zeros(capacity, np.int32),
            np.zeros(capacity, bool),
        )

    def taken(self, keep: np.ndarray) -> FaceRows:
        """Rows ``keep`` (positions), in new arrays."""
        fresh = FaceRows.empty(self.vectors.shape[1], max(1024, 2 * len(keep)))
        for name in ("ids", "vectors", "times", "cams", "alive"):
            getattr(fresh, name)[: len(keep)] = getattr(self, name)[keep]
        fresh.n = len(keep)
        return fresh

    def grown(self, needed: int) -> FaceRows:
        """These rows in arrays with room for ``needed`` rows (new arrays, old ones left intact)."""
        capacity = max(needed, 2 * len(self.ids))
        grown = FaceRows.empty(self.vectors.shape[1], capacity)
        for name in ("ids", "vectors", "times", "cams", "alive"):
            getattr(grown, name)[: self.n] = getattr(self, name)[: self.n]
        grown.n = self.n
        return grown


@dataclass(frozen=True, slots=True)
class FaceGraph:
    index: faiss.Index
    rows: int  # covers rows [0, rows)
    generation: int


def normalised(vector: np.ndarray, dim: int | None) -> np.ndarray:
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is not None and query.size != dim:
        raise QueryError(f"query embedding has {query.size} dimensions; the index holds {dim}-d embeddings")
    norm = float(np.linalg.norm(query)) if np.all(np.isfinite(query)) else 0.0
    if norm < 1e-6:
        raise QueryError("query embedding is zero or not finite")
    return query / norm


def top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (scores, rows), best first."""
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        scores, rows = scores[part], rows[part]
    order = np.argsort(-scores, kind="stable")
    return scores[order], rows[order]


def exact_search(
    rows: FaceRows, mask: np.ndarray, query: np.ndarray, k: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k over the masked rows in ``[lo, hi)``."""
    part = mask[lo:hi]
    selected = int(np.count_nonzero(part))
    if selected == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    if selected < (hi - lo) // 4:
        candidates = np.flatnonzero(part) + lo
        scores = rows.vectors[candidates] @ query
    else:
        scores = rows.vectors[lo:hi] @ query
        scores[~part] = -np.inf
        candidates = np.arange(lo, hi)
    scores, candidates = top_k(scores, candidates, min(k, selected))
    return scores, candidates


def graph_search(
    rows: FaceRows, graph: FaceGraph, mask: np.ndarray, query: np.ndarray, k: int, n: int, ef_search: int
) -> tuple[np.ndarray, np.ndarray]:
    """HNSW over rows ``[0, graph.rows)`` with the mask as an ID selector, plus an exact tail."""
    graph_mask = mask[: graph.rows]
    in_graph = int(np.count_nonzero(graph_mask))
    want = min(k, in_graph)
    scores = np.zeros(0, np.float32)
    found = np.zeros(0, np.int64)
    if want:
        bitmap = np.packbits(graph_mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        # a selective filter leaves fewer usable neighbours per hop: widen the beam to match
        ef = int(ef_search * np.sqrt(graph.rows / in_graph))
        # faiss has SearchParametersHNSW, the stub it ships lacks it (hence the ignore below)
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=min(1024, max(ef, 2 * k)))  # type: ignore[attr-defined]
        distances, labels = graph.index.search(query[None, :], want, params=params)
        keep = labels[0] >= 0
        scores, found = distances[0][keep], labels[0][keep]
        if len(found) < want:  # the filtered graph could not fill k: answer exactly instead
            scores, found = exact_search(rows, mask, query, want, 0, graph.rows)
    tail_scores, tail_rows = exact_search(rows, mask, query, k, graph.rows, n)
    return top_k(np.concatenate([scores, tail_scores]), np.concatenate([found, tail_rows]), k)
