"""SMS alerts through Kannel's ``sendsms`` HTTP interface (the smsbox), from the durable outbox.

Each delivery is one ``GET <kannel_url>?username=…&password=…&to=…&text=…`` with the text in UTF-8
(``coding=2``, UCS-2 on the air, when it is not plain ASCII, so Chinese plates arrive intact). Kannel
answers 202 once it has queued the message for its SMSC; it then sends it (and keeps it across its own
restarts when its ``store-file`` is set). Connection errors, timeouts, 5xx, 408, 429 and 403 (Kannel's
"Authorization failed": a configuration fault, which an admin fixes while the retries wait) are retried
with back-off; other answers (400: a number Kannel refuses) are final. The password travels in the
query, as Kannel wants it: use https:// (Kannel's ``sendsms-port-ssl``) when Kannel is not on this host.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx

from skynet.alerts.delivery import DELIVERED, OutboxWorker, Outcome
from skynet.alerts.outbox import DeliveryOutbox
from skynet.alerts.webhooks import is_http_url, retryable_status
from skynet.errors import ConfigError
from skynet.records import Channel, Delivery, Recipient
from skynet.redaction import HIDDEN, redact_text, redact_url


@dataclass(frozen=True, slots=True)
class KannelOptions:
    """Where Kannel's sendsms interface is and its sendsms-user (secrets: hidden from ``repr``)."""

    url: str = field(repr=False)
    username: str = field(repr=False)
    password: str = field(repr=False)
    sender: str | None = None
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not is_http_url(self.url):
            raise ConfigError(
                "SKYNET_KANNEL_URL is not an http:// or https:// address",
                "Kannel's sendsms interface: http://127.0.0.1:13013/cgi-bin/sendsms",
            )
        if not self.username or not self.password:
            raise ConfigError("SMS alerts need SKYNET_KANNEL_USERNAME and SKYNET_KANNEL_PASSWORD (a sendsms-user)")


class KannelSms(OutboxWorker):
    """Sends the SMS deliveries of the outbox (target: the phone number; body: the text, UTF-8)."""

    channel = Channel.SMS

    def __init__(self, outbox: DeliveryOutbox, options: KannelOptions, **worker: Any) -> None:
        """``worker``: the options of :class:`OutboxWorker` (retry policy, lease, ...)."""
        super().__init__(outbox, **worker)
        if self.lease_s <= options.timeout_s:
            raise ConfigError(f"lease_s ({self.lease_s}) must exceed the Kannel timeout ({options.timeout_s})")
        self.options = options

    def session(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=None, follow_redirects=False)

    def describe(self, delivery: Delivery) -> str:
        return f"{Recipient(Channel.SMS, delivery.target).masked()} via {redact_url(self.options.url)}"

    async def attempt(self, session: httpx.AsyncClient, delivery: Delivery) -> Outcome:
        text = delivery.body.decode("utf-8")
        params = {
            "username": self.options.username,
            "password": self.options.password,
            "to": delivery.target,
            "text": text,
            "charset": "UTF-8",
            "coding": "0" if text.isascii() else "2",
        }
        if self.options.sender:
            params["from"] = self.options.sender
        try:
            async with asyncio.timeout(self.options.timeout_s):
                response = await session.get(self.options.url, params=params)
        except TimeoutError:
            return Outcome(f"no answer from Kannel within {self.options.timeout_s:g} s", retry=True)
        except httpx.HTTPError as error:  # connection refused or reset, TLS, protocol errors
            message = redact_text(f"{type(error).__name__}: {error}", [self.options.url])
            return Outcome(message.replace(self.options.password, HIDDEN), retry=True)
        if response.is_success:
            return DELIVERED
        answer = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        retry = retryable_status(response.status_code) or response.status_code == 403
        return Outcome(f"Kannel answered HTTP {response.status_code}: {answer}".rstrip(": "), retry=retry)
