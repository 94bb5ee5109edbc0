"""One time partition of a face index: the vectors of the face sightings whose best view falls in its span.

Rows (sighting id, time, camera code, alive flag) are append-only in-memory arrays; the exact vectors are
appended to a :class:`~skynet.index.vector_file.VectorFile` and read back only for the few rows a search
re-ranks or scans. Searches go through a FAISS index chosen by size: an exact ``IndexFlatIP`` (vectors
in memory) below ``ivf_rows`` rows, an ``IVF<nlist>,SQ8`` index (8-bit codes: a quarter of float32) from
there, whose ``refine * k`` best candidates are re-ranked with the exact vectors. Adds go straight into
the live index (IVF encodes them against its trained centroids: no rebuild); :func:`build_partition`
retrains and compacts deleted rows away into a new generation while the old one keeps serving.

A readers-writer lock per partition lets searches run together while an add waits for them (FAISS
indexes are not safe to search while they grow); deletions only clear alive flags.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from skynet.index.row_selection import narrowed, ordered_prefix, selected_count, selected_positions, time_bits
from skynet.index.rwlock import ReadWriteLock
from skynet.index.vector_file import VectorFile, top_k

# One OpenMP thread: a search is one query, where more threads only spin-wait on a busy machine (40 ms
# instead of 0.2 ms for a 20k-row flat search on 2 shared cores); concurrency comes from search threads.
faiss.omp_set_num_threads(1)

_CHUNK = 65_536  # rows per read when a partition is built from its vector file


@dataclass(frozen=True, slots=True)
class Tuning:
    """How searches and builds trade speed for recall."""

    ivf_rows: int = 50_000  # a partition with this many alive rows gets an IVF-SQ8 index
    exact_subset: int = 20_000  # a search selecting at most this many rows of a partition is exact
    nprobe: int = 32  # IVF lists probed (widened for selective filters)
    refine: int = 8  # IVF candidates re-ranked exactly per wanted hit


@dataclass(frozen=True, slots=True)
class Found:
    """A partition's answer to a search: similarities and sighting ids, best first. Answers from an IVF index
    are candidates whose similarities come from 8-bit codes: ``owner`` and its row ``positions``, to re-rank
    with their exact vectors (:func:`rerank`); None for exact similarities."""

    scores: np.ndarray
    ids: np.ndarray
    owner: Partition | None = None
    positions: np.ndarray | None = None


_EMPTY = Found(np.zeros(0, np.float32), np.zeros(0, np.int64))


@dataclass(slots=True)
class Rows:
    """The row arrays; ``n`` rows are valid, the arrays may be longer (capacity); the first ``ordered`` rows
    are in time order (:mod:`~skynet.index.row_selection`)."""

    ids: np.ndarray
    times: np.ndarray
    cams: np.ndarray
    alive: np.ndarray
    n: int = 0
    ordered: int = 0

    @classmethod
    def empty(cls, capacity: int = 1024) -> Rows:
        return cls(
            np.zeros(capacity, np.int64), np.zeros(capacity), np.zeros(capacity, np.int32), np.zeros(capacity, bool)
        )

    def taken(self, keep: np.ndarray) -> Rows:
        """Rows ``keep`` (positions), in new arrays."""
        fresh = Rows.empty(max(1024, len(keep) + len(keep) // 4))
        for name in ("ids", "times", "cams", "alive"):
            getattr(fresh, name)[: len(keep)] = getattr(self, name)[keep]
        fresh.n = len(keep)
        fresh.ordered = ordered_prefix(fresh.times[: fresh.n])
        return fresh

    def grown(self, needed: int) -> Rows:
        """These rows in arrays with room for ``needed`` rows."""
        grown = Rows.empty(max(needed, 2 * len(self.ids)))
        for name in ("ids", "times", "cams", "alive"):
            getattr(grown, name)[: self.n] = getattr(self, name)[: self.n]
        grown.n, grown.ordered = self.n, self.ordered
        return grown


@dataclass(eq=False)
class Partition:
    """Face vectors of times ``[key * span_s, (key + 1) * span_s)``, in ``directory``."""

    directory: Path
    key: int
    span_s: float
    generation: int
    rows: Rows
    vectors: VectorFile
    index: faiss.Index
    trained_rows: int = 0  # rows the IVF was trained on (0: an exact flat index)
    saved_index_rows: int = 0  # rows the saved IVF file holds
    dead: int = 0
    dirty: bool = True
    retired: bool = False  # replaced by a newer generation or dropped: writers look again
    lock: ReadWriteLock = field(default_factory=ReadWriteLock)
    _lists: tuple[faiss.Index, int] | None = field(default=None, repr=False)

    @property
    def start(self) -> float:
        return self.key * self.span_s

    @property
    def end(self) -> float:
        return (self.key + 1) * self.span_s

    @property
    def ivf(self) -> bool:
        return self.trained_rows > 0

    @property
    def alive(self) -> int:
        return self.rows.n - self.dead

    def lists(self) -> int:
        """The number of inverted lists of the IVF index, asked of FAISS once per index (a SWIG down-cast per
        search is GIL time)."""
        cached = self._lists
        if cached is None or cached[0] is not self.index:
            cached = self._lists = (self.index, ivf_lists(self.index))
        return cached[1]

    def ivf_path(self, generation: int | None = None) -> Path:
        return self.directory / f"ivf-{self.generation if generation is None else generation}.faiss"

    # --- writes (callers hold the write lock) ----------------------------------------------------

    def append(self, ids: np.ndarray, vectors: np.ndarray, times: np.ndarray, cams: np.ndarray) -> None:
        """Add rows: their vectors to the file and the index."""
        rows, count = self.rows, len(ids)
        if rows.n + count > len(rows.ids):
            rows = rows.grown(rows.n + count)
        self.vectors.append(vectors)
        start, end = rows.n, rows.n + count
        if self.ivf:
            self.index.add_with_ids(vectors, np.arange(start, end, dtype=np.int64))
        else:
            self.index.add(vectors)
        rows.ids[start:end], rows.times[start:end], rows.cams[start:end] = ids, times, cams
        rows.alive[start:end] = True
        if rows.ordered == start and (start == 0 or rows.times[start] >= rows.times[start - 1]):
            rows.ordered = start + ordered_prefix(rows.times[start:end])
        rows.n = end
        self.rows, self.dirty = rows, True

    def remove(self, ids: np.ndarray) -> int:
        """Clear the alive flags of sightings ``ids``; returns how many rows that hit."""
        rows = self.rows
        hit = np.flatnonzero(np.isin(rows.ids[: rows.n], ids) & rows.alive[: rows.n])
        rows.alive[hit] = False
        self.dead += len(hit)
        self.dirty = self.dirty or len(hit) > 0
        return len(hit)

    def due(self, tuning: Tuning) -> bool:
        """Whether a rebuild is due: an IVF index to train, retrain (the rows grew 4-fold) or
        deleted rows to compact away (a fifth of the rows)."""
        if self.dead > max(100, self.rows.n // 5):
            return True
        if not self.ivf:
            return self.alive >= tuning.ivf_rows
        return self.rows.n > 4 * self.trained_rows

    # --- search ------------------------------------------------------------------------------------

    def search(
        self,
        query: np.ndarray,
        k: int,
        since: float | None,
        until: float | None,
        cam_codes: np.ndarray | None,
        tuning: Tuning,
    ) -> Found:
        """The best rows for ``query`` of the alive ones passing the filters: the exact top-``k``, or (from the
        IVF index) the ``refine * k`` best candidates by their codes, for :func:`rerank` to score exactly."""
        with self.lock.reading():
            rows, n = self.rows, self.rows.n
            if n == 0:
                return _EMPTY
            mask = self._selection(rows, n, since, until, cam_codes)
            selected = n if mask is None else selected_count(mask)
            if selected == 0:
                return _EMPTY
            want = min(k, selected)
            if not self.ivf:
                scores, found = self._faiss(query, want, mask, None)
            elif selected <= tuning.exact_subset:
                scores, found = self._exact(query, want, mask, n)
            else:
                nprobe = min(self.lists(), int(tuning.nprobe * math.sqrt(n / selected)))
                scores, found = self._faiss(query, min(selected, want * tuning.refine), mask, nprobe)
                if len(found) < want:  # the filter left too few rows in the probed lists
                    scores, found = self._exact(query, want, mask, n)
                else:  # candidates, to re-rank with their exact vectors
                    return Found(scores, rows.ids[found], self, found)
            return Found(scores, rows.ids[found])

    def _selection(
        self, rows: Rows, n: int, since: float | None, until: float | None, cam_codes: np.ndarray | None
    ) -> np.ndarray | None:
        """The bitmap of the first ``n`` rows that are alive and pass the filters (None: all of them)."""
        lo = since if since is not None and since > self.start else None
        hi = until if until is not None and until < self.end else None
        mask = None if lo is None and hi is None else time_bits(rows.times[:n], min(rows.ordered, n), lo, hi)
        if self.dead:
            mask = narrowed(mask, rows.alive[:n])
        if cam_codes is not None:
            mask = narrowed(mask, np.isin(rows.cams[:n], cam_codes))
        return mask

    def _faiss(
        self, query: np.ndarray, k: int, mask: np.ndarray | None, nprobe: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(mask)) if mask is not None else None
        params: faiss.SearchParameters = faiss.SearchParameters()
        if nprobe is not None:
            ivf_params = faiss.SearchParametersIVF()
            ivf_params.nprobe = nprobe
            params = ivf_params
        if selector is not None:
            params.sel = selector
        scores, labels = self.index.search(query[None, :], k, params=params)
        keep = labels[0] >= 0
        return scores[0][keep], labels[0][keep]

    def _exact(self, query: np.ndarray, k: int, mask: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        positions = selected_positions(mask, n) if mask is not None else np.arange(n)
        return self.vectors.scan(positions, query, k)


def rerank(query: np.ndarray, found: list[Found], k: int, refine: int) -> tuple[np.ndarray, np.ndarray]:
    """The top-``k`` (similarities, sighting ids) of several partitions' answers, best first. Candidates from
    IVF indexes are first narrowed to the ``refine * k`` best over all partitions (their code similarities are
    comparable), and only those are scored with their exact vectors: one read of ``refine * k`` rows per
    search, not per partition."""
    exact = [f for f in found if f.owner is None]
    approximate = [f for f in found if f.owner is not None]
    if approximate:
        scores = np.concatenate([f.scores for f in approximate])
        owners = np.repeat(np.arange(len(approximate)), [len(f.scores) for f in approximate])
        offsets = np.cumsum([0] + [len(f.scores) for f in approximate])
        best = np.argpartition(-scores, refine * k - 1)[: refine * k] if len(scores) > refine * k else None
        for i, f in enumerate(approximate):
            assert f.owner is not None and f.positions is not None
            mine = np.arange(len(f.scores)) if best is None else best[owners[best] == i] - offsets[i]
            if len(mine):
                exact.append(Found(f.owner.vectors.read(f.positions[mine]) @ query, f.ids[mine]))
    if not exact:
        return _EMPTY.scores, _EMPTY.ids
    return top_k(np.concatenate([f.scores for f in exact]), np.concatenate([f.ids for f in exact]), k)


def span_text(start: float, end: float) -> str:
    """A partition's time range, for log lines."""

    def day(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")

    return f"{day(start)} to {day(end)} UTC"


# --- building ------------------------------------------------------------------------------------


def new_index(vectors: VectorFile, count: int, tuning: Tuning) -> tuple[faiss.Index, int]:
    """The index of the first ``count`` rows of ``vectors``, chosen by size: (index, rows trained on,
    0 for an exact flat index)."""
    if count < tuning.ivf_rows:
        flat = faiss.IndexFlatIP(vectors.dim)
        for lo in range(0, count, _CHUNK):
            flat.add(vectors.block(lo, min(count, lo + _CHUNK)))
        return flat, 0
    nlist = int(min(8192, max(64, 4 * math.sqrt(count))))
    index = faiss.index_factory(vectors.dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    faiss.extract_index_ivf(index).cp.niter = 10
    sample = np.sort(np.random.default_rng(count).choice(count, min(count, 40 * nlist), replace=False))
    index.train(vectors.read(sample))
    for lo in range(0, count, _CHUNK):
        hi = min(count, lo + _CHUNK)
        index.add_with_ids(vectors.block(lo, hi), np.arange(lo, hi, dtype=np.int64))
    # the inverted lists grew by doubling (1.85x the codes); a copy holds them at their size (1.1x)
    return faiss.clone_index(index), count


def ivf_lists(index: faiss.Index) -> int:
    """The number of inverted lists of an IVF index."""
    return int(faiss.extract_index_ivf(index).nlist)


def release_free_memory() -> None:
    """Hand memory freed by a build (the replaced generation, the build's buffers) back to the system:
    glibc keeps freed blocks in its arenas, where they still count as resident."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def build_partition(old: Partition, tuning: Tuning) -> tuple[Partition, int, np.ndarray]:
    """A new generation of ``old``: its alive rows (as of now) in a new vector file and a new index
    chosen by size. Returns (new partition, rows of ``old`` it covers, their positions in ``old``);
    :func:`adopt_changes` brings in what changed in ``old`` meanwhile."""
    with old.lock.reading():
        n0 = old.rows.n
        keep = np.flatnonzero(old.rows.alive[:n0])
        keep = keep[np.argsort(old.rows.times[keep], kind="stable")]  # in time order: see row_selection
        rows = old.rows.taken(keep)
    generation = old.generation + 1
    vectors = VectorFile(old.directory / f"vectors-{generation}.f32", old.vectors.dim)
    try:
        for lo in range(0, len(keep), _CHUNK):
            vectors.append(old.vectors.read(keep[lo : lo + _CHUNK]))
        index, trained = new_index(vectors, len(keep), tuning)
    except BaseException:
        vectors.close()
        vectors.path.unlink(missing_ok=True)
        raise
    fresh = Partition(old.directory, old.key, old.span_s, generation, rows, vectors, index, trained_rows=trained)
    return fresh, n0, keep


def adopt_changes(fresh: Partition, old: Partition, n0: int, keep: np.ndarray) -> None:
    """With ``old``'s write lock held: deletions made in ``old`` during the build, and its rows
    added after row ``n0``, into ``fresh``; ``old`` is retired."""
    fresh.rows.alive[: len(keep)] = old.rows.alive[keep]
    tail = np.arange(n0, old.rows.n)
    if len(tail):
        rows = old.rows
        fresh.append(rows.ids[tail], old.vectors.read(tail), rows.times[tail], rows.cams[tail])
        fresh.rows.alive[len(keep) : len(keep) + len(tail)] = rows.alive[tail]
    fresh.dead = int(fresh.rows.n - np.count_nonzero(fresh.rows.alive[: fresh.rows.n]))
    old.retired = True
