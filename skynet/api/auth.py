"""The FastAPI dependencies that enforce accounts (:mod:`skynet.accounts`) on every request.

No anonymous access: every route depends on :meth:`Auth.require` (or :meth:`Auth.require_live` for
WebSockets), which reads ``Authorization: Bearer <token>`` and raises :class:`AuthError` for a missing,
unknown or expired token and :class:`ForbiddenError` naming the missing permission: 401 and 403 once
:mod:`skynet.api.errors` answers them.
"""

# No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations at run time.

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query, WebSocket, WebSocketException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from skynet.accounts.credentials import authenticate_token, check_permission, hash_token
from skynet.accounts.errors import AuthError
from skynet.accounts.model import Permission, User, UserStore
from skynet.accounts.throttle import LoginThrottle
from skynet.errors import ForbiddenError

RECHECK_TOKEN_S = 2.0
"""How long a checked token is trusted without a store lookup. Changes made through this server
(logout, users and tokens over the API) take effect at once; changes by another process (the
``skynet users`` CLI) within this time."""


class RecentTokens:
    """Tokens checked in the last :data:`RECHECK_TOKEN_S`, so a busy client's requests do not each
    look its token and user up (two store reads and a thread hand-off per request). Keyed by the
    token's SHA-256; bounded; :meth:`clear` after any change to users or tokens."""

    MAX_TOKENS = 10_000

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._checked: dict[str, tuple[User, float]] = {}

    def get(self, token: str) -> User | None:
        """The user of ``token`` if it was checked recently."""
        found = self._checked.get(hash_token(token))
        if found is None or not 0.0 <= self.clock() - found[1] < RECHECK_TOKEN_S:
            return None
        return found[0]

    def put(self, token: str, user: User) -> None:
        """Remember that ``token`` authenticated ``user`` now."""
        if len(self._checked) >= self.MAX_TOKENS:
            self._checked.clear()
        self._checked[hash_token(token)] = (user, self.clock())

    def clear(self) -> None:
        """Forget every token: the next request of each is checked against the store."""
        self._checked.clear()


_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="opaque API token",
    description="An API token from `skynet users token` or `POST /api/auth/token`.",
)


class Auth:
    """FastAPI dependencies bound to one :class:`UserStore`.

    ``Depends(auth.require(Permission.SEARCH))`` on a route returns the current :class:`User`.
    ``login_throttle`` limits password guesses on ``POST /api/login``.
    """

    def __init__(
        self, store: UserStore, clock: Callable[[], float] = time.time, login_throttle: LoginThrottle | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.login_throttle = LoginThrottle() if login_throttle is None else login_throttle
        self.recent = RecentTokens(clock)

    async def current_user(self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
        """The authenticated user, or 401 with the reason. A token checked in the last
        :data:`RECHECK_TOKEN_S` is not looked up again (see :class:`RecentTokens`)."""
        if credentials is not None and (user := self.recent.get(credentials.credentials)) is not None:
            return user
        user, token = await run_in_threadpool(self._looked_up, credentials)
        self.recent.put(token, user)
        return user

    def revoke_current(self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
        """A dependency that authenticates the request, then revokes its token (logging out)."""
        user, token = self._looked_up(credentials)
        self.store.revoke_token(hash_token(token))
        self.recent.clear()
        return user

    def _looked_up(self, credentials: HTTPAuthorizationCredentials | None) -> tuple[User, str]:
        """(user, token) of the request's token, looked up in the store; :class:`AuthError` (401) says why not."""
        if credentials is None:
            raise AuthError("missing API token: send the header 'Authorization: Bearer <token>'")
        return authenticate_token(self.store, credentials.credentials, self.clock()), credentials.credentials

    def require(self, permission: Permission) -> Callable[[User], User]:
        """A dependency giving the current user if their role has ``permission``, else 403 (a
        coroutine: checking a role needs no thread of its own)."""

        async def dependency(user: Annotated[User, Depends(self.current_user)]) -> User:
            check_permission(user, permission)
            return user

        return dependency

    def require_live(self, permission: Permission) -> Callable[..., User]:
        """The WebSocket form of :meth:`require`: the token comes from the ``Authorization`` header
        or, for browsers (which cannot set headers on WebSockets), the ``access_token`` query
        parameter. Failures close the handshake with code 1008 and the reason."""

        def dependency(
            websocket: WebSocket,
            access_token: Annotated[str | None, Query(description="API token, for browser clients")] = None,
        ) -> User:
            scheme, _, header_token = websocket.headers.get("authorization", "").partition(" ")
            token = header_token.strip() if scheme.lower() == "bearer" else access_token
            try:
                if not token:
                    raise AuthError("missing API token: send 'Authorization: Bearer <token>' or ?access_token=")
                user = authenticate_token(self.store, token, self.clock())
                check_permission(user, permission)
            except (AuthError, ForbiddenError) as error:
                raise WebSocketException(status.WS_1008_POLICY_VIOLATION, reason=error.message) from None
            return user

        return dependency
