"""Exact face vectors on disk: an append-only file of float32 rows, read back by row position.

A partition's compressed index finds candidates; their exact vectors come from here, gathered from a
read-only memory map of the file (only the page cache holds it, not the process's heap; one gather of the
~80 re-ranked rows instead of a ``pread`` each, which under 16 concurrent searches cost a GIL hand-off
each: 16 HTTP clients at 10M went from 110 to 145-170 requests/s). A scan over many rows goes in chunks,
so memory stays bounded whatever it reads.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from skynet.store.media import storage_error

_CHUNK = 32_768  # rows per read of a scan


class VectorFileError(Exception):
    """The file is shorter than the rows its partition says it holds."""


class VectorFile:
    """``rows`` float32 vectors of ``dim`` dimensions in ``path`` (rows past them are cut off at open)."""

    def __init__(self, path: Path, dim: int, rows: int = 0) -> None:
        self.path, self.dim, self.row_bytes = Path(path), dim, 4 * dim
        self._fd = -1
        self._mapped: np.ndarray | None = None  # rows in a read-only memory map, made again as rows grow
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        size = os.fstat(fd).st_size
        if size < rows * self.row_bytes:
            os.close(fd)
            raise VectorFileError(f"{self.path.name} holds {size // self.row_bytes} vectors, {rows} expected")
        if size > rows * self.row_bytes:
            os.ftruncate(fd, rows * self.row_bytes)  # appended after the last save: caught up again
        self._fd, self.rows = fd, rows
        if rows and hasattr(os, "posix_fadvise"):  # read ahead into the page cache: re-ranking reads are random
            os.posix_fadvise(fd, 0, rows * self.row_bytes, os.POSIX_FADV_WILLNEED)

    def append(self, vectors: np.ndarray) -> None:
        """Write ``vectors`` after the last row."""
        data = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        try:
            written = os.pwrite(self._fd, data, self.rows * self.row_bytes)
            if written != len(data):
                raise OSError(f"short write to {self.path.name}")
        except OSError as error:
            os.ftruncate(self._fd, self.rows * self.row_bytes)
            raise storage_error(error, f"writing face vectors to {self.path.name}") from error
        self.rows += len(vectors)

    def block(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``[lo, hi)``."""
        data = os.pread(self._fd, (hi - lo) * self.row_bytes, lo * self.row_bytes)
        return np.frombuffer(data, dtype=np.float32).reshape(-1, self.dim)

    def read(self, positions: np.ndarray) -> np.ndarray:
        """The vectors of rows ``positions`` (any order), in that order: gathered from a memory map in one
        step, without a system call (and a hand-back of Python's GIL) per row."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return np.empty((0, self.dim), np.float32)
        mapped = self._mapped
        if mapped is None or len(mapped) < self.rows:
            mapped = np.frombuffer(
                mmap.mmap(self._fd, self.rows * self.row_bytes, prot=mmap.PROT_READ), np.float32
            ).reshape(-1, self.dim)
            self._mapped = mapped
        return mapped[positions]

    def scan(self, positions: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` (scores, positions) of ``query`` over rows ``positions`` (sorted), best first."""
        best_scores, best_rows = np.zeros(0, np.float32), np.zeros(0, np.int64)
        for start in range(0, len(positions), _CHUNK):
            chunk = positions[start : start + _CHUNK]
            scores = self.read(chunk) @ query
            best_scores, best_rows = top_k(np.concatenate([best_scores, scores]), np.concatenate([best_rows, chunk]), k)
        return best_scores, best_rows

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        self._mapped = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


def top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (scores, rows), best first."""
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        scores, rows = scores[part], rows[part]
    order = np.argsort(-scores, kind="stable")
    return scores[order], rows[order]
