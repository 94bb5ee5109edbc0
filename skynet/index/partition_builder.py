"""The background builder of a face index: one thread that rebuilds due partitions, one after another.

A partition is due when it outgrew its exact index (an IVF-SQ8 index to train), grew 4-fold since its IVF was
trained, or holds many deleted rows (compaction) — see :meth:`~skynet.index.face_partition.Partition.due`. The
builder writes the new generation beside the old one, which keeps serving searches and taking adds meanwhile;
the index then swaps it in (carrying over what changed during the build) and persists it. A failed build
(a full disk) leaves the old generation serving; the error is logged and raised by :meth:`PartitionBuilder.join`.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import numpy as np

from skynet.index.face_partition import (
    Partition,
    Tuning,
    build_partition,
    ivf_lists,
    release_free_memory,
    span_text,
)

log = logging.getLogger(__name__)


class BuildHost(Protocol):
    """What the builder needs of the index whose partitions it rebuilds."""

    model: str | None
    tuning: Tuning

    def partitions(self) -> list[Partition]:
        """The partitions now in the index."""
        ...

    def swap_in(self, old: Partition, fresh: Partition, n0: int, keep: np.ndarray) -> bool:
        """Replace ``old`` by its new generation ``fresh``; False when ``old`` left the index meanwhile."""
        ...

    def persist(self, fresh: Partition) -> None:
        """Save a swapped-in generation and remove the files of the others."""
        ...


class PartitionBuilder:
    """Rebuilds the due partitions of ``host`` in one background thread, each swapped in when ready."""

    def __init__(self, host: BuildHost) -> None:
        self._host = host
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def due(self, complete: bool = False) -> list[Partition]:
        """Partitions due a rebuild, in build order; ``complete``: also those with any deleted row."""
        tuning = self._host.tuning
        due = [p for p in self._host.partitions() if p.due(tuning) or (complete and p.dead)]
        # exact partitions past the threshold first, largest first: they hold float32 vectors in memory
        return sorted(due, key=lambda p: (p.ivf, -p.alive))

    def start_if_due(self, complete: bool = False) -> None:
        """Start the builder thread when a partition is due and it is not already running."""
        if self.running() or not self.due(complete):
            return
        with self._lock:
            if not self.running():
                self._thread = threading.Thread(
                    target=self._run, args=(complete,), name="face-index-build", daemon=True
                )
                self._thread.start()

    def join(self) -> None:
        """Wait for the running build; raise the error of a failed one (once)."""
        thread = self._thread
        if thread is not None:
            thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self, complete: bool) -> None:
        try:
            while due := self.due(complete):
                self._rebuild(due[0])
        except BaseException as error:  # reported by join(); the old partitions keep serving
            self._error = error
            log.exception("face index: background build failed; the partition as it was keeps serving")

    def _rebuild(self, old: Partition) -> None:
        fresh, n0, keep = build_partition(old, self._host.tuning)
        if not self._host.swap_in(old, fresh, n0, keep):  # dropped or rebuilt meanwhile
            fresh.vectors.close()
            fresh.vectors.path.unlink(missing_ok=True)
            return
        self._host.persist(fresh)
        del old
        release_free_memory()
        kind = f"IVF-SQ8 ({ivf_lists(fresh.index)} lists)" if fresh.ivf else "exact"
        log.info(
            "face index %s: partition %s rebuilt, %d vectors, %s",
            self._host.model,
            span_text(fresh.start, fresh.end),
            fresh.alive,
            kind,
        )
