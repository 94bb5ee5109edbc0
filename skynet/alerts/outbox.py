"""Pending webhook deliveries, kept so that none is lost across retries and restarts.

The service backs :class:`DeliveryOutbox` by a table in its store; :class:`MemoryOutbox` is the
same contract in memory (tests). A delivery is *pending* until it is delivered (*done*) or given
up on (*failed*, kept for inspection). :meth:`DeliveryOutbox.claim` leases a due delivery by
moving its ``next_attempt_at`` past the lease, so one whose sender died mid-attempt (a crash, a
restart) becomes due again when the lease runs out.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Protocol

from skynet.records import Delivery, DeliveryState


class DeliveryOutbox(Protocol):
    """Durable queue of webhook deliveries. Every method is short and may be called from any thread."""

    def enqueue(self, target: str, body: bytes, now: float) -> int:
        """Adds a pending delivery due ``now``; returns its id."""
        ...

    def claim(self, now: float, limit: int, lease_s: float) -> list[Delivery]:
        """Up to ``limit`` pending deliveries due at ``now`` (earliest first), each with ``attempts``
        raised by one and ``next_attempt_at`` moved to ``now + lease_s``."""
        ...

    def mark_done(self, delivery_id: int) -> None: ...

    def mark_failed(self, delivery_id: int, error: str, next_attempt_at: float | None) -> None:
        """Records ``error``; retry at ``next_attempt_at``, or give up (state *failed*) when None."""
        ...

    def next_due(self) -> float | None:
        """The earliest ``next_attempt_at`` of any pending delivery, None when none is pending."""
        ...


class MemoryOutbox:
    """A :class:`DeliveryOutbox` in a dictionary (lost with the process: for tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: dict[int, Delivery] = {}

    def enqueue(self, target: str, body: bytes, now: float) -> int:
        with self._lock:
            delivery_id = len(self._deliveries) + 1
            self._deliveries[delivery_id] = Delivery(delivery_id, target, body, now, now)
            return delivery_id

    def claim(self, now: float, limit: int, lease_s: float) -> list[Delivery]:
        with self._lock:
            due = sorted(
                (d for d in self._deliveries.values() if d.state is DeliveryState.PENDING and d.next_attempt_at <= now),
                key=lambda d: (d.next_attempt_at, d.id),
            )[:limit]
            claimed = [replace(d, attempts=d.attempts + 1, next_attempt_at=now + lease_s) for d in due]
            self._deliveries.update((d.id, d) for d in claimed)
            return claimed

    def mark_done(self, delivery_id: int) -> None:
        with self._lock:
            self._deliveries[delivery_id] = replace(self._deliveries[delivery_id], state=DeliveryState.DONE)

    def mark_failed(self, delivery_id: int, error: str, next_attempt_at: float | None) -> None:
        with self._lock:
            delivery = self._deliveries[delivery_id]
            if next_attempt_at is None:
                self._deliveries[delivery_id] = replace(delivery, state=DeliveryState.FAILED, last_error=error)
            else:
                self._deliveries[delivery_id] = replace(delivery, next_attempt_at=next_attempt_at, last_error=error)

    def next_due(self) -> float | None:
        with self._lock:
            times = [d.next_attempt_at for d in self._deliveries.values() if d.state is DeliveryState.PENDING]
            return min(times, default=None)

    def get(self, delivery_id: int) -> Delivery:
        """The delivery as it stands (for inspection)."""
        with self._lock:
            return self._deliveries[delivery_id]
