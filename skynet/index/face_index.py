"""The face index: derived from the store, persisted atomically, exact or HNSW by size, filtered search.

Vectors live in append-only, capacity-doubling arrays (row ``i``: sighting id, vector, best time,
camera code, alive flag). Searches copy references under a short lock and then compute without
it, so ingestion never waits for a search and a search never waits for ingestion: appends only
write rows past every snapshot's end, and deletions only clear alive flags.

Up to ``approx_threshold`` vectors every search is exact (inner product on L2-normalised vectors =
cosine similarity). Above it an HNSW graph over rows ``[0, h)`` is built in a background thread and
swapped in; rows added later are searched exactly until the next rebuild. Filters (time range,
camera set) become a row mask that is applied inside the search: FAISS ``IDSelectorBitmap`` for
the graph, the mask itself for exact search; a filtered graph search that cannot fill ``k`` falls
back to exact search over the selected rows, so a filter never loses matches.

Each embedding model has its own index (directory), holding only that model's vectors
(:mod:`skynet.index.face_models`); a query must come from the same model.

Persistence: one ``faces.npz`` (rows, alive flags, watermark, graph generation) and
``faces-<generation>.hnsw``, each written to a temp file and renamed. At open the file is
reconciled with the store (the source of truth): missing face sightings are added, vectors of
deleted ones are removed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from skynet.store.errors import QueryError, StoreError
from skynet.store.faces import FaceBatch, FaceRepository
from skynet.store.media import storage_error

log = logging.getLogger(__name__)

INDEX_FILE = "faces.npz"


@dataclass(frozen=True, slots=True)
class FaceHit:
    """A face sighting and its cosine similarity to the query."""

    sighting_id: int
    similarity: float


@dataclass(frozen=True, slots=True)
class IndexStatus:
    vectors: int
    deleted_rows: int
    watermark: int
    approximate_rows: int
    building: bool
    dim: int | None
    model: str | None = None


@dataclass(slots=True)
class _Rows:
    """The row arrays; ``n`` rows are valid, the arrays may be longer (capacity)."""

    ids: np.ndarray
    vectors: np.ndarray
    times: np.ndarray
    cams: np.ndarray
    alive: np.ndarray
    n: int = 0

    @classmethod
    def empty(cls, dim: int, capacity: int = 1024) -> _Rows:
        return cls(
            np.zeros(capacity, np.int64),
            np.zeros((capacity, dim), np.float32),
            np.zeros(capacity, np.float64),
            np.zeros(capacity, np.int32),
            np.zeros(capacity, bool),
        )

    def taken(self, keep: np.ndarray) -> _Rows:
        """Rows ``keep`` (positions), in new arrays."""
        fresh = _Rows.empty(self.vectors.shape[1], max(1024, 2 * len(keep)))
        for name in ("ids", "vectors", "times", "cams", "alive"):
            getattr(fresh, name)[: len(keep)] = getattr(self, name)[keep]
        fresh.n = len(keep)
        return fresh

    def grown(self, needed: int) -> _Rows:
        """These rows in arrays with room for ``needed`` rows (new arrays, old ones left intact)."""
        capacity = max(needed, 2 * len(self.ids))
        grown = _Rows.empty(self.vectors.shape[1], capacity)
        for name in ("ids", "vectors", "times", "cams", "alive"):
            getattr(grown, name)[: self.n] = getattr(self, name)[: self.n]
        grown.n = self.n
        return grown


@dataclass(frozen=True, slots=True)
class _Graph:
    index: faiss.Index
    rows: int  # covers rows [0, rows)
    generation: int


def _normalised(vector: np.ndarray, dim: int | None) -> np.ndarray:
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is not None and query.size != dim:
        raise QueryError(f"query embedding has {query.size} dimensions; the index holds {dim}-d embeddings")
    norm = float(np.linalg.norm(query)) if np.all(np.isfinite(query)) else 0.0
    if norm < 1e-6:
        raise QueryError("query embedding is zero or not finite")
    return query / norm


def _top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (scores, rows), best first."""
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        scores, rows = scores[part], rows[part]
    order = np.argsort(-scores, kind="stable")
    return scores[order], rows[order]


class FaceIndex:
    """Cosine-similarity search over the face vectors of one embedding model, derived from the
    store's :class:`FaceRepository` (``model`` None: the store's searched model)."""

    def __init__(
        self,
        directory: Path,
        dim: int | None = None,
        *,
        model: str | None = None,
        approx_threshold: int = 200_000,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 128,
        exact_subset: int = 20_000,
        autosave_every: int = 100_000,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.model = model
        self.approx_threshold = approx_threshold
        self.hnsw_m, self.ef_construction, self.ef_search = hnsw_m, ef_construction, ef_search
        self.exact_subset = exact_subset  # searches selecting at most this many rows are always exact
        self.autosave_every = autosave_every
        self._rows: _Rows | None = _Rows.empty(dim) if dim else None
        self._graph: _Graph | None = None
        self._cameras: dict[str, int] = {}
        self._watermark = 0
        self._unsaved = 0
        self._lock = threading.Lock()  # guards _rows/_graph/_cameras swaps and appends (held briefly)
        self._save_lock = threading.Lock()
        self._builder: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._build_error: BaseException | None = None

    # --- opening, catch-up, rebuild ------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, faces: FaceRepository, *, model: str | None = None, **options) -> FaceIndex:
        """Load the persisted index of ``model`` (default: the searched one), if any, and catch it up
        with the store's ``faces``."""
        model = model or faces.searched_model()
        index = cls(directory, faces.dim(model), model=model, **options)
        if not index._load():
            log.info("face index: no usable index file in %s, building from the store", directory)
        index.catch_up(faces)
        return index

    def catch_up(self, faces: FaceRepository) -> tuple[int, int]:
        """Make the index hold exactly the store's face vectors of its model; returns (added, removed)."""
        store_ids = faces.ids(self.model)
        with self._lock:
            rows = self._rows
            have = rows.ids[: rows.n][rows.alive[: rows.n]] if rows is not None else np.zeros(0, np.int64)
        extra = np.setdiff1d(have, store_ids, assume_unique=True)
        missing = np.setdiff1d(store_ids, have, assume_unique=True)
        if len(extra):
            self.remove(extra)
        added = 0
        if len(missing):
            for batch in faces.batches(missing, model=self.model):
                self.add(batch)
                added += len(batch.ids)
            if added:
                self.save()
        return added, len(extra)

    def rebuild(self, faces: FaceRepository, *, wait: bool = True) -> int:
        """Recreate the index from the store's ``faces`` (discarding what was there); returns the vector count."""
        self.wait_for_build()
        with self._lock:
            self.model = self.model or faces.searched_model()
            self.dim = faces.dim(self.model)
            self._rows = _Rows.empty(self.dim) if self.dim else None
            self._graph, self._cameras, self._watermark = None, {}, 0
        for batch in faces.batches(model=self.model):
            self.add(batch, build=False)
        if wait:
            self.settle()
        else:
            self._maybe_build()
        self.save()
        return self.status().vectors

    @classmethod
    def read(cls, directory: Path) -> FaceIndex:
        """The persisted index as it is on disk, without catching up (for status reports)."""
        index = cls(directory)
        index._load()
        return index

    def _load(self) -> bool:
        for stale in self.directory.glob("*.tmp"):
            if not _pid_alive(stale.suffixes[-2][1:] if len(stale.suffixes) > 1 else ""):
                stale.unlink(missing_ok=True)
        path = self.directory / INDEX_FILE
        if not path.is_file():
            return False
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                dim = int(meta["dim"])
                if self.dim is not None and dim != self.dim:
                    log.warning("face index: file has %d-d vectors, store %d-d; rebuilding", dim, self.dim)
                    return False
                if self.model is not None and meta.get("model", self.model) != self.model:
                    log.warning("face index: file holds model %s, not %s; rebuilding", meta["model"], self.model)
                    return False
                n = len(data["ids"])
                rows = _Rows(
                    data["ids"].copy(),
                    data["vectors"].reshape(n, dim).copy(),
                    data["times"].copy(),
                    data["cams"].copy(),
                    data["alive"].copy(),
                    n,
                )
            graph = None
            if meta["graph_rows"]:
                graph_path = self.directory / f"faces-{meta['graph_generation']}.hnsw"
                if graph_path.is_file():
                    graph = _Graph(faiss.read_index(str(graph_path)), meta["graph_rows"], meta["graph_generation"])
                    if graph.index.ntotal != graph.rows or graph.rows > n:
                        graph = None
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            log.warning("face index: cannot read %s (%s); rebuilding from the store", path, error)
            return False
        self.dim = dim
        self.model = self.model or meta.get("model")
        self._rows, self._graph = rows, graph
        self._cameras = {name: code for code, name in enumerate(meta["cameras"])}
        self._watermark = int(meta["watermark"])
        self._remove_stale_graphs()
        return True

    # --- writes --------------------------------------------------------------------------------

    def add(self, batch: FaceBatch, *, build: bool = True) -> None:
        """Append face vectors (already L2-normalised, as the store keeps them)."""
        count = len(batch.ids)
        if count == 0:
            return
        vectors = np.ascontiguousarray(batch.vectors, dtype=np.float32)
        with self._lock:
            if self._rows is None:
                self.dim = vectors.shape[1]
                self._rows = _Rows.empty(self.dim)
            if vectors.shape[1] != self.dim:
                raise StoreError(f"face vectors have {vectors.shape[1]} dimensions, the index {self.dim}")
            cams = np.fromiter(
                (self._cameras.setdefault(c, len(self._cameras)) for c in batch.camera_ids), dtype=np.int32, count=count
            )
            rows = self._rows
            if rows.n + count > len(rows.ids):
                rows = rows.grown(rows.n + count)
            start, end = rows.n, rows.n + count
            rows.ids[start:end] = batch.ids
            rows.vectors[start:end] = vectors
            rows.times[start:end] = batch.times
            rows.cams[start:end] = cams
            rows.alive[start:end] = True
            rows.n = end
            self._rows = rows
            self._watermark = max(self._watermark, int(batch.ids.max()))
            self._unsaved += count
        if build:
            self._maybe_build()
        self._maybe_autosave()

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors of sightings ``ids`` (deleted from the store); returns how many."""
        ids = np.asarray(ids, dtype=np.int64)
        with self._lock:
            rows = self._rows
            if rows is None or len(ids) == 0:
                return 0
            hit = np.flatnonzero(np.isin(rows.ids[: rows.n], ids) & rows.alive[: rows.n])
            rows.alive[hit] = False
            self._unsaved += len(hit)
            building = self._builder is not None and self._builder.is_alive()
            if self._graph is None and not building and len(hit):  # nothing depends on row positions
                self._rows = rows.taken(np.flatnonzero(rows.alive[: rows.n]))
        self._maybe_build()
        return len(hit)

    # --- background graph ------------------------------------------------------------------------

    def _needs_graph(self, rows: _Rows, graph: _Graph | None, complete: bool = False) -> bool:
        """Whether to (re)build the graph: the rows beyond it (searched exactly) or the deleted rows
        in it grew past their limits, or, ``complete``, there are any."""
        alive = int(rows.alive[: rows.n].sum())
        if alive < self.approx_threshold:
            return False
        if graph is None:
            return True
        tail = rows.n - graph.rows
        dead = rows.n - alive
        if complete:
            return tail > 0 or dead > 0
        return tail > max(50_000, graph.rows // 10) or dead > rows.n // 5

    def _maybe_build(self, complete: bool = False) -> None:
        with self._lock:
            if self._builder is not None and self._builder.is_alive():
                return
            if self._rows is None or not self._needs_graph(self._rows, self._graph, complete):
                return
            self._builder = threading.Thread(target=self._build, name="face-index-build", daemon=True)
            self._builder.start()

    def _build(self) -> None:
        """Compact the alive rows, build an HNSW graph over them, and swap both in."""
        try:
            with self._lock:  # row positions stay put while this thread runs (see remove())
                old, n0 = self._rows, self._rows.n
                kept = np.flatnonzero(old.alive[:n0])
            fresh = old.taken(kept)  # alive flags cleared meanwhile are re-applied at the swap
            graph_index = faiss.IndexHNSWFlat(fresh.vectors.shape[1], self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            graph_index.hnsw.efConstruction = self.ef_construction
            graph_index.add(fresh.vectors[: fresh.n])
            generation = (self._graph.generation + 1) if self._graph else 1
            with self._lock:
                current = self._rows
                fresh.alive[: len(kept)] = current.alive[kept]  # deletions made during the build
                tail = current.n - n0
                if fresh.n + tail > len(fresh.ids):
                    fresh = fresh.grown(fresh.n + tail)
                for name in ("ids", "vectors", "times", "cams", "alive"):
                    getattr(fresh, name)[fresh.n : fresh.n + tail] = getattr(current, name)[n0 : current.n]
                fresh.n += tail
                self._rows = fresh
                self._graph = _Graph(graph_index, len(kept), generation)
            log.info("face index: HNSW graph over %d vectors swapped in", len(kept))
            self._autosave()  # persist the graph (this thread is in the background already)
        except BaseException as error:  # reported by wait_for_build(); searches stay exact meanwhile
            self._build_error = error
            log.exception("face index: background build failed")

    def settle(self) -> None:
        """Bring the approximate graph up to date with every row now (not only when it is due one, as
        inserts do) and wait until it is swapped in: the steady state benchmarks measure."""
        self.wait_for_build()
        self._maybe_build(complete=True)
        self.wait_for_build()

    def wait_for_build(self) -> None:
        """Block until a running background build has finished (for tests, CLI and shutdown)."""
        builder = self._builder
        if builder is not None:
            builder.join()
        if self._build_error is not None:
            error, self._build_error = self._build_error, None
            raise StoreError(f"building the approximate face index failed: {error}") from error

    # --- search --------------------------------------------------------------------------------

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
    ) -> list[FaceHit]:
        """The ``k`` most similar face sightings passing the filters, most similar first; ``model``
        (when given) is the embedding model of the query, refused when it is not this index's."""
        if k < 1:
            raise QueryError("k must be at least 1")
        if model is not None and self.model is not None and model != self.model:
            raise QueryError(
                f"the query embedding comes from model {model}, the face index holds {self.model} vectors",
                "embed the query with the model the index was built with",
            )
        query = _normalised(embedding, self.dim)
        with self._lock:
            rows, graph, codes = self._rows, self._graph, dict(self._cameras)
            n = rows.n if rows is not None else 0
        if n == 0:
            return []
        mask = rows.alive[:n].copy()
        if since is not None:
            mask &= rows.times[:n] >= since
        if until is not None:
            mask &= rows.times[:n] <= until
        if cameras is not None:
            mask &= np.isin(rows.cams[:n], [codes[c] for c in cameras if c in codes])
        selected = int(np.count_nonzero(mask))
        if selected == 0:
            return []
        if graph is None or selected <= self.exact_subset:
            scores, hit_rows = self._exact(rows, mask, query, k, 0, n)
        else:
            scores, hit_rows = self._approximate(rows, graph, mask, query, k, n)
        hits = [FaceHit(int(rows.ids[r]), float(s)) for s, r in zip(scores, hit_rows, strict=False)]
        if min_similarity is not None:
            hits = [h for h in hits if h.similarity >= min_similarity]
        return hits

    @staticmethod
    def _exact(
        rows: _Rows, mask: np.ndarray, query: np.ndarray, k: int, lo: int, hi: int
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
        scores, candidates = _top_k(scores, candidates, min(k, selected))
        return scores, candidates

    def _approximate(
        self, rows: _Rows, graph: _Graph, mask: np.ndarray, query: np.ndarray, k: int, n: int
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
            ef = int(self.ef_search * np.sqrt(graph.rows / in_graph))
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=min(1024, max(ef, 2 * k)))
            distances, labels = graph.index.search(query[None, :], want, params=params)
            keep = labels[0] >= 0
            scores, found = distances[0][keep], labels[0][keep]
            if len(found) < want:  # the filtered graph could not fill k: answer exactly instead
                scores, found = self._exact(rows, mask, query, want, 0, graph.rows)
        tail_scores, tail_rows = self._exact(rows, mask, query, k, graph.rows, n)
        return _top_k(np.concatenate([scores, tail_scores]), np.concatenate([found, tail_rows]), k)

    # --- persistence and status ----------------------------------------------------------------

    def _maybe_autosave(self) -> None:
        """Save in a background thread once ``autosave_every`` (or 10 % of the rows) changed."""
        with self._lock:
            due = self._unsaved >= max(self.autosave_every, (self._rows.n if self._rows else 0) // 10)
            if not due or (self._saver is not None and self._saver.is_alive()):
                return
            self._saver = threading.Thread(target=self._autosave, name="face-index-save", daemon=True)
            self._saver.start()

    def _autosave(self) -> None:
        try:
            self.save()
        except Exception:  # the store is the source of truth: the next open catches up
            log.exception("face index: saving failed")

    def save(self) -> None:
        """Write the index atomically (temp file + rename); a crash leaves the old or the new file."""
        with self._save_lock:
            with self._lock:
                rows, graph, cameras = self._rows, self._graph, list(self._cameras)
                if rows is None:
                    return
                n, watermark = rows.n, self._watermark
                alive = rows.alive[:n].copy()
                self._unsaved = 0
            if graph is not None:
                graph_path = self.directory / f"faces-{graph.generation}.hnsw"
                if not graph_path.is_file():
                    _atomic(graph_path, lambda tmp: faiss.write_index(graph.index, str(tmp)))
            meta = {
                "dim": self.dim,
                "model": self.model,
                "watermark": watermark,
                "cameras": cameras,
                "graph_rows": graph.rows if graph else 0,
                "graph_generation": graph.generation if graph else 0,
            }

            def write(tmp: Path) -> None:
                with open(tmp, "wb") as handle:
                    np.savez(
                        handle,
                        ids=rows.ids[:n],
                        vectors=rows.vectors[:n],
                        times=rows.times[:n],
                        cams=rows.cams[:n],
                        alive=alive,
                        meta=np.array(json.dumps(meta)),
                    )

            _atomic(self.directory / INDEX_FILE, write)
            self._remove_stale_graphs(keep=graph.generation if graph else None)

    def _remove_stale_graphs(self, keep: int | None = None) -> None:
        keep = self._graph.generation if keep is None and self._graph else keep
        for path in self.directory.glob("faces-*.hnsw"):
            if path.name != f"faces-{keep}.hnsw":
                path.unlink(missing_ok=True)

    def status(self) -> IndexStatus:
        with self._lock:
            rows, graph = self._rows, self._graph
            n = rows.n if rows else 0
            alive = int(rows.alive[:n].sum()) if rows else 0
            building = self._builder is not None and self._builder.is_alive()
            return IndexStatus(
                alive, n - alive, self._watermark, graph.rows if graph else 0, building, self.dim, self.model
            )

    def ids(self) -> np.ndarray:
        """Sighting ids of every vector in the index, sorted."""
        with self._lock:
            rows = self._rows
            return np.sort(rows.ids[: rows.n][rows.alive[: rows.n]]) if rows else np.zeros(0, np.int64)

    def close(self) -> None:
        """Finish a running build and save."""
        try:
            self.wait_for_build()
        finally:
            if self._saver is not None:
                self._saver.join()
            self.save()


def _pid_alive(text: str) -> bool:
    """Whether ``text`` is the id of a running process (temp files carry their writer's pid)."""
    if not text.isdigit():
        return False
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _atomic(path: Path, write) -> None:
    """Call ``write(tmp)``, fsync, then rename ``tmp`` over ``path`` (and fsync the directory)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise storage_error(error, f"writing {path.name}") from error
