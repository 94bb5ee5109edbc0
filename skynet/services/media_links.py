"""Links to sightings' media (the thumbnail and the context frame): the one place their URLs are made and
checked. A link is made for one user and API token, for one context (the search, trajectory, sighting
read or alert that showed the sighting), and expires after :data:`MEDIA_LINK_TTL_S`:

``/api/sightings/{id}/{media}?by=USER&tid=TOKEN_ID&for=CONTEXT&expires=UNIX&sig=SIGNATURE``

The signature is an HMAC-SHA256, with a server key, of all of these and of the user's role: a link
cannot be guessed from a sighting id, nor changed to another sighting, user, context or expiry. It
carries no bearer token; on reading, the token it names must still be valid for that user with that
role, so revoking the token (or disabling the user, or changing their role) ends its links too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from skynet.accounts.credentials import authenticate_token_hash
from skynet.accounts.errors import AuthError
from skynet.accounts.model import User, UserStore

Media = Literal["thumbnail", "context"]
MEDIA_NAMES: dict[Media, str] = {"thumbnail": "thumbnail", "context": "context frame"}
MEDIA_LINK_TTL_S = 600.0
"""How long a media link opens its file: long enough to look at a page of results, short enough that a
link copied out of a browser or a log is soon useless."""
KEY_PURPOSE = "media links"
NEW_LINK_HINT = "links to media expire: run the search (or list the alerts) again for new ones"

Linker = Callable[[int, Media], str]
"""The link to a sighting's media for one user and context: ``link(sighting_id, media)``."""


@dataclass(frozen=True, slots=True)
class MediaLink:
    """The query of a media link: for whom (``by``, ``token``), in what ``context``, until when, its signature."""

    by: str
    token: int
    context: str
    expires: int
    sig: str


class MediaLinks:
    """Makes and checks media links with ``key``; the tokens they name are checked in ``users``."""

    def __init__(
        self, key: bytes, users: UserStore, clock: Callable[[], float], ttl_s: float = MEDIA_LINK_TTL_S
    ) -> None:
        self._key = key
        self.users = users
        self.clock = clock
        self.ttl_s = ttl_s

    def linker(self, user: User, context: str) -> Linker:
        """Links for ``user`` (authenticated with ``user.token``) in ``context``, all expiring together."""
        expires = math.ceil(self.clock() + self.ttl_s)
        token = int(user.token.id or 0) if user.token else 0
        signing = self._signing(user.name, token, context, expires, user.role.value)
        query = urlencode({"by": user.name, "tid": token, "for": context, "expires": expires})

        def link(sighting_id: int, media: Media) -> str:
            return f"/api/sightings/{sighting_id}/{media}?{query}&sig={_signature(signing, sighting_id, media)}"

        return link

    def check(self, sighting_id: int, media: Media, link: MediaLink) -> User:
        """The user (with the token) ``link`` was made for, if it is genuine, unexpired, and its token still
        valid for that user with the same role; else :class:`AuthError` saying which. Reads the store."""
        if self.clock() >= link.expires:
            raise AuthError("this media link has expired", NEW_LINK_HINT)
        found = [t for t in self.users.tokens(link.by) if t.id == link.token]
        user = authenticate_token_hash(self.users, found[0].token_hash, self.clock()) if found else None
        signing = self._signing(link.by, link.token, link.context, link.expires, user.role.value if user else "")
        if user is None or not hmac.compare_digest(link.sig, _signature(signing, sighting_id, media)):
            raise AuthError("invalid media link, or its token was revoked", NEW_LINK_HINT)
        return user

    def _signing(self, by: str, token: int, context: str, expires: int, role: str) -> hmac.HMAC:
        """The HMAC over what all links of one user, token, role, context and expiry share (copied per link)."""
        return hmac.new(
            self._key, "\n".join((by, str(token), context, str(expires), role, "")).encode(), hashlib.sha256
        )


def _signature(signing: hmac.HMAC, sighting_id: int, media: Media) -> str:
    mac = signing.copy()
    mac.update(f"{sighting_id}\n{media}".encode())
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")
