"""The streams open now (the live WebSocket, camera MJPEG previews), by the API token that opened them,
so that a token that stops being valid ends its streams: revoked (by an admin or by logging out), its
user disabled or deleted, its user's role changed, or expired.

Account changes made through this server call :meth:`OpenStreams.recheck` at once (the streams end
within milliseconds); changes by another process (the ``skynet users`` CLI) are found by
:meth:`OpenStreams.keep_checking`, every :data:`STREAM_RECHECK_S`; a token's expiry ends its streams
at that moment (:meth:`OpenStream.ended`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator

from starlette.concurrency import run_in_threadpool

from skynet.accounts.credentials import authenticate_token_hash
from skynet.accounts.errors import AuthError
from skynet.accounts.model import User, UserStore
from skynet.alerts.threads import call_in_loop

STREAM_RECHECK_S = 0.5
"""How often the tokens of open streams are checked against the store for changes by other processes."""

EXPIRED = "the API token of this stream expired"
REVOKED = "the API token of this stream was revoked, or its user disabled or deleted"


class OpenStream:
    """One open stream of ``user`` (authenticated with ``user.token``), on the running event loop."""

    def __init__(self, user: User, clock: Callable[[], float]) -> None:
        self.user = user
        self.clock = clock
        self.reason: str | None = None
        self._loop = asyncio.get_running_loop()
        self._ended = asyncio.Event()

    def end(self, reason: str) -> None:
        """Ask the stream to end, saying why (from any thread)."""
        call_in_loop(self._loop, lambda: self._end(reason))

    def _end(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._ended.set()

    async def ended(self, timeout_s: float | None = None) -> str | None:
        """Why the stream must end, as soon as it must (waiting at most ``timeout_s``; None: no limit);
        None if it may go on after ``timeout_s``. The token's expiry ends it at that moment."""
        expires_at = self.user.token.expires_at if self.user.token else None
        expiring = False
        if expires_at is not None:
            left = expires_at - self.clock()
            if left <= 0:
                self._end(EXPIRED)
            elif timeout_s is None or left < timeout_s:
                timeout_s, expiring = left, True
        try:
            await asyncio.wait_for(self._ended.wait(), timeout_s)
        except TimeoutError:
            if expiring:
                self._end(EXPIRED)
        return self.reason


class OpenStreams:
    """The open streams by the hash of their token; :meth:`recheck` ends those whose token is no longer
    valid for the same user and role, checked against ``store`` at ``clock``'s time."""

    def __init__(self, store: UserStore, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self._by_token: dict[str, set[OpenStream]] = {}

    @property
    def count(self) -> int:
        with self._lock:
            return sum(len(streams) for streams in self._by_token.values())

    @contextlib.contextmanager
    def opened(self, user: User) -> Iterator[OpenStream]:
        """An open stream of ``user`` for the enclosed block (call it on the event loop that serves it)."""
        stream = OpenStream(user, self.clock)
        key = user.token.token_hash if user.token else ""
        with self._lock:
            self._by_token.setdefault(key, set()).add(stream)
        try:
            yield stream
        finally:
            with self._lock:
                streams = self._by_token.get(key, set())
                streams.discard(stream)
                if not streams:
                    self._by_token.pop(key, None)

    def recheck(self) -> int:
        """End the streams whose token is no longer valid, or whose user's role changed; returns how many
        were ended. Reads the store: call it off the event loop."""
        with self._lock:
            open_now = {key: list(streams) for key, streams in self._by_token.items() if key}
        ended = 0
        for token_hash, streams in open_now.items():
            current = self._current(token_hash)
            for stream in streams:
                if isinstance(current, str):
                    stream.end(current)
                elif current.role is not stream.user.role:
                    stream.end(f"the role of user {stream.user.name!r} changed to {current.role.value}")
                else:
                    continue
                ended += 1
        return ended

    def _current(self, token_hash: str) -> User | str:
        """The user the token stored as ``token_hash`` authenticates now, or why it does not."""
        if self.store.find_token(token_hash) is None:
            return REVOKED
        try:
            return authenticate_token_hash(self.store, token_hash, self.clock())
        except AuthError as error:
            return error.message

    async def keep_checking(self, every_s: float = STREAM_RECHECK_S) -> None:
        """:meth:`recheck` every ``every_s`` while streams are open (a task of the server's lifespan)."""
        while True:
            await asyncio.sleep(every_s)
            if self._by_token:
                await run_in_threadpool(self.recheck)
