"""The face index: derived from the store, partitioned by time, compressed vectors with exact re-ranking.

Vectors are split into time partitions (:mod:`~skynet.index.face_partition`, a week each by default) by the
best-view time of their sighting. A search touches only the partitions its time filter overlaps
(:mod:`~skynet.index.face_search`: side by side, best candidates re-ranked with exact vectors once). Adds go
into the live partition without a rebuild; :mod:`~skynet.index.partition_builder` trains, retrains and compacts
partitions in the background while the old generation serves; a partition whose vectors are all deleted is
dropped (retention). The partitions by week: :mod:`~skynet.index.partition_set`; files:
:mod:`~skynet.index.partition_files`.

Each embedding model has its own index (directory); a query must come from the same model. The store is the
source of truth: at open the index is caught up with it. A partition whose files are missing or corrupt is
rebuilt from the store in the background, with a log line; until then searches over its time range say they
are partial (:attr:`FaceHits.incomplete`). Partitions are the unit a shard would hold (docs/scale.md).
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
from collections.abc import Collection
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from skynet.index.face_partition import Partition, Tuning, span_text
from skynet.index.face_search import FaceHits, checked_query, search_partitions
from skynet.index.partition_builder import PartitionBuilder
from skynet.index.partition_files import (
    IndexMeta,
    IndexStatus,
    load_saved,
    new_partition,
    remove_other_generations,
    remove_partition_dirs,
    save_partition,
    write_meta,
)
from skynet.index.partition_set import PartitionSet
from skynet.store.errors import StoreError
from skynet.store.faces import FaceBatch, FaceRepository

log = logging.getLogger(__name__)

WEEK_S = 7 * 86400.0


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
        self._parts = PartitionSet()
        self._cameras: dict[str, int] = {}
        self._watermark = 0
        self._unsaved = 0
        self._incomplete: list[tuple[float, float]] = []
        self._lock = threading.Lock()  # guards dim, cameras, watermark, incomplete ranges (held briefly)
        self._save_lock = threading.Lock()
        self._builder = PartitionBuilder(self)
        self._recovery: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._recovery_error: BaseException | None = None

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
                batch = self._parts.absent(batch)
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
            batch = self._parts.absent(batch)
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
                ", ".join(span_text(a, b) for a, b in ranges),
            )
        except BaseException as error:
            self._recovery_error = error
            log.exception("face index: rebuilding broken partitions from the store failed")

    def rebuild(self, faces: FaceRepository, *, wait: bool = True) -> int:
        """Recreate the index from the store's ``faces`` (discarding what was there); returns the vector count."""
        self.wait_for_build()
        with self._lock:
            self.model = self.model or faces.searched_model()
            self.dim = faces.dim(self.model)
            self._parts.clear()
            self._cameras, self._watermark, self._incomplete = {}, 0, []
        remove_partition_dirs(self.directory)
        for batch in faces.batches(model=self.model):
            self.add(batch)
        if wait:
            self.settle()
        self.save()
        return self.status().vectors

    def _load(self) -> list[int]:
        """Load the saved partitions; returns the keys of those that could not be read (removed)."""
        saved = load_saved(self.directory, self.dim, self.model, self.partition_s, self.tuning)
        if saved is None:
            return []
        self.dim, self.model = saved.meta.dim, self.model or saved.meta.model
        self._cameras = {name: code for code, name in enumerate(saved.meta.cameras)}
        self._watermark, self._parts = saved.meta.watermark, PartitionSet(saved.parts)
        return saved.broken

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
            new = partial(new_partition, self.directory, int(key), self.partition_s, vectors.shape[1])
            self._parts.append(int(key), ids[rows], vectors[rows], times[rows], cams[rows], new)
        self._maybe_build()
        self._maybe_autosave()

    def add_unseen(self, batch: FaceBatch) -> int:
        """Add the vectors of ``batch`` that the index lacks (a follower of the store, which also sees the rows
        this process indexed itself); returns how many were added."""
        fresh = self._parts.absent(batch)
        self.add(fresh)
        return len(fresh.ids)

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors of sightings ``ids`` (deleted from the store); returns how many. A
        partition left with no vector is dropped whole."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if len(ids) == 0:
            return 0
        removed, touched, emptied = self._parts.remove(ids)
        with self._lock:
            self._unsaved += touched
        for part in emptied:
            self._drop(part)
        self._maybe_build()
        return removed

    def drop(self, key: int) -> None:
        """Drop partition ``key`` whole, vectors and files (a shard that no longer holds it)."""
        part = self._parts.get(key)
        if part is not None:
            self._drop(part, "no longer held here")

    def _drop(self, part: Partition, why: str = "every vector in it deleted") -> None:
        if not self._parts.discard(part):
            return
        shutil.rmtree(part.directory, ignore_errors=True)
        self._write_meta()
        log.info(
            "face index %s: partition %s dropped (%s)",
            self.model,
            span_text(part.start, part.end),
            why,
        )

    # --- background builds (skynet.index.partition_builder) ---------------------------------------

    def partitions(self) -> list[Partition]:
        return self._parts.all()

    def swap_in(self, old: Partition, fresh: Partition, n0: int, keep: np.ndarray) -> bool:
        return self._parts.swap_in(old, fresh, n0, keep)

    def persist(self, fresh: Partition) -> None:
        with self._save_lock:
            save_partition(fresh)
            self._write_meta()
            remove_other_generations(fresh)

    def _maybe_build(self, complete: bool = False) -> None:
        self._builder.start_if_due(complete)

    def settle(self) -> None:
        """Bring every partition to its steady state now (due builds done, no deleted rows) and wait
        until swapped in: what benchmarks measure. A partition keeps the IVF it was trained with until it
        grows 4-fold (retraining 2.3M rows costs minutes of CPU; its lists just hold more rows meanwhile)."""
        self.wait_for_build()
        self._maybe_build(complete=True)
        self.wait_for_build()

    def wait_for_build(self) -> None:
        """Block until running background builds and recovery have finished (for tests, CLI and shutdown)."""
        if self._recovery is not None:
            self._recovery.join()
        error, self._recovery_error = self._recovery_error, None
        try:
            self._builder.join()
        except BaseException as failed:
            error = failed
        if error is not None:
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
        keys: Collection[int] | None = None,
    ) -> FaceHits:
        """The ``k`` most similar face sightings passing the filters, most similar first; ``model``
        (when given) is the embedding model of the query, refused when it is not this index's; ``keys``: search
        only these partitions (a shard asked for the partitions it holds)."""
        query = checked_query(embedding, k, model, self.model, self.dim)
        lo, hi = -math.inf if since is None else since, math.inf if until is None else until
        with self._lock:
            parts = self._parts.overlapping(lo, hi, keys)
            incomplete = tuple((a, b) for a, b in self._incomplete if b > lo and a <= hi)
            codes = None if cameras is None else [self._cameras[c] for c in cameras if c in self._cameras]
        cam_codes = None if codes is None else np.array(codes, np.int32)
        if cam_codes is not None and len(cam_codes) == 0:
            return FaceHits([], incomplete)
        hits = search_partitions(parts, query, k, since, until, cam_codes, self.tuning)
        if min_similarity is not None:
            hits = [h for h in hits if h.similarity >= min_similarity]
        return FaceHits(hits, incomplete)

    # --- persistence and status ----------------------------------------------------------------

    def _maybe_autosave(self) -> None:
        """Save in a background thread once ``autosave_every`` (or 10 % of the rows) changed."""
        with self._lock:
            rows = self._parts.rows()
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
                parts = self._parts.all()
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
                self.dim, self.model, self.partition_s, list(self._cameras), self._watermark, self._parts.keys()
            )
        write_meta(self.directory, meta)

    def status(self) -> IndexStatus:
        with self._lock:
            parts = self._parts.all()
            building = self._builder.running() or (self._recovery is not None and self._recovery.is_alive())
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
        return self._parts.ids()

    def close(self) -> None:
        """Finish running builds and save."""
        try:
            self.wait_for_build()
        finally:
            if self._saver is not None:
                self._saver.join()
            self.save()
