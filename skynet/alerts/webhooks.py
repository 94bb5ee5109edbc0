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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from skynet.alerts.delivery import DELIVERED, OutboxWorker, Outcome, RetryPolicy
from skynet.alerts.outbox import DeliveryOutbox
from skynet.errors import ConfigError
from skynet.records import Channel, Delivery
from skynet.redaction import redact_text, redact_url

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
        if not is_http_url(self.url):
            raise ConfigError(f"webhook {self.name!r}: the URL is not an http:// or https:// address")
        if not self.secret:
            raise ConfigError(f"webhook {self.name!r} has no secret", "receivers need it to check signatures")
        if not self.timeout_s > 0:
            raise ConfigError(f"webhook {self.name!r}: timeout_s must be > 0, got {self.timeout_s}")


class WebhookDispatcher(OutboxWorker):
    """Delivers what :meth:`submit` queues to every target, from :meth:`run` on an asyncio loop.

    At most ``max_in_flight`` attempts run at once, so a hanging target holds only its own
    deliveries. ``lease_s`` must exceed every target's timeout.
    """

    channel = Channel.WEBHOOK

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
        self.targets: Mapping[str, WebhookTarget] = {t.name: t for t in targets}
        if len(self.targets) != len(targets):
            raise ConfigError("webhook target names must be unique")
        slowest = max((t.timeout_s for t in targets), default=0.0)
        if lease_s <= slowest:
            raise ConfigError(f"lease_s ({lease_s}) must exceed the longest webhook timeout ({slowest})")
        super().__init__(outbox, retry, max_in_flight=max_in_flight, lease_s=lease_s, clock=clock)

    def submit(self, body: bytes) -> list[int]:
        """Queues ``body`` for every target and returns the delivery ids. Any thread; no network."""
        return self.queue(list(self.targets), body)

    def session(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=None, follow_redirects=False)

    def describe(self, delivery: Delivery) -> str:
        target = self.targets.get(delivery.target)
        return delivery.target if target is None else f"{target.name} ({redact_url(target.url)})"

    async def attempt(self, session: httpx.AsyncClient, delivery: Delivery) -> Outcome:
        target = self.targets.get(delivery.target)
        if target is None:
            return Outcome(f"webhook target {delivery.target!r} is no longer configured")
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            DELIVERY_HEADER: str(delivery.id),
            SIGNATURE_HEADER: sign(target.secret, timestamp, delivery.body),
        }
        try:
            async with asyncio.timeout(target.timeout_s):
                response = await session.post(target.url, content=delivery.body, headers=headers)
        except TimeoutError:
            return Outcome(f"no answer within {target.timeout_s:g} s", retry=True)
        except httpx.HTTPError as error:  # connection refused or reset, TLS, protocol errors
            return Outcome(redact_text(f"{type(error).__name__}: {error}", [target.url]), retry=True)
        if response.is_success:
            return DELIVERED
        return Outcome(f"HTTP {response.status_code}", retry=retryable_status(response.status_code))


def is_http_url(text: str) -> bool:
    """Whether ``text`` is an http:// or https:// address with a host."""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def retryable_status(status: int) -> bool:
    """Whether an HTTP error answer may succeed later: 5xx, 408 (timeout) and 429 (too many requests)."""
    return status >= 500 or status in _RETRIED_STATUSES
