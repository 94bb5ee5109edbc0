"""The face index: derived from the store, partitioned by time, compressed vectors with exact re-ranking.

Vectors are split into time partitions (:mod:`skynet.index.face_partition`, a week each by default) by
the best-view time of their sighting. A search touches only the partitions its time filter overlaps and
merges their top-k; each partition answers from an exact flat index while small and from an IVF index
over 8-bit codes once large, re-ranking candidates with the exact vectors it reads from its vector
file (on disk, not in memory). Adds go into the live partition without a rebuild; a background thread
retrains a partition that grew, compacts one with many deletions (new generation, swapped in while
the old serves) and drops a partition once every vector in it is deleted (retention).

Each embedding model has its own index (directory); a query must come from the same model. The
store is the source of truth: at open the index is caught up with it (missing vectors added,
deleted ones removed). A partition whose files are missing or corrupt is rebuilt from the store in
the background, with a log line; until then searches over its time range say they are partial
(:attr:`FaceHits.incomplete`). Partitions are the unit a shard would hold: a shard is a set of them.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from skynet.index.face_partition import (
    Partition,
    Tuning,
    adopt_changes,
    build_partition,
    ivf_lists,
    release_free_memory,
)
from skynet.index.partition_files import (
    IndexMeta,
    PartitionError,
    load_partition,
    new_partition,
    partition_dir,
    read_meta,
    remove_legacy_files,
    remove_other_generations,
    save_partition,
    saved_counts,
    write_meta,
)
from skynet.index.vector_file import top_k
from skynet.store.errors import QueryError, StoreError
from skynet.store.faces import FaceBatch, FaceRepository

log = logging.getLogger(__name__)

WEEK_S = 7 * 86400.0


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


@dataclass(frozen=True, slots=True)
class IndexStatus:
    vectors: int
    deleted_rows: int
    watermark: int
    approximate_rows: int  # rows in partitions searched through compressed codes
    building: bool
    dim: int | None
    model: str | None = None
    partitions: int = 0
    incomplete: tuple[tuple[float, float], ...] = ()


class FaceIndex:
    """Cosine-similarity search over the face vectors of one embedding model, derived from the
    store's :class:`FaceRepository` (``model`` None: the store's searched model)."""

    def __init__(
        self,
        directory: Path,
        dim: int | None = None,
        *,
        model: str | None = None,
        partition_s: float = WEEK_S,
        approx_threshold: int = 50_000,
        exact_subset: int = 20_000,
        nprobe: int = 32,
        refine: int = 8,
        autosave_every: int = 100_000,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dim, self.model, self.partition_s = dim, model, float(partition_s)
        self.tuning = Tuning(ivf_rows=approx_threshold, exact_subset=exact_subset, nprobe=nprobe, refine=refine)
        self.autosave_every = autosave_every
        self._parts: dict[int, Partition] = {}
        self._cameras: dict[str, int] = {}
        self._watermark = 0
        self._unsaved = 0
        self._incomplete: list[tuple[float, float]] = []
        self._lock = threading.Lock()  # guards the partition map, cameras, watermark (held briefly)
        self._save_lock = threading.Lock()
        self._builder: threading.Thread | None = None
        self._recovery: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._build_error: BaseException | None = None

    @property
    def exact_subset(self) -> int:
        return self.tuning.exact_subset

    @exact_subset.setter
    def exact_subset(self, rows: int) -> None:
        self.tuning = replace(self.tuning, exact_subset=rows)

    # --- opening, catch-up, rebuild ------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, faces: FaceRepository, *, model: str | None = None, **options) -> FaceIndex:
        """Load the persisted index of ``model`` (default: the searched one), if any, and catch it up
        with the store's ``faces`` (in the background while broken partitions are rebuilt)."""
        model = model or faces.searched_model()
        index = cls(directory, faces.dim(model), model=model, **options)
        broken = index._load()
        if broken:
            index._incomplete = [(key * index.partition_s, (key + 1) * index.partition_s) for key in broken]
            index._recovery = threading.Thread(target=index._recover, args=(faces,), name="face-index-recovery")
            index._recovery.start()
        else:
            index.catch_up(faces)
        return index

    def catch_up(self, faces: FaceRepository, *, deduplicate: bool = False) -> tuple[int, int]:
        """Make the index hold exactly the store's face vectors of its model; returns (added, removed).
        ``deduplicate``: skip vectors added meanwhile by another thread (catching up in the background)."""
        store_ids = faces.ids(self.model)
        have = self.ids()
        extra = np.setdiff1d(have, store_ids, assume_unique=True)
        missing = np.setdiff1d(store_ids, have, assume_unique=True)
        if len(extra):
            self.remove(extra)
        added = 0
        for batch in faces.batches(missing, model=self.model) if len(missing) else ():
            if deduplicate:
                batch = self._absent(batch)
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
            batch = self._absent(batch)
            if len(batch.ids):
                self.add(batch)
                added += len(batch.ids)
        return added

    def _recover(self, faces: FaceRepository) -> None:
        """Rebuild the partitions that could not be read, from the store (a background thread)."""
        try:
            added, _ = self.catch_up(faces, deduplicate=True)
            with self._lock:
                ranges, self._incomplete = self._incomplete, []
            log.info(
                "face index %s: %d vectors rebuilt from the store; complete again over %s",
                self.model,
                added,
                ", ".join(_span(a, b) for a, b in ranges),
            )
        except BaseException as error:
            self._build_error = error
            log.exception("face index: rebuilding broken partitions from the store failed")

    def rebuild(self, faces: FaceRepository, *, wait: bool = True) -> int:
        """Recreate the index from the store's ``faces`` (discarding what was there); returns the vector count."""
        self.wait_for_build()
        with self._lock:
            self.model = self.model or faces.searched_model()
            self.dim = faces.dim(self.model)
            for part in self._parts.values():
                part.retired = True
            self._parts, self._cameras, self._watermark, self._incomplete = {}, {}, 0, []
        _remove_partition_dirs(self.directory)
        for batch in faces.batches(model=self.model):
            self.add(batch)
        if wait:
            self.settle()
        self.save()
        return self.status().vectors

    @classmethod
    def saved_status(cls, directory: Path) -> IndexStatus:
        """The status of the index as saved in ``directory``, read without opening it (the files of a
        running service are left alone)."""
        meta = read_meta(Path(directory))
        if meta is None:
            return IndexStatus(0, 0, 0, 0, False, None)
        counts = [saved_counts(Path(directory), key) for key in meta.partitions]
        vectors = sum(n - dead for n, dead, _ in counts)
        approximate = sum(n - dead for n, dead, ivf in counts if ivf)
        dead = sum(dead for _, dead, _ in counts)
        return IndexStatus(vectors, dead, meta.watermark, approximate, False, meta.dim, meta.model, len(counts))

    def _load(self) -> list[int]:
        """Load the saved partitions; returns the keys of those that could not be read (removed)."""
        meta = read_meta(self.directory)
        usable = (
            meta is not None
            and (self.dim is None or meta.dim == self.dim)
            and (self.model is None or meta.model in (None, self.model))
            and meta.partition_s == self.partition_s
        )
        if meta is None or not usable:
            if remove_legacy_files(self.directory):
                log.info(
                    "face index: %s holds an index of the single-file format; rebuilding it from the store, "
                    "partitioned by time",
                    self.directory,
                )
            elif meta is not None:
                log.warning(
                    "face index: %s holds %s-d %s vectors in %s s partitions, not what is asked; rebuilding "
                    "it from the store",
                    self.directory,
                    meta.dim,
                    meta.model,
                    meta.partition_s,
                )
            _remove_partition_dirs(self.directory)
            return []
        self.dim, self.model = meta.dim, self.model or meta.model
        self._cameras = {name: code for code, name in enumerate(meta.cameras)}
        self._watermark = meta.watermark
        broken = []
        for key in meta.partitions:
            try:
                self._parts[key] = load_partition(self.directory, key, self.partition_s, meta.dim, self.tuning)
            except PartitionError as error:
                log.warning(
                    "face index %s: partition %s is missing or corrupt (%s); rebuilding it from the store "
                    "in the background, searches over that time range are partial until then",
                    self.directory,
                    _span(key * self.partition_s, (key + 1) * self.partition_s),
                    error,
                )
                shutil.rmtree(partition_dir(self.directory, key), ignore_errors=True)
                broken.append(key)
        _remove_partition_dirs(self.directory, keep=set(self._parts))
        return broken

    # --- writes --------------------------------------------------------------------------------

    def add(self, batch: FaceBatch) -> None:
        """Add face vectors (already L2-normalised, as the store keeps them) to their time partitions."""
        count = len(batch.ids)
        if count == 0:
            return
        vectors = np.ascontiguousarray(batch.vectors, dtype=np.float32)
        with self._lock:
            if self.dim is None:
                self.dim = vectors.shape[1]
            if vectors.shape[1] != self.dim:
                raise StoreError(f"face vectors have {vectors.shape[1]} dimensions, the index {self.dim}")
            cams = np.fromiter(
                (self._cameras.setdefault(c, len(self._cameras)) for c in batch.camera_ids), dtype=np.int32, count=count
            )
            self._watermark = max(self._watermark, int(batch.ids.max()))
            self._unsaved += count
        ids, times = np.asarray(batch.ids, np.int64), np.asarray(batch.times, np.float64)
        keys = np.floor(times / self.partition_s).astype(np.int64)
        for key in np.unique(keys):
            rows = slice(None) if keys[0] == keys[-1] == key else np.flatnonzero(keys == key)
            self._append(int(key), ids[rows], vectors[rows], times[rows], cams[rows])
        self._maybe_build()
        self._maybe_autosave()

    def _append(self, key: int, ids, vectors, times, cams) -> None:
        while True:
            with self._lock:
                part = self._parts.get(key)
                if part is None:
                    dim = self.dim or vectors.shape[1]
                    part = self._parts[key] = new_partition(self.directory, key, self.partition_s, dim)
            with part.lock.writing():
                if not part.retired:  # else replaced by a new generation meanwhile: add there
                    part.append(ids, vectors, times, cams)
                    return

    def _absent(self, batch: FaceBatch) -> FaceBatch:
        """``batch`` without the vectors the index already holds."""
        with self._lock:
            parts = list(self._parts.values())
        present = np.zeros(len(batch.ids), bool)
        for part in parts:
            present |= np.isin(batch.ids, part.rows.ids[: part.rows.n])
        keep = np.flatnonzero(~present)
        return FaceBatch(batch.ids[keep], batch.vectors[keep], batch.times[keep], [batch.camera_ids[i] for i in keep])

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors of sightings ``ids`` (deleted from the store); returns how many. A
        partition left with no vector is dropped whole."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if len(ids) == 0:
            return 0
        removed, emptied = 0, []
        with self._lock:
            keys = list(self._parts)
        for key in keys:
            while True:
                with self._lock:
                    part = self._parts.get(key)
                if part is None:
                    break
                with part.lock.writing():
                    if part.retired:
                        continue
                    removed += part.remove(ids)
                    if part.rows.n and part.alive == 0:
                        emptied.append(part)
                    self._unsaved += 1
                    break
        for part in emptied:
            self._drop(part)
        self._maybe_build()
        return removed

    def _drop(self, part: Partition) -> None:
        with self._lock:
            if self._parts.get(part.key) is not part:
                return
            del self._parts[part.key]
        with part.lock.writing():
            part.retired = True
        shutil.rmtree(part.directory, ignore_errors=True)
        self._write_meta()
        log.info(
            "face index %s: partition %s dropped (every vector in it deleted)", self.model, _span(part.start, part.end)
        )

    # --- background builds ---------------------------------------------------------------------

    def _due(self, complete: bool) -> list[Partition]:
        """Partitions due a rebuild; ``complete``: also those with any deleted row."""
        with self._lock:
            parts = list(self._parts.values())
        due = [p for p in parts if p.due(self.tuning) or (complete and p.dead)]
        # exact partitions past the threshold first, largest first: they hold float32 vectors in memory
        return sorted(due, key=lambda p: (p.ivf, -p.alive))

    def _maybe_build(self, complete: bool = False) -> None:
        with self._lock:
            if self._builder is not None and self._builder.is_alive():
                return
        if not self._due(complete):
            return
        with self._lock:
            if self._builder is not None and self._builder.is_alive():
                return
            self._builder = threading.Thread(target=self._build, args=(complete,), name="face-index-build", daemon=True)
            self._builder.start()

    def _build(self, complete: bool) -> None:
        """Rebuild due partitions one after another, each swapped in when ready."""
        try:
            while due := self._due(complete):
                self._rebuild_partition(due[0])
        except BaseException as error:  # reported by wait_for_build(); the old partitions keep serving
            self._build_error = error
            log.exception("face index: background build failed; the partition as it was keeps serving")

    def _rebuild_partition(self, old: Partition) -> None:
        fresh, n0, keep = build_partition(old, self.tuning)
        with self._lock:
            swapped = self._parts.get(old.key) is old
            if swapped:
                with old.lock.writing():
                    adopt_changes(fresh, old, n0, keep)
                    self._parts[old.key] = fresh
        if not swapped:  # dropped or rebuilt meanwhile
            fresh.vectors.close()
            fresh.vectors.path.unlink(missing_ok=True)
            return
        with self._save_lock:
            save_partition(fresh)
            self._write_meta()
            remove_other_generations(fresh)
        del old
        release_free_memory()
        kind = f"IVF-SQ8 ({ivf_lists(fresh.index)} lists)" if fresh.ivf else "exact"
        log.info(
            "face index %s: partition %s rebuilt, %d vectors, %s",
            self.model,
            _span(fresh.start, fresh.end),
            fresh.alive,
            kind,
        )

    def settle(self) -> None:
        """Bring every partition to its steady state now (due builds done, no deleted rows) and wait
        until swapped in: what benchmarks measure. A partition keeps the IVF it was trained with until it
        grows 4-fold (retraining 2.3M rows costs minutes of CPU; its lists just hold more rows meanwhile)."""
        self.wait_for_build()
        self._maybe_build(complete=True)
        self.wait_for_build()

    def wait_for_build(self) -> None:
        """Block until running background builds and recovery have finished (for tests, CLI and shutdown)."""
        for thread in (self._recovery, self._builder):
            if thread is not None:
                thread.join()
        if self._build_error is not None:
            error, self._build_error = self._build_error, None
            raise StoreError(f"building the face index failed: {error}") from error

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
    ) -> FaceHits:
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
        lo, hi = -math.inf if since is None else since, math.inf if until is None else until
        with self._lock:
            parts = [p for key, p in sorted(self._parts.items()) if p.end > lo and p.start <= hi]
            incomplete = tuple((a, b) for a, b in self._incomplete if b > lo and a <= hi)
            codes = None if cameras is None else [self._cameras[c] for c in cameras if c in self._cameras]
        cam_codes = None if codes is None else np.array(codes, np.int32)
        if cam_codes is not None and len(cam_codes) == 0:
            return FaceHits([], incomplete)
        found = [p.search(query, k, since, until, cam_codes, self.tuning) for p in parts]
        if not found:
            return FaceHits([], incomplete)
        scores, ids = top_k(np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found]), k)
        hits = [FaceHit(int(i), float(s)) for s, i in zip(scores, ids, strict=True)]
        if min_similarity is not None:
            hits = [h for h in hits if h.similarity >= min_similarity]
        return FaceHits(hits, incomplete)

    # --- persistence and status ----------------------------------------------------------------

    def _maybe_autosave(self) -> None:
        """Save in a background thread once ``autosave_every`` (or 10 % of the rows) changed."""
        with self._lock:
            rows = sum(p.rows.n for p in self._parts.values())
            due = self._unsaved >= max(self.autosave_every, rows // 10)
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
        """Write the changed partitions and the index's metadata, each atomically."""
        with self._save_lock:
            with self._lock:
                parts = list(self._parts.values())
                self._unsaved = 0
            for part in parts:
                if part.dirty:
                    save_partition(part)
            self._write_meta()

    def _write_meta(self) -> None:
        with self._lock:
            if self.dim is None:
                return
            meta = IndexMeta(
                self.dim, self.model, self.partition_s, list(self._cameras), self._watermark, sorted(self._parts)
            )
        write_meta(self.directory, meta)

    def status(self) -> IndexStatus:
        with self._lock:
            parts = list(self._parts.values())
            building = any(t is not None and t.is_alive() for t in (self._builder, self._recovery))
            watermark, incomplete = self._watermark, tuple(self._incomplete)
        return IndexStatus(
            vectors=sum(p.alive for p in parts),
            deleted_rows=sum(p.dead for p in parts),
            watermark=watermark,
            approximate_rows=sum(p.alive for p in parts if p.ivf),
            building=building,
            dim=self.dim,
            model=self.model,
            partitions=len(parts),
            incomplete=incomplete,
        )

    def ids(self) -> np.ndarray:
        """Sighting ids of every vector in the index, sorted."""
        with self._lock:
            parts = list(self._parts.values())
        found = [p.rows.ids[: p.rows.n][p.rows.alive[: p.rows.n]] for p in parts]
        return np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)

    def close(self) -> None:
        """Finish running builds and save."""
        try:
            self.wait_for_build()
        finally:
            if self._saver is not None:
                self._saver.join()
            self.save()


def normalised(vector: np.ndarray, dim: int | None) -> np.ndarray:
    query = np.asarray(vector, dtype=np.float32).reshape(-1)
    if dim is not None and query.size != dim:
        raise QueryError(f"query embedding has {query.size} dimensions; the index holds {dim}-d embeddings")
    norm = float(np.linalg.norm(query)) if np.all(np.isfinite(query)) else 0.0
    if norm < 1e-6:
        raise QueryError("query embedding is zero or not finite")
    return query / norm


def _span(start: float, end: float) -> str:
    """A partition's time range, for log lines."""

    def day(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")

    return f"{day(start)} to {day(end)} UTC"


def _remove_partition_dirs(directory: Path, keep: Collection[int] = ()) -> None:
    for path in directory.glob("p*"):
        if path.is_dir() and path.name not in {f"p{key}" for key in keep}:
            shutil.rmtree(path, ignore_errors=True)
