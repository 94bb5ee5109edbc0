"""Audit rows for refused requests: invalid or expired credentials (``auth.bad_token``), clients throttled
for sending too many of them (``auth.throttled``) and users whose role lacks a permission
(``auth.forbidden``).

Every refusal is counted, but a flood cannot flood the audit log: per key (the client address for
credentials; the user, permission and route for a refusal by role) the first refusal is written at
once, with everything known about it, and the refusals after it within a minute become one more row
with their number when the minute is over. So a key writes at most two rows a minute, however fast it
is refused, and nothing is lost: ``count`` on each row says how many refusals it stands for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from skynet.accounts.model import ApiToken
from skynet.records import AuditEvent

ANONYMOUS = "(anonymous)"
"""The actor of a refusal before anyone was authenticated (no user name can hold parentheses)."""

MAX_FINGERPRINTS = 10
"""Distinct credential fingerprints kept on one row of repeats."""


@dataclass
class _Tally:
    """The refusals of one key since its first row."""

    actor: str
    action: str
    key_detail: dict
    started: float
    token: tuple[int | None, str | None]
    count: int = 0
    first: float | None = None
    last: float | None = None
    fingerprints: list[str] = field(default_factory=list)


class RefusalAudit:
    """Writes refusals with ``append`` (the store's ``append_audit``; None: counted, never written),
    aggregated per key and ``window_s`` as the module says."""

    MAX_KEYS = 10_000

    def __init__(
        self, append: Callable[[AuditEvent], object] | None, clock: Callable[[], float], window_s: float = 60.0
    ) -> None:
        self.append = append
        self.clock = clock
        self.window_s = window_s
        self._lock = threading.Lock()
        self._tallies: dict[tuple, _Tally] = {}
        self._swept = 0.0

    async def record(
        self, actor: str, action: str, key_detail: dict, more: dict | None = None, token: ApiToken | None = None
    ) -> None:
        """Count one refusal of ``action`` by ``actor`` (with ``token``, the API token of an authenticated
        user); ``key_detail`` (with ``actor``, ``action`` and the token) is its key, ``more`` what only its
        first row shows (a ``fingerprint`` is also collected on the row of repeats)."""
        due = self._note(actor, action, key_detail, more or {}, (token.id, token.minted_by) if token else (None, None))
        if due and self.append is not None:
            await run_in_threadpool(self._write, due)

    async def flush_every(self, interval_s: float = 10.0) -> None:
        """Write the rows of repeats whose minute is over, every ``interval_s`` (a task of the server's
        lifespan; cancel it, then :meth:`flush` everything)."""
        while True:
            await asyncio.sleep(interval_s)
            due = self._closed(everything=False)
            if due and self.append is not None:
                await run_in_threadpool(self._write, due)

    def flush(self) -> None:
        """Write every pending row of repeats now (at shutdown)."""
        due = self._closed(everything=True)
        if due and self.append is not None:
            self._write(due)

    def _note(
        self, actor: str, action: str, key_detail: dict, more: dict, token: tuple[int | None, str | None]
    ) -> list[AuditEvent]:
        now = self.clock()
        key = (actor, action, token, *sorted(key_detail.items()))
        with self._lock:
            full = len(self._tallies) >= self.MAX_KEYS
            due = self._closed_locked(now, everything=full) if full or now - self._swept >= 1.0 else []
            tally = self._tallies.get(key)
            if tally is None:
                self._tallies[key] = _Tally(actor, action, key_detail, now, token)
                due.append(AuditEvent(now, actor, action, None, {**key_detail, **more, "count": 1}, *token))
                return due
            tally.count += 1
            tally.first = now if tally.first is None else tally.first
            tally.last = now
            fingerprint = more.get("fingerprint")
            if fingerprint and fingerprint not in tally.fingerprints and len(tally.fingerprints) < MAX_FINGERPRINTS:
                tally.fingerprints.append(fingerprint)
            return due

    def _closed(self, everything: bool) -> list[AuditEvent]:
        with self._lock:
            return self._closed_locked(self.clock(), everything)

    def _closed_locked(self, now: float, everything: bool) -> list[AuditEvent]:
        """Rows of repeats of the keys whose window is over (all keys with ``everything``), forgetting those keys."""
        due = []
        self._swept = now
        for key, tally in list(self._tallies.items()):
            if everything or now - tally.started >= self.window_s:
                del self._tallies[key]
                if tally.count:
                    detail = {**tally.key_detail, "count": tally.count, "first": tally.first, "last": tally.last}
                    if tally.fingerprints:
                        detail["fingerprints"] = tally.fingerprints
                    due.append(AuditEvent(tally.last or now, tally.actor, tally.action, None, detail, *tally.token))
        return due

    def _write(self, events: list[AuditEvent]) -> None:
        assert self.append is not None
        for event in events:
            self.append(event)
