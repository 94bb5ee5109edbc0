"""E-mail alerts over SMTP, from the durable outbox.

A delivery's body is the whole message (RFC 5322, plain text in UTF-8), made when the alert is queued
(:func:`alert_email`), so every attempt sends the same bytes under the same ``Message-ID``, one per alert
and address: if a message is sent twice (the service died after the server took it and before the outbox
recorded it), the copies carry one Message-ID, by which mail software recognises duplicates. No image
is attached: a face or a plate photo would be personal data leaving the system for every mailbox on the
way; the text's link leads to the sighting in the web UI, behind its sign-in.

The connection is TLS-protected unless the settings say ``none`` (then without credentials): STARTTLS
(refused when the server does not offer it) or TLS from the start, with the server's certificate checked
against the system's CAs or ``ca_file``. Connection errors, timeouts, 4xx answers and a refused login (a
configuration fault, which an admin fixes while the retries wait) are retried; a 5xx answer about the
message or its recipient is final. Each attempt opens its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from pathlib import Path
from typing import Any, Literal

from skynet.alerts.delivery import DELIVERED, OutboxWorker, Outcome
from skynet.alerts.outbox import DeliveryOutbox
from skynet.errors import ConfigError
from skynet.records import Channel, Delivery, Recipient
from skynet.redaction import HIDDEN

_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_ROUND_TRIPS = 12  # at most, from connect to QUIT: each may take the timeout


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    """The SMTP server and how to talk to it; credentials are hidden from ``repr``."""

    host: str
    sender: str  # the From address
    port: int | None = None  # None: 587, 465 or 25 as ``tls`` says
    tls: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout_s: float = 15.0  # each network operation

    def __post_init__(self) -> None:
        try:
            sender = Recipient.parse(self.sender).channel
        except ValueError:
            sender = None
        if sender is not Channel.EMAIL:
            raise ConfigError(f"SKYNET_SMTP_FROM: {self.sender!r} is not an e-mail address", "e.g. skynet@example.org")
        if self.tls not in _DEFAULT_PORTS:
            raise ConfigError(f"SKYNET_SMTP_TLS must be starttls, tls or none, not {self.tls!r}")
        if self.tls == "none" and (self.username or self.password):
            raise ConfigError("SMTP credentials would travel unencrypted (SKYNET_SMTP_TLS=none)", "use starttls or tls")
        if bool(self.username) != bool(self.password):
            raise ConfigError("SMTP login needs both SKYNET_SMTP_USERNAME and SKYNET_SMTP_PASSWORD")
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise ConfigError(f"SKYNET_SMTP_CA_FILE: {self.ca_file} is not a file")

    @property
    def server_port(self) -> int:
        return self.port or _DEFAULT_PORTS[self.tls]


def alert_email(sender: str, recipient: str, subject: str, body: str, alert_id: int, at: float) -> bytes:
    """The message for ``recipient``: plain text, no attachment; its Message-ID names the alert and (hashed)
    the recipient, so it is the same however often it is sent."""
    digest = hashlib.sha256(recipient.lower().encode("utf-8")).hexdigest()[:16]
    message = EmailMessage(policy=SMTP)  # CRLF line ends, as SMTP sends them
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(at, localtime=True)
    message["Message-ID"] = f"<skynet.alert-{alert_id}.{digest}@{sender.rpartition('@')[2]}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office answers
    message.set_content(body)
    return message.as_bytes()


class SmtpMail(OutboxWorker):
    """Sends the e-mail deliveries of the outbox (target: the address; body: the message)."""

    channel = Channel.EMAIL

    def __init__(self, outbox: DeliveryOutbox, options: SmtpOptions, **worker: Any) -> None:
        """``worker``: the options of :class:`OutboxWorker` (retry policy, lease, ...); attempts run in
        threads (``smtplib``), 4 at a time and leased for 240 s unless ``worker`` says otherwise."""
        super().__init__(outbox, **{"max_in_flight": 4, "lease_s": 240.0, **worker})
        if self.lease_s <= options.timeout_s * _ROUND_TRIPS:
            raise ConfigError(
                f"lease_s ({self.lease_s}) must exceed {_ROUND_TRIPS} SMTP timeouts ({options.timeout_s} s each)"
            )
        self.options = options

    def session(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def describe(self, delivery: Delivery) -> str:
        return f"{Recipient(Channel.EMAIL, delivery.target).masked()} via {self.options.host}"

    async def attempt(self, session: None, delivery: Delivery) -> Outcome:
        outcome = await asyncio.to_thread(self._send, delivery)
        if outcome.error is None:
            return outcome
        masked = Recipient(Channel.EMAIL, delivery.target).masked()  # servers quote the address in errors
        error = outcome.error.replace(delivery.target, masked)
        return Outcome(error.replace(self.options.password, HIDDEN) if self.options.password else error, outcome.retry)

    def _send(self, delivery: Delivery) -> Outcome:
        options = self.options
        try:
            context = ssl.create_default_context(cafile=options.ca_file)
            client: smtplib.SMTP
            if options.tls == "tls":
                client = smtplib.SMTP_SSL(options.host, options.server_port, timeout=options.timeout_s, context=context)
            else:
                client = smtplib.SMTP(options.host, options.server_port, timeout=options.timeout_s)
            with client:
                if options.tls == "starttls":
                    client.starttls(context=context)
                if options.username and options.password:
                    client.login(options.username, options.password)
                client.sendmail(options.sender, [delivery.target], delivery.body)
        except smtplib.SMTPNotSupportedError:
            return Outcome(f"the SMTP server {options.host} does not offer STARTTLS", retry=True)
        except smtplib.SMTPAuthenticationError as error:
            return Outcome(f"SMTP login refused: {_answer(error.smtp_code, error.smtp_error)}", retry=True)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            return Outcome(f"SMTP refused the recipient: {_answer(code, text)}", retry=code < 500)
        except smtplib.SMTPResponseException as error:
            return Outcome(f"SMTP answered {_answer(error.smtp_code, error.smtp_error)}", retry=error.smtp_code < 500)
        except (smtplib.SMTPException, OSError) as error:  # refused, reset, timed out, TLS (ssl.SSLError)
            return Outcome(f"{type(error).__name__}: {error}", retry=True)
        return DELIVERED


def _answer(code: int, text: bytes | str) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(text.split())}"[:300]
