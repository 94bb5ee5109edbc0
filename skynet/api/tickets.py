"""Stream tickets: how a client that can give only a URL (a browser's WebSocket, an ``<img>``) opens a
stream without putting its API token in that URL, where access logs, proxies and browser history would
keep it.

``POST /api/stream-tickets`` (authenticated with the token, in the header) answers an opaque ticket
for one stream path; the client connects to ``PATH?ticket=...`` within :data:`TICKET_TTL_S`. A ticket
opens one connection (it is gone once presented, valid or not), to that path only, for the user and
token that asked for it: on connecting, that token must still be valid and its user active and
allowed on the stream. Tickets live in this process's memory, hashed like tokens.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from pydantic import BaseModel, Field, field_validator

from skynet.accounts.credentials import hash_token
from skynet.accounts.errors import AuthError
from skynet.api.schemas import Strict

TICKET_TTL_S = 30.0
TICKET_PREFIX = "skynet_ticket_"
STREAM_PATHS = re.compile(r"/api/live|/api/cameras/[^/]{1,100}/preview")
"""The paths a ticket opens: the live events WebSocket and a camera's MJPEG preview."""
NEW_TICKET_HINT = "ask POST /api/stream-tickets for a new ticket just before connecting"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a ticket allows: ``path``, for the user and token (by its hash) that asked, until ``expires_at``."""

    user_name: str
    token_hash: str
    path: str
    expires_at: float


class StreamTickets:
    """The tickets issued and not yet used (at most :attr:`MAX_TICKETS`: the oldest go first)."""

    MAX_TICKETS = 10_000

    def __init__(self, clock: Callable[[], float], ttl_s: float = TICKET_TTL_S) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}  # by the ticket's SHA-256

    def issue(self, user_name: str, token_hash: str, path: str) -> tuple[str, Grant]:
        """A new ticket for ``path`` (a stream path, see :data:`STREAM_PATHS`) and its grant."""
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        grant = Grant(user_name, token_hash, path, now + self.ttl_s)
        with self._lock:
            if len(self._grants) >= self.MAX_TICKETS:
                for key in [k for k, g in self._grants.items() if g.expires_at <= now] or [next(iter(self._grants))]:
                    del self._grants[key]
            self._grants[hash_token(ticket)] = grant
        return ticket, grant

    def redeem(self, ticket: str, path: str) -> Grant:
        """The grant of ``ticket`` for a connection to ``path``, used up; :class:`AuthError` says why not."""
        with self._lock:
            grant = self._grants.pop(hash_token(ticket), None)
        if grant is None:
            raise AuthError("unknown or already used stream ticket", NEW_TICKET_HINT)
        if self.clock() >= grant.expires_at:
            raise AuthError(f"stream ticket expired (tickets are valid for {self.ttl_s:g} s)", NEW_TICKET_HINT)
        if grant.path != path:
            raise AuthError(f"this stream ticket opens {grant.path}, not {path}", NEW_TICKET_HINT)
        return grant


class StreamTicketRequest(Strict):
    path: str = Field(
        max_length=300,
        description="The stream to open: /api/live or /api/cameras/{id}/preview.",
        examples=["/api/live"],
    )

    @field_validator("path")
    @classmethod
    def _stream_path(cls, path: str) -> str:
        path = unquote(path)
        if not STREAM_PATHS.fullmatch(path):
            raise ValueError("not a stream path: /api/live or /api/cameras/{id}/preview")
        return path


class StreamTicketOut(BaseModel):
    ticket: str = Field(description="Append as ?ticket= to the stream's URL; opens one connection.")
    path: str
    expires_at: float = Field(description="Unix time after which the ticket no longer opens the stream.")
