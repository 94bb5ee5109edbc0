"""Watch-list entries, the alerts they raise, and the deliveries that tell people of them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from skynet.records.sightings import Identity, SightingKind


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    """A face (one or more reference embeddings), plate (exact or wildcard pattern) or identity key to alert on."""

    kind: SightingKind
    label: str
    reason: str
    added_by: str
    created_at: float
    expires_at: float | None = None
    plate_pattern: str | None = None
    embeddings: tuple[np.ndarray, ...] = ()
    min_similarity: float | None = None
    id: int | None = None
    recipients: tuple[str, ...] = ()  # phone numbers and e-mail addresses told of its alerts (Recipient.parse)
    cooldown_s: float | None = None  # a later pass on a camera this soon after its alert there adds no alert
    identity: Identity | None = None  # kind identity: the key watched for

    def active(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class Alert:
    """A sighting that matched a watch-list entry."""

    entry_id: int
    sighting_id: int
    camera_id: str
    created_at: float
    score: float
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    track_id: int | None = None  # the camera's track of the pass (sightings of one pass share it)
    last_seen: float | None = None  # when the pass (or the last pass folded in) was last seen, sighting time
    updated_at: float | None = None  # when a later sighting was last folded into the alert
    sightings: int = 1  # matching sightings folded into the alert (its pass's and, within the cooldown, later ones)
    id: int | None = None


class DeliveryState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Channel(StrEnum):
    """How a delivery leaves: a signed webhook POST, an SMS through Kannel, an e-mail over SMTP."""

    WEBHOOK = "webhook"
    SMS = "sms"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message for one target of a channel (a webhook's name, a phone number, an e-mail address), as the
    outbox keeps it; ``attempts`` counts attempts started, this one included."""

    id: int
    target: str
    body: bytes
    created_at: float
    next_attempt_at: float
    attempts: int = 0
    state: DeliveryState = DeliveryState.PENDING
    last_error: str | None = None
    delivered_at: float | None = None


_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_PHONE = re.compile(r"\+?[0-9]{3,15}")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")  # ASCII only


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who an SMS or e-mail alert goes to: a phone number (digits, an optional leading ``+``) or an e-mail
    address. Personal data: logs show :meth:`masked`."""

    channel: Channel
    address: str

    @classmethod
    def parse(cls, text: str) -> Recipient:
        """A phone number (spaces, dots, dashes and brackets dropped: ``+86 138-0000-0001`` is
        ``+8613800000001``) or an e-mail address (anything with an ``@``: ASCII, as every SMTP server takes
        it); ValueError for anything else."""
        text = text.strip()
        if "@" in text:
            if not _EMAIL.fullmatch(text):
                raise ValueError(f"{text!r} is not an e-mail address (name@example.org)")
            return cls(Channel.EMAIL, text)
        number = _PHONE_SEPARATORS.sub("", text)
        if not _PHONE.fullmatch(number):
            raise ValueError(f"{text!r} is neither a phone number (+8613800000001) nor an e-mail address")
        return cls(Channel.SMS, number)

    def masked(self) -> str:
        """The address with its middle hidden (``+86138*****01``, ``d***@example.org``), for logs."""
        if self.channel is Channel.EMAIL:
            local, _, domain = self.address.rpartition("@")
            return f"{local[:1]}***@{domain}"
        keep = min(3, len(self.address) // 4)
        hidden = "*" * (len(self.address) - 2 * keep)
        return self.address[:keep] + hidden + (self.address[-keep:] if keep else "")
