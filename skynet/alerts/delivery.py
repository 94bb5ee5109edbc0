"""The delivery loop every alert channel shares: claim due deliveries from the outbox, attempt them, record
the outcome, retry with exponential back-off. Channels (webhooks, SMS, e-mail) say only how one attempt goes.

Each attempt is logged without secrets: a delivery at INFO, a failure at WARNING with what went wrong and
when the next attempt is due (or that it was given up).
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

from skynet.alerts.outbox import DeliveryOutbox
from skynet.alerts.threads import call_in_loop
from skynet.records import Channel, Delivery


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Back-off ``base_s * 2**(attempt-1)`` capped at ``cap_s``; give up after ``max_attempts``."""

    base_s: float = 2.0
    cap_s: float = 600.0
    max_attempts: int = 15

    def delay(self, attempts: int) -> float:
        return min(self.cap_s, self.base_s * 2 ** (attempts - 1))


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went: ``error`` None when delivered, else what went wrong and whether to retry."""

    error: str | None = None
    retry: bool = False


DELIVERED = Outcome()


class OutboxWorker(ABC):
    """Delivers the deliveries of :attr:`channel` in ``outbox``, from :meth:`run` on an asyncio loop.

    At most ``max_in_flight`` attempts run at once, so a hanging receiver holds only its own
    deliveries. ``lease_s`` must exceed the longest an attempt may take (its timeout).
    """

    channel: ClassVar[Channel]  # the outbox queue it serves; names the channel in log lines

    def __init__(
        self,
        outbox: DeliveryOutbox,
        retry: RetryPolicy | None = None,
        *,
        max_in_flight: int = 16,
        lease_s: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox.for_channel(self.channel)
        self.retry = retry or RetryPolicy()
        self.max_in_flight = max_in_flight
        self.lease_s = lease_s
        self.clock = clock
        self.log = logging.getLogger(type(self).__module__)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    @abstractmethod
    def session(self) -> AbstractAsyncContextManager[Any]:
        """What attempts share while :meth:`run` runs (an HTTP client), handed to :meth:`attempt`."""

    @abstractmethod
    async def attempt(self, session: Any, delivery: Delivery) -> Outcome:
        """One attempt at ``delivery``, within its own timeout; never raises for a receiver's failure."""

    @abstractmethod
    def describe(self, delivery: Delivery) -> str:
        """Who ``delivery`` goes to, for log lines: nothing secret, personal data masked."""

    def queue(self, targets: list[str], body: bytes) -> list[int]:
        """Queues ``body`` for each of ``targets`` and returns the delivery ids. Any thread; no network."""
        now = self.clock()
        ids = [self.outbox.enqueue(target, body, now) for target in targets]
        if ids:
            self.wake()
        return ids

    def wake(self) -> None:
        """Have :meth:`run` look at the outbox now (new deliveries are due). Any thread."""
        wake = self._wake
        if wake is not None:
            call_in_loop(self._loop, wake.set)

    async def run(self) -> None:
        """Delivers due deliveries until cancelled (run it as a task for the service's lifetime)."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        in_flight: set[asyncio.Task[None]] = set()
        async with self.session() as session:
            try:
                while True:
                    self._wake.clear()
                    free = self.max_in_flight - len(in_flight)
                    for delivery in self.outbox.claim(self.clock(), free, self.lease_s) if free > 0 else []:
                        in_flight.add(asyncio.create_task(self._attempt(session, delivery)))
                    await self._sleep(in_flight)
                    for task in [task for task in in_flight if task.done()]:
                        in_flight.discard(task)
                        if task.exception() is not None:  # a bug: the delivery is retried after its lease
                            self.log.error("%s attempt failed unexpectedly", self.channel, exc_info=task.exception())
            finally:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _sleep(self, in_flight: set[asyncio.Task[None]]) -> None:
        """Until a new delivery, a finished attempt, or (with room for more) the next due time."""
        due = self.outbox.next_due() if len(in_flight) < self.max_in_flight else None
        timeout = None if due is None else max(0.0, due - self.clock())
        assert self._wake is not None
        woken = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({woken, *in_flight}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()

    async def _attempt(self, session: Any, delivery: Delivery) -> None:
        outcome = await self.attempt(session, delivery)
        if outcome.error is None:
            self.outbox.mark_done(delivery.id, self.clock())
            self.log.info(
                "%s delivery %d to %s delivered (attempt %d)",
                self.channel,
                delivery.id,
                self.describe(delivery),
                delivery.attempts,
            )
            return
        retry = outcome.retry and delivery.attempts < self.retry.max_attempts
        delay = self.retry.delay(delivery.attempts) if retry else None
        self.outbox.mark_failed(delivery.id, outcome.error, None if delay is None else self.clock() + delay)
        self.log.warning(
            "%s delivery %d to %s attempt %d: %s; %s",
            self.channel,
            delivery.id,
            self.describe(delivery),
            delivery.attempts,
            outcome.error,
            "giving up" if delay is None else f"retry in {delay:g} s",
        )
