"""The time partitions of one face index, by key, behind a lock held briefly (never while a partition is
searched or written).

A background build replaces a partition by a new generation (:meth:`PartitionSet.swap_in`) while adds and
removals go on: one that finds the partition it waited for retired goes again, to the generation now in the set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection

import numpy as np

from skynet.index.face_partition import Partition, adopt_changes
from skynet.store.faces import FaceBatch


class PartitionSet:
    """The partitions of a face index by time key (a week by default: :mod:`skynet.index.face_index`)."""

    def __init__(self, parts: dict[int, Partition] | None = None) -> None:
        self._parts: dict[int, Partition] = dict(parts or {})
        self._lock = threading.Lock()

    def all(self) -> list[Partition]:
        with self._lock:
            return list(self._parts.values())

    def keys(self) -> list[int]:
        """The keys of the partitions, in time order."""
        with self._lock:
            return sorted(self._parts)

    def get(self, key: int) -> Partition | None:
        with self._lock:
            return self._parts.get(key)

    def overlapping(self, lo: float, hi: float, keys: Collection[int] | None = None) -> list[Partition]:
        """The partitions, in time order, whose span overlaps [lo, hi] (of ``keys`` only, when given)."""
        with self._lock:
            return [
                p
                for key, p in sorted(self._parts.items())
                if p.end > lo and p.start <= hi and (keys is None or key in keys)
            ]

    def rows(self) -> int:
        """Rows in every partition, deleted ones included."""
        with self._lock:
            return sum(p.rows.n for p in self._parts.values())

    def ids(self) -> np.ndarray:
        """Sighting ids of every vector in the partitions, sorted."""
        found = [p.rows.ids[: p.rows.n][p.rows.alive[: p.rows.n]] for p in self.all()]
        return np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)

    def absent(self, batch: FaceBatch) -> FaceBatch:
        """``batch`` without the vectors the partitions already hold."""
        present = np.zeros(len(batch.ids), bool)
        for part in self.all():
            present |= np.isin(batch.ids, part.rows.ids[: part.rows.n])
        keep = np.flatnonzero(~present)
        return FaceBatch(batch.ids[keep], batch.vectors[keep], batch.times[keep], [batch.camera_ids[i] for i in keep])

    def append(
        self,
        key: int,
        ids: np.ndarray,
        vectors: np.ndarray,
        times: np.ndarray,
        cams: np.ndarray,
        new: Callable[[], Partition],
    ) -> None:
        """Append rows to partition ``key`` (made by ``new`` when there is none)."""
        while True:
            with self._lock:
                part = self._parts.get(key)
                if part is None:
                    part = self._parts[key] = new()
            with part.lock.writing():
                if not part.retired:  # else replaced by a new generation meanwhile: add there
                    part.append(ids, vectors, times, cams)
                    return

    def remove(self, ids: np.ndarray) -> tuple[int, int, list[Partition]]:
        """Mark the rows of sighting ``ids`` deleted; returns how many, in how many partitions it looked, and the
        partitions left with no vector."""
        removed, touched, emptied = 0, 0, []
        for key in self.keys():
            while True:
                part = self.get(key)
                if part is None:
                    break
                with part.lock.writing():
                    if part.retired:
                        continue
                    removed += part.remove(ids)
                    if part.rows.n and part.alive == 0:
                        emptied.append(part)
                    touched += 1
                    break
        return removed, touched, emptied

    def discard(self, part: Partition) -> bool:
        """Take ``part`` out and retire it; False when it had left the set already."""
        with self._lock:
            if self._parts.get(part.key) is not part:
                return False
            del self._parts[part.key]
        with part.lock.writing():
            part.retired = True
        return True

    def swap_in(self, old: Partition, fresh: Partition, n0: int, keep: np.ndarray) -> bool:
        """Replace ``old`` by its new generation ``fresh`` (:func:`adopt_changes`); False when ``old`` left the set
        meanwhile."""
        with self._lock:
            if self._parts.get(old.key) is not old:
                return False
            with old.lock.writing():
                adopt_changes(fresh, old, n0, keep)
                self._parts[old.key] = fresh
        return True

    def clear(self) -> None:
        """Retire and take out every partition."""
        with self._lock:
            for part in self._parts.values():
                part.retired = True
            self._parts = {}
