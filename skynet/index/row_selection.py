"""Which rows of a partition a search's filters select, as the bitmap FAISS reads (``IDSelectorBitmap``: row
``i`` is bit ``i % 8``, lowest first, of byte ``i // 8``), made without comparing every row where it can be.

Sightings are stored about in time order and a partition's build sorts its rows by time, so its rows begin
with a run in time order (``ordered`` rows): there a time filter is two binary searches and a range of bytes
set at once; only the rows after the run are compared one by one. (At 10M faces a week holds 2.4M rows:
comparing them all, counting and packing the result took ~0.9 ms of CPU per partition a filter cuts.)
"""

from __future__ import annotations

import numpy as np


def ordered_prefix(times: np.ndarray) -> int:
    """How many of ``times``, from the first, are in non-decreasing order."""
    drops = np.flatnonzero(times[1:] < times[:-1])
    return int(drops[0]) + 1 if len(drops) else len(times)


def time_bits(times: np.ndarray, ordered: int, since: float | None, until: float | None) -> np.ndarray:
    """The bitmap of the rows of ``times`` in ``[since, until]`` (None: open), whose first ``ordered`` rows are
    in time order."""
    bits = np.zeros((len(times) + 7) // 8, np.uint8)
    head = times[:ordered]
    lo = 0 if since is None else int(np.searchsorted(head, since, "left"))
    hi = ordered if until is None else int(np.searchsorted(head, until, "right"))
    _set_range(bits, lo, hi)
    start = ordered // 8 * 8  # the rest from a whole byte (the head's rows in it compare the same)
    if start < len(times):
        tail = times[start:]
        inside = tail >= since if since is not None else np.ones(len(tail), bool)
        if until is not None:
            inside &= tail <= until
        bits[start // 8 :] |= np.packbits(inside, bitorder="little")
    return bits


def narrowed(bits: np.ndarray | None, condition: np.ndarray) -> np.ndarray:
    """``bits`` (None: every row) and the rows where ``condition`` (one flag per row) holds."""
    packed = np.packbits(condition, bitorder="little")
    return packed if bits is None else np.bitwise_and(bits, packed, out=bits)


def selected_count(bits: np.ndarray) -> int:
    """How many rows ``bits`` selects."""
    return int(np.bitwise_count(bits).sum(dtype=np.int64))


def selected_positions(bits: np.ndarray, n: int) -> np.ndarray:
    """The positions of the rows ``bits`` selects (of ``n``), ascending."""
    return np.flatnonzero(np.unpackbits(bits, count=n, bitorder="little"))


def _set_range(bits: np.ndarray, lo: int, hi: int) -> None:
    """Set the bits of rows ``[lo, hi)``."""
    if lo >= hi:
        return
    first, last = lo // 8, hi // 8
    if first == last:
        bits[first] |= ((1 << (hi - lo)) - 1) << (lo % 8)
        return
    bits[first] |= (0xFF << (lo % 8)) & 0xFF
    bits[first + 1 : last] = 0xFF
    if hi % 8:
        bits[last] |= (1 << (hi % 8)) - 1
