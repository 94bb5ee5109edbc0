"""Authentication of every request against the accounts (:mod:`skynet.accounts`).

No anonymous access: every route depends on :func:`skynet.api.deps.require` (or ``require_stream`` for
the streams), which asks the system's :class:`Auth`: it reads ``Authorization: Bearer <token>`` and raises
:class:`AuthError` for a missing, unknown or expired token and :class:`ForbiddenError` naming the missing
permission: 401 and 403 once :mod:`skynet.api.errors` answers them. Invalid tokens (and stream tickets) are
counted per client address: past the limit that address gets 429 (:class:`TokenThrottle`). Every refusal
is audited (:mod:`skynet.api.refusals`), a token by its fingerprint, never itself.
"""

import time
from collections.abc import Awaitable, Callable

from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from skynet.accounts.credentials import authenticate_token, authenticate_token_hash, check_permission, hash_token
from skynet.accounts.errors import AuthError
from skynet.accounts.model import Permission, User, UserStore
from skynet.accounts.throttle import LoginThrottle, TokensThrottled, TokenThrottle
from skynet.api.refusals import ANONYMOUS, RefusalAudit
from skynet.api.tickets import StreamTickets
from skynet.errors import ForbiddenError
from skynet.records import AuditEvent

RECHECK_TOKEN_S = 2.0
"""How long a checked token is trusted without a store lookup. Changes made through this server
(logout, users and tokens over the API) take effect at once; changes by another process (the
``skynet users`` CLI) within this time."""

MISSING_TOKEN = "missing API token: send the header 'Authorization: Bearer <token>'"


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


bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="opaque API token",
    description="An API token from `skynet users token` or `POST /api/login`.",
)


def client_address(connection: HTTPConnection) -> str:
    """The client's address: the peer's, or the one a trusted proxy forwarded (``SKYNET_TRUSTED_PROXIES``)."""
    return connection.client.host if connection.client else "unknown"


def bearer_token(connection: HTTPConnection) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def fingerprint(secret: str) -> str:
    """A short name of a credential for the audit log: the first 8 hex digits of its SHA-256 (the
    stored form of a token starts with them), which say nothing usable about the credential."""
    return hash_token(secret)[:8]


def _route(connection: HTTPConnection) -> str:
    """``METHOD /path/{param}`` of the route asked for (the path itself before routing)."""
    route = connection.scope.get("route")
    method = connection.scope.get("method", "WEBSOCKET")
    return f"{method} {getattr(route, 'path', connection.url.path)}"


class Auth:
    """Authentication against one :class:`UserStore` (the running system holds one).

    ``login_throttle`` limits password guesses on ``POST /api/login``, ``token_throttle`` invalid tokens
    and tickets per client address; ``audit`` (the store's ``append_audit``) receives the refusals;
    ``tickets`` are the stream tickets issued.
    """

    def __init__(
        self,
        store: UserStore,
        clock: Callable[[], float] = time.time,
        login_throttle: LoginThrottle | None = None,
        token_throttle: TokenThrottle | None = None,
        audit: Callable[[AuditEvent], object] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.login_throttle = LoginThrottle() if login_throttle is None else login_throttle
        self.token_throttle = TokenThrottle() if token_throttle is None else token_throttle
        self.recent = RecentTokens(clock)
        self.refusals = RefusalAudit(audit, clock)
        self.tickets = StreamTickets(clock)

    async def authenticate(self, connection: HTTPConnection, token: str | None) -> User:
        """The active user owning ``token``. A token checked in the last :data:`RECHECK_TOKEN_S` is
        not looked up again (see :class:`RecentTokens`)."""
        if not token:
            raise AuthError(MISSING_TOKEN)
        if (user := self.recent.get(token)) is not None:
            return user
        user = await self._verified(
            connection, token, lambda: run_in_threadpool(authenticate_token, self.store, token, self.clock())
        )
        self.recent.put(token, user)
        return user

    async def revoke(self, token: str) -> None:
        """Revoke ``token`` (logging out): refused from the next request on."""
        await run_in_threadpool(self.store.revoke_token, hash_token(token))
        self.recent.clear()

    async def stream_user(self, connection: HTTPConnection, ticket: str | None) -> User:
        """The user of a stream: by the ``Authorization`` header's token, else by ``ticket``."""
        token = bearer_token(connection)
        if token is not None:
            return await self.authenticate(connection, token)
        if ticket is None:
            raise AuthError(f"{MISSING_TOKEN}, or a ticket from POST /api/stream-tickets as ?ticket=")

        def redeemed() -> User:
            grant = self.tickets.redeem(ticket, connection.url.path)
            return authenticate_token_hash(self.store, grant.token_hash, self.clock())

        return await self._verified(connection, ticket, lambda: run_in_threadpool(redeemed))

    async def _verified(self, connection: HTTPConnection, secret: str, check: Callable[[], Awaitable[User]]) -> User:
        """The user ``check`` finds for the credential ``secret``, unless its client is throttled (429);
        a refused credential is counted against its client and audited with its fingerprint."""
        client = client_address(connection)
        try:
            self.token_throttle.check(client)
        except TokensThrottled as error:
            more = {"route": _route(connection), "retry_after_s": error.retry_after_s}
            await self.refusals.record(ANONYMOUS, "auth.throttled", {"client": client}, more)
            raise
        try:
            return await check()
        except AuthError as error:
            self.token_throttle.failed(client)
            more = {"route": _route(connection), "fingerprint": fingerprint(secret), "error": error.message}
            await self.refusals.record(ANONYMOUS, "auth.bad_token", {"client": client}, more)
            raise

    async def permitted(self, connection: HTTPConnection, user: User, permission: Permission) -> None:
        """Nothing if ``user``'s role has ``permission``; else :class:`ForbiddenError`, the refusal audited."""
        try:
            check_permission(user, permission)
        except ForbiddenError:
            key = {"permission": permission.value, "route": _route(connection)}
            more = {"path": connection.url.path, "client": client_address(connection)}
            await self.refusals.record(user.name, "auth.forbidden", key, more)
            raise
