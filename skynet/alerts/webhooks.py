"""Signed webhook delivery with retries, in a background worker that never blocks the caller.

Each POST carries the JSON body, ``X-Skynet-Timestamp`` (Unix seconds), ``X-Skynet-Delivery``
(the delivery id, the same on every retry, for de-duplication) and
``X-Skynet-Signature: sha256=<hex>``, an HMAC-SHA256 with the target's secret over
``"<timestamp>." + body``. Receivers check it with :func:`verify_signature` (or the same few
lines), which also refuses old timestamps, so a captured request cannot be replayed later.

Timeouts, connection errors, 5xx, 408 and 429 are retried with exponential back-off; other
answers are final. Deliveries live in a :class:`~skynet.alerts.outbox.DeliveryOutbox`, so they
survive restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from skynet.alerts.outbox import DeliveryOutbox
from skynet.alerts.threads import call_in_loop
from skynet.errors import ConfigError
from skynet.records import Delivery
from skynet.redaction import redact_text, redact_url

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Skynet-Signature"
TIMESTAMP_HEADER = "X-Skynet-Timestamp"
DELIVERY_HEADER = "X-Skynet-Delivery"
_RETRIED_STATUSES = frozenset({408, 429})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, body: bytes, signature: str, timestamp: str, now: float, tolerance_s: float = 300.0
) -> bool:
    """Whether ``signature`` is ``secret``'s over ``body`` at ``timestamp``, sent within ``tolerance_s``."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    return abs(now - sent_at) <= tolerance_s and hmac.compare_digest(sign(secret, sent_at, body), signature)


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where alerts are POSTed. ``name`` identifies the target in the outbox; keep it stable."""

    name: str
    url: str = field(repr=False)
    secret: str = field(repr=False)
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        try:
            url = httpx.URL(self.url)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"webhook {self.name!r}: the URL is not an http:// or https:// address")
        if not self.secret:
            raise ConfigError(f"webhook {self.name!r} has no secret", "receivers need it to check signatures")
        if not self.timeout_s > 0:
            raise ConfigError(f"webhook {self.name!r}: timeout_s must be > 0, got {self.timeout_s}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Back-off ``base_s * 2**(attempt-1)`` capped at ``cap_s``; give up after ``max_attempts``."""

    base_s: float = 2.0
    cap_s: float = 600.0
    max_attempts: int = 15

    def delay(self, attempts: int) -> float:
        return min(self.cap_s, self.base_s * 2 ** (attempts - 1))


class WebhookDispatcher:
    """Delivers what :meth:`submit` queues to every target, from :meth:`run` on an asyncio loop.

    At most ``max_in_flight`` attempts run at once, so a hanging target holds only its own
    deliveries. ``lease_s`` must exceed every target's timeout.
    """

    def __init__(
        self,
        outbox: DeliveryOutbox,
        targets: Sequence[WebhookTarget],
        retry: RetryPolicy | None = None,
        *,
        max_in_flight: int = 16,
        lease_s: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.targets: Mapping[str, WebhookTarget] = {t.name: t for t in targets}
        if len(self.targets) != len(targets):
            raise ConfigError("webhook target names must be unique")
        slowest = max((t.timeout_s for t in targets), default=0.0)
        if lease_s <= slowest:
            raise ConfigError(f"lease_s ({lease_s}) must exceed the longest webhook timeout ({slowest})")
        self.retry = retry or RetryPolicy()
        self.max_in_flight = max_in_flight
        self.lease_s = lease_s
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def submit(self, body: bytes) -> list[int]:
        """Queues ``body`` for every target and returns the delivery ids. Any thread; no network."""
        now = self.clock()
        ids = [self.outbox.enqueue(name, body, now) for name in self.targets]
        wake = self._wake
        if ids and wake is not None:
            call_in_loop(self._loop, wake.set)
        return ids

    async def run(self) -> None:
        """Delivers due deliveries until cancelled (run it as a task for the service's lifetime)."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        in_flight: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=None, follow_redirects=False) as client:
            try:
                while True:
                    self._wake.clear()
                    free = self.max_in_flight - len(in_flight)
                    for delivery in self.outbox.claim(self.clock(), free, self.lease_s) if free > 0 else []:
                        in_flight.add(asyncio.create_task(self._attempt(client, delivery)))
                    await self._sleep(in_flight)
                    for task in [task for task in in_flight if task.done()]:
                        in_flight.discard(task)
                        if task.exception() is not None:  # a bug: the delivery is retried after its lease
                            log.error("webhook attempt failed unexpectedly", exc_info=task.exception())
            finally:
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _sleep(self, in_flight: set[asyncio.Task[None]]) -> None:
        """Until a submit, a finished attempt, or (with room for more) the next due time."""
        due = self.outbox.next_due() if len(in_flight) < self.max_in_flight else None
        timeout = None if due is None else max(0.0, due - self.clock())
        assert self._wake is not None
        woken = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({woken, *in_flight}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()

    async def _attempt(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        target = self.targets.get(delivery.target)
        if target is None:
            self.outbox.mark_failed(delivery.id, f"webhook target {delivery.target!r} is no longer configured", None)
            return
        error, retry = await self._post(client, target, delivery)
        if error is None:
            self.outbox.mark_done(delivery.id)
            return
        delay = self.retry.delay(delivery.attempts) if retry and delivery.attempts < self.retry.max_attempts else None
        self.outbox.mark_failed(delivery.id, error, None if delay is None else self.clock() + delay)
        log.warning(
            "webhook %s (%s) delivery %d attempt %d: %s; %s",
            target.name,
            redact_url(target.url),
            delivery.id,
            delivery.attempts,
            error,
            "giving up" if delay is None else f"retry in {delay:g} s",
        )

    async def _post(
        self, client: httpx.AsyncClient, target: WebhookTarget, delivery: Delivery
    ) -> tuple[str | None, bool]:
        """(None, _) when delivered, else (what went wrong, whether to retry)."""
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            DELIVERY_HEADER: str(delivery.id),
            SIGNATURE_HEADER: sign(target.secret, timestamp, delivery.body),
        }
        try:
            async with asyncio.timeout(target.timeout_s):
                response = await client.post(target.url, content=delivery.body, headers=headers)
        except TimeoutError:
            return f"no answer within {target.timeout_s:g} s", True
        except httpx.HTTPError as error:  # connection refused or reset, TLS, protocol errors
            return redact_text(f"{type(error).__name__}: {error}", [target.url]), True
        if response.is_success:
            return None, False
        return f"HTTP {response.status_code}", response.status_code >= 500 or response.status_code in _RETRIED_STATUSES
