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

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from skynet.index.face_files import SavedIndex, read_index, remove_stale_graphs, write_index
from skynet.index.face_rows import FaceGraph, FaceRows, exact_search, graph_search, normalised
from skynet.store.errors import QueryError, StoreError
from skynet.store.faces import FaceBatch, FaceRepository

log = logging.getLogger(__name__)


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
        self._rows: FaceRows | None = FaceRows.empty(dim) if dim else None
        self._graph: FaceGraph | None = None
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

    def catch_up_after(self, faces: FaceRepository, after_id: int) -> int:
        """Add the store's vectors of this model with sighting ids above ``after_id`` that the index lacks
        (stored by another process: a CLI re-index beside the server); returns how many."""
        added = 0
        for batch in faces.batches(after_id=after_id, model=self.model):
            keep = ~np.isin(batch.ids, self.ids())
            if keep.any():
                cameras = [c for c, k in zip(batch.camera_ids, keep, strict=True) if k]
                self.add(FaceBatch(batch.ids[keep], batch.vectors[keep], batch.times[keep], cameras))
                added += int(keep.sum())
        return added

    def rebuild(self, faces: FaceRepository, *, wait: bool = True) -> int:
        """Recreate the index from the store's ``faces`` (discarding what was there); returns the vector count."""
        self.wait_for_build()
        with self._lock:
            self.model = self.model or faces.searched_model()
            self.dim = faces.dim(self.model)
            self._rows = FaceRows.empty(self.dim) if self.dim else None
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
        saved = read_index(self.directory, self.dim, self.model)
        if saved is None:
            return False
        self.dim = saved.dim
        self.model = self.model or saved.model
        self._rows, self._graph = saved.rows, saved.graph
        self._cameras = {name: code for code, name in enumerate(saved.cameras)}
        self._watermark = saved.watermark
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
                self._rows = FaceRows.empty(self.dim)
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

    def add_unseen(self, batch: FaceBatch, recent: int = 100_000) -> int:
        """Add the vectors of ``batch`` that the index's newest ``recent`` rows lack (a follower of the store
        that may also see rows this process indexed itself); returns how many were added."""
        with self._lock:
            rows = self._rows
            tail = rows.ids[max(0, rows.n - recent) : rows.n] if rows is not None else np.zeros(0, np.int64)
        fresh = ~np.isin(batch.ids, tail)
        if fresh.all():
            self.add(batch)
        elif fresh.any():
            camera_ids = [c for c, keep in zip(batch.camera_ids, fresh, strict=True) if keep]
            self.add(FaceBatch(batch.ids[fresh], batch.vectors[fresh], batch.times[fresh], camera_ids))
        return int(fresh.sum())

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

    def _needs_graph(self, rows: FaceRows, graph: FaceGraph | None, complete: bool = False) -> bool:
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
                old = self._rows
                assert old is not None, "only started over rows, which rebuild() drops only after waiting for it"
                n0 = old.n
                kept = np.flatnonzero(old.alive[:n0])
            fresh = old.taken(kept)  # alive flags cleared meanwhile are re-applied at the swap
            graph_index = faiss.IndexHNSWFlat(fresh.vectors.shape[1], self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            graph_index.hnsw.efConstruction = self.ef_construction
            graph_index.add(fresh.vectors[: fresh.n])
            generation = (self._graph.generation + 1) if self._graph else 1
            with self._lock:
                current = self._rows
                assert current is not None
                fresh.alive[: len(kept)] = current.alive[kept]  # deletions made during the build
                tail = current.n - n0
                if fresh.n + tail > len(fresh.ids):
                    fresh = fresh.grown(fresh.n + tail)
                for name in ("ids", "vectors", "times", "cams", "alive"):
                    getattr(fresh, name)[fresh.n : fresh.n + tail] = getattr(current, name)[n0 : current.n]
                fresh.n += tail
                self._rows = fresh
                self._graph = FaceGraph(graph_index, len(kept), generation)
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
        query = normalised(embedding, self.dim)
        with self._lock:
            rows, graph, codes = self._rows, self._graph, dict(self._cameras)
            n = rows.n if rows is not None else 0
        if rows is None or n == 0:
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
            scores, hit_rows = exact_search(rows, mask, query, k, 0, n)
        else:
            scores, hit_rows = graph_search(rows, graph, mask, query, k, n, self.ef_search)
        hits = [FaceHit(int(rows.ids[r]), float(s)) for s, r in zip(scores, hit_rows, strict=False)]
        if min_similarity is not None:
            hits = [h for h in hits if h.similarity >= min_similarity]
        return hits

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
            write_index(self.directory, SavedIndex(self.dim or 0, self.model, rows, graph, cameras, watermark), alive)
            remove_stale_graphs(self.directory, graph.generation if graph else None)

    def _remove_stale_graphs(self) -> None:
        remove_stale_graphs(self.directory, self._graph.generation if self._graph else None)

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
