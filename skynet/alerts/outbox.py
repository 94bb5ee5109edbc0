"""Pending deliveries of every alert channel, kept so that none is lost across retries and restarts.

The service backs :class:`DeliveryOutbox` by a table in its store; :class:`MemoryOutbox` is the
same contract in memory (tests). One outbox holds a queue per :class:`~skynet.records.Channel`
(webhooks, SMS, e-mail): :meth:`DeliveryOutbox.for_channel` is another channel's queue in the same
outbox, and every other method works on its own channel's deliveries only. A delivery is *pending*
until it is delivered (*done*, with the time) or given up on (*failed*); both stay, as the delivery
log. :meth:`DeliveryOutbox.claim` leases a due delivery by moving its ``next_attempt_at`` past the
lease, so one whose sender died mid-attempt (a crash, a restart) becomes due again when the lease
runs out.
"""

from __future__ import annotations

import copy
import itertools
import threading
from dataclasses import replace
from typing import Protocol

from skynet.records import Channel, Delivery, DeliveryState


class DeliveryOutbox(Protocol):
    """Durable queue of one channel's deliveries. Every method is short and may be called from any thread."""

    def for_channel(self, channel: Channel) -> DeliveryOutbox:
        """The queue of ``channel`` in the same outbox."""
        ...

    def enqueue(self, target: str, body: bytes, now: float) -> int:
        """Adds a pending delivery due ``now``; returns its id."""
        ...

    def claim(self, now: float, limit: int, lease_s: float) -> list[Delivery]:
        """Up to ``limit`` pending deliveries due at ``now`` (earliest first), each with ``attempts``
        raised by one and ``next_attempt_at`` moved to ``now + lease_s``."""
        ...

    def mark_done(self, delivery_id: int, now: float) -> None:
        """Records that the delivery was delivered at ``now``."""
        ...

    def mark_failed(self, delivery_id: int, error: str, next_attempt_at: float | None) -> None:
        """Records ``error``; retry at ``next_attempt_at``, or give up (state *failed*) when None."""
        ...

    def next_due(self) -> float | None:
        """The earliest ``next_attempt_at`` of any pending delivery, None when none is pending."""
        ...


class MemoryOutbox:
    """A :class:`DeliveryOutbox` in a dictionary (lost with the process: for tests); the webhook queue
    unless ``channel`` says otherwise."""

    def __init__(self, channel: Channel = Channel.WEBHOOK) -> None:
        self.channel = channel
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._deliveries: dict[int, tuple[Channel, Delivery]] = {}

    def for_channel(self, channel: Channel) -> MemoryOutbox:
        view = copy.copy(self)  # the same lock, ids and deliveries
        view.channel = channel
        return view

    def _own(self) -> list[Delivery]:
        return [d for channel, d in self._deliveries.values() if channel is self.channel]

    def _put(self, delivery: Delivery) -> None:
        self._deliveries[delivery.id] = (self._deliveries[delivery.id][0], delivery)

    def enqueue(self, target: str, body: bytes, now: float) -> int:
        with self._lock:
            delivery_id = next(self._ids)
            self._deliveries[delivery_id] = (self.channel, Delivery(delivery_id, target, body, now, now))
            return delivery_id

    def claim(self, now: float, limit: int, lease_s: float) -> list[Delivery]:
        with self._lock:
            due = sorted(
                (d for d in self._own() if d.state is DeliveryState.PENDING and d.next_attempt_at <= now),
                key=lambda d: (d.next_attempt_at, d.id),
            )[:limit]
            claimed = [replace(d, attempts=d.attempts + 1, next_attempt_at=now + lease_s) for d in due]
            for delivery in claimed:
                self._put(delivery)
            return claimed

    def mark_done(self, delivery_id: int, now: float) -> None:
        with self._lock:
            self._put(replace(self.get(delivery_id), state=DeliveryState.DONE, delivered_at=now))

    def mark_failed(self, delivery_id: int, error: str, next_attempt_at: float | None) -> None:
        with self._lock:
            delivery = self.get(delivery_id)
            if next_attempt_at is None:
                self._put(replace(delivery, state=DeliveryState.FAILED, last_error=error))
            else:
                self._put(replace(delivery, next_attempt_at=next_attempt_at, last_error=error))

    def next_due(self) -> float | None:
        with self._lock:
            return min((d.next_attempt_at for d in self._own() if d.state is DeliveryState.PENDING), default=None)

    def get(self, delivery_id: int) -> Delivery:
        """The delivery as it stands, of any channel (for inspection)."""
        return self._deliveries[delivery_id][1]

    def deliveries(self) -> list[Delivery]:
        """This channel's deliveries, oldest first (for inspection)."""
        with self._lock:
            return sorted(self._own(), key=lambda d: d.id)
