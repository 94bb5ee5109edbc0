"""Throttling password guesses: at most N failed logins per client address and per user name in any
sliding window of W seconds (in memory, per server process).

A sliding window of timestamps rather than a rate-limit library: a login must claim its failure
*before* the slow password check (else many concurrent guesses all pass the check before any
failure is counted) and give it back when the password was right. The libraries' moving windows
(``limits``) count hits but cannot take one back, so they would count successful logins too.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from skynet.errors import RateLimitedError

SWEEP_AT = 10_000
"""Forget expired keys once this many are kept (each key holds at most ``max_failures`` times)."""


class LoginThrottled(RateLimitedError):
    """Too many failed logins; ``retry_after_s`` says when the next try is accepted."""

    def __init__(self, retry_after_s: int, what: str) -> None:
        super().__init__(
            f"too many failed logins {what}; try again in {retry_after_s} s",
            "API tokens keep working; an admin can issue a new one",
            retry_after_s,
        )


class LoginThrottle:
    """Refuses a login while its client address or its user name has ``max_failures`` failures in the
    last ``window_s`` seconds."""

    def __init__(
        self, max_failures: int = 5, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("max_failures must be at least 1 and window_s positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], deque[float]] = {}

    @contextmanager
    def attempt(self, client: str, user: str) -> Iterator[None]:
        """Guard one login: raises :class:`LoginThrottled` when either key is over the limit; otherwise
        the body runs with a failure counted for both keys, taken back if the body ends without an error."""
        keys = (("client", client), ("user", user))
        with self._lock:
            now = self._clock()
            if len(self._failures) > SWEEP_AT:
                self._sweep(now)
            for (kind, value), times in ((key, self._recent(key, now)) for key in keys):
                if len(times) >= self.max_failures:
                    wait = max(1, math.ceil(times[0] + self.window_s - now))
                    what = "from this address" if kind == "client" else f"for user {value!r}"
                    raise LoginThrottled(wait, what)
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
        yield
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if times is not None and now in times:
                    times.remove(now)
                    if not times:
                        del self._failures[key]

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def _sweep(self, now: float) -> None:
        for key in [k for k, times in self._failures.items() if not times or times[-1] <= now - self.window_s]:
            del self._failures[key]
