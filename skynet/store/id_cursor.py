"""How far a follower has read a table whose ids a sequence hands out (sightings, alerts, the change log).

Writers take ids in one order and commit in another: an id below the highest one read that is not there yet may be a
write still in flight. :class:`IdCursor` keeps such ids as gaps, to be looked for again for ``gap_s``, then given up
(a write rolled back, or an id no row keeps)."""

from __future__ import annotations

import time
from collections.abc import Iterable

MAX_GAPS = 100_000  # a jump above this (a restored database) leaves nothing to wait for


class IdCursor:
    """The highest id read (:attr:`last`) and the ids below it still looked for (:meth:`pending`)."""

    def __init__(self, last: int = 0, gap_s: float = 30.0) -> None:
        self.last, self.gap_s = last, gap_s
        self._gaps: dict[int, float] = {}  # missing id -> when it was first missed

    def pending(self) -> list[int]:
        """The missing ids below :attr:`last` still looked for, ascending (those missed for ``gap_s`` dropped)."""
        cutoff = time.monotonic() - self.gap_s
        for missing in [i for i, since in self._gaps.items() if since < cutoff]:
            del self._gaps[missing]
        return sorted(self._gaps)

    def seen(self, ids: Iterable[int]) -> None:
        """Take ``ids`` as read (those above :attr:`last`, and pending ones): the ids skipped become gaps."""
        found = set(ids)
        if not found:
            return
        top, now = max(found), time.monotonic()
        if top - self.last <= MAX_GAPS:
            for missing in range(self.last + 1, top):
                if missing not in found:
                    self._gaps.setdefault(missing, now)
        for i in found:
            self._gaps.pop(i, None)
        self.last = max(self.last, top)

    def read(self, i: int) -> bool:
        """Whether id ``i`` was read (at or below :attr:`last` and not pending)."""
        return i <= self.last and i not in self._gaps
