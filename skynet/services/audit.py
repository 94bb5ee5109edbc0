"""The audit log as the use cases write it: who did what, when, and why. Every read of personal data
(searches, trajectories, exports) and every change is recorded through an :class:`Auditor`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from skynet.accounts.model import User
from skynet.records import AuditEvent
from skynet.services.reasons import ReasonRule
from skynet.store.audit import AuditRepository


class Auditor:
    """Appends :class:`AuditEvent` lines to the store's append-only audit log, stamped by ``clock``; the
    reasons users give are checked by ``reasons`` first (:meth:`reason`)."""

    def __init__(
        self, log: AuditRepository, clock: Callable[[], float] = time.time, reasons: ReasonRule | None = None
    ) -> None:
        self.log = log
        self.clock = clock
        self.reasons = reasons or ReasonRule()

    def reason(self, text: str | None) -> str:
        """``text`` as a reason, checked by the reason rule (:class:`UnusableInputError` when it says too little):
        a use case that asks why calls this before it does anything."""
        return self.reasons.check(text)

    def record(
        self, who: User | str, action: str, reason: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        """Append that ``who`` (a user, or the name of a user or a program) did ``action`` now, for ``reason``."""
        actor = who.name if isinstance(who, User) else who
        self.log.append(AuditEvent(self.clock(), actor, action, reason, detail or {}))

    def events(self, limit: int = 100, **filters: Any) -> list[AuditEvent]:
        """The newest events first, narrowed by ``filters`` (``actor``, ``action`` or the actions under it,
        ``since``, ``until``: see :meth:`AuditRepository.events`)."""
        return self.log.events(limit, **filters)
