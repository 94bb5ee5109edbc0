"""Throttling guesses: at most N failures per key (a client address, a user name) in any sliding window
of W seconds (in memory, per server process). :class:`LoginThrottle` limits password guesses per client
address and per user name; :class:`TokenThrottle` limits invalid API tokens and stream tickets per
client address.

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

Key = tuple[str, str]  # (kind, value), e.g. ("client", "10.0.0.5")


class LoginThrottled(RateLimitedError):
    """Too many failed logins; ``retry_after_s`` says when the next try is accepted."""

    def __init__(self, retry_after_s: int, what: str) -> None:
        super().__init__(
            f"too many failed logins {what}; try again in {retry_after_s} s",
            "API tokens keep working; an admin can issue a new one",
            retry_after_s,
        )


class TokensThrottled(RateLimitedError):
    """Too many invalid API tokens or stream tickets from one client address."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many invalid API tokens from this address; try again in {retry_after_s} s",
            "check the token, or ask an admin for a new one",
            retry_after_s,
        )


class FailureWindow:
    """Failure times per key within the last ``window_s`` seconds, at most ``max_failures`` each."""

    def __init__(self, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("max_failures must be at least 1 and window_s positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[Key, deque[float]] = {}

    def _wait_s(self, key: Key, now: float) -> int | None:
        """Seconds until ``key`` may try again, or None when it is under the limit (hold the lock)."""
        if len(self._failures) > SWEEP_AT:
            self._sweep(now)
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) < self.max_failures:
            return None
        return max(1, math.ceil(times[0] + self.window_s - now))

    def _add(self, key: Key, now: float) -> None:
        self._failures.setdefault(key, deque()).append(now)

    def _take_back(self, key: Key, now: float) -> None:
        times = self._failures.get(key)
        if times is not None and now in times:
            times.remove(now)
            if not times:
                del self._failures[key]

    def _sweep(self, now: float) -> None:
        for key in [k for k, times in self._failures.items() if not times or times[-1] <= now - self.window_s]:
            del self._failures[key]


class LoginThrottle(FailureWindow):
    """Refuses a login while its client address or its user name has ``max_failures`` failures in the
    last ``window_s`` seconds."""

    def __init__(
        self, max_failures: int = 5, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(max_failures, window_s, clock)

    @contextmanager
    def attempt(self, client: str, user: str) -> Iterator[None]:
        """Guard one login: raises :class:`LoginThrottled` when either key is over the limit; otherwise
        the body runs with a failure counted for both keys, taken back if the body ends without an error."""
        keys = (("client", client), ("user", user))
        with self._lock:
            now = self._clock()
            for kind, value in keys:
                wait = self._wait_s((kind, value), now)
                if wait is not None:
                    raise LoginThrottled(wait, "from this address" if kind == "client" else f"for user {value!r}")
            for key in keys:
                self._add(key, now)
        yield
        with self._lock:
            for key in keys:
                self._take_back(key, now)


class TokenThrottle(FailureWindow):
    """Refuses every unverified credential from a client address once it sent ``max_failures`` invalid
    ones in the last ``window_s`` seconds. A token needs no claim before its check (as a password
    does): 256 random bits are not guessed, so the limit is on the load and the noise of a flood."""

    def __init__(
        self, max_failures: int = 20, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(max_failures, window_s, clock)

    def check(self, client: str) -> None:
        """:class:`TokensThrottled` while ``client`` is over the limit."""
        with self._lock:
            wait = self._wait_s(("client", client), self._clock())
        if wait is not None:
            raise TokensThrottled(wait)

    def failed(self, client: str) -> None:
        """Count one invalid credential from ``client``."""
        with self._lock:
            self._add(("client", client), self._clock())
