"""Thread CPU time per stage of a benchmark, by wrapping the functions that make up each stage."""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable


class StageClock:
    """Thread CPU time (ms) and calls of wrapped calls per stage, each call's time exclusive of the wrapped calls
    it makes (a stage called inside another is counted once, in its own stage). Safe to use from many threads.

    :meth:`enter` names a call's stage and may keep something on the call's stack entry (``frame``) for the
    calls it makes to read (see ``profile_reindex.py``'s clp_det looks)."""

    def __init__(self) -> None:
        self.ms: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self._local = threading.local()
        self._lock = threading.Lock()

    def wrap(self, stage: str, call: Callable) -> Callable:
        """``call`` timed as ``stage``."""

        @functools.wraps(call)
        def timed(*args, **kwargs):
            stack = self._local.__dict__.setdefault("stack", [])
            name, frame = self.enter(stage, call, args, stack)
            stack.append([0.0, frame])
            started = time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                inner, _ = stack.pop()
                if stack:
                    stack[-1][0] += spent
                with self._lock:
                    self.ms[name] += (spent - inner) * 1000.0
                    self.calls[name] += 1

        return timed

    def patch(self, owner: object, attribute: str, stage: str) -> None:
        """Replace ``owner.attribute`` (a module's function, a class's or an object's method) by its timed form."""
        setattr(owner, attribute, self.wrap(stage, getattr(owner, attribute)))

    def enter(self, stage: str, call: Callable, args: tuple, stack: list) -> tuple[str, object]:
        """The stage name a call is counted in, and what its stack entry keeps for the calls it makes."""
        return stage, None

    def reset(self) -> None:
        with self._lock:
            self.ms.clear()
            self.calls.clear()
