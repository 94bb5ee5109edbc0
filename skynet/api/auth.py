"""Users, roles, API tokens, and the FastAPI dependencies that enforce them.

No anonymous access: every route depends on :meth:`Auth.require` (or :meth:`Auth.require_live` for
WebSockets), which reads ``Authorization: Bearer <token>`` and answers 401 for a missing, unknown or
expired token and 403 naming the missing permission.

API tokens are 256-bit random strings, so they are stored as their SHA-256 (a slow, salted hash adds
nothing against guessing 2^256 values and would cost tens of milliseconds on every request); the
store looks a token up by that hash. Passwords are low-entropy, so they get scrypt with a per-password
salt, compared in constant time. Tokens are found by their hash, so lookup timing reveals nothing
about a token.
"""

# No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations at run time.

import base64
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Query, WebSocket, WebSocketException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from skynet.api.ratelimit import LoginThrottle
from skynet.errors import SkynetError


class Role(StrEnum):
    ADMIN = "admin"
    INVESTIGATOR = "investigator"
    OPERATOR = "operator"


class Permission(StrEnum):
    SEARCH = "search"  # face/plate search, trajectories, exports
    MANAGE_WATCHLISTS = "manage_watchlists"
    HANDLE_ALERTS = "handle_alerts"  # live stream, alert list, acknowledging
    VIEW_CAMERAS = "view_cameras"  # camera list, status, snapshots, previews
    MANAGE_CAMERAS = "manage_cameras"
    START_JOBS = "start_jobs"
    READ_AUDIT = "read_audit"
    MANAGE_USERS = "manage_users"


PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(Permission),
        Role.INVESTIGATOR: frozenset(
            {Permission.SEARCH, Permission.MANAGE_WATCHLISTS, Permission.HANDLE_ALERTS, Permission.VIEW_CAMERAS}
        ),
        Role.OPERATOR: frozenset(
            {Permission.HANDLE_ALERTS, Permission.VIEW_CAMERAS, Permission.MANAGE_CAMERAS, Permission.START_JOBS}
        ),
    }
)
"""Who may do what; the only place roles are interpreted."""

TOKEN_PREFIX = "skynet_"
DEFAULT_TOKEN_TTL_S = 90 * 24 * 3600
MIN_PASSWORD_LENGTH = 12
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class AuthError(SkynetError):
    """A credential that is missing, wrong, expired or unacceptable."""


@dataclass(frozen=True, slots=True)
class User:
    """An account. ``name`` is unique; ``password_hash`` is None for token-only accounts."""

    name: str
    role: Role
    created_at: float
    password_hash: str | None = field(default=None, repr=False)
    disabled: bool = False
    id: int | None = None

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as stored: only its hash, whose it is, and when it expires (None: never)."""

    token_hash: str = field(repr=False)
    user_name: str
    created_at: float
    expires_at: float | None
    label: str = ""
    id: int | None = None


class UserStore(Protocol):
    """Where users and tokens live (SQLite in the service, :class:`MemoryUserStore` in tests)."""

    def get_user(self, name: str) -> User | None: ...

    def users(self) -> list[User]:
        """Every account, oldest first."""
        ...

    def add_user(self, user: User) -> User:
        """Stores a new user and returns it with its ``id``; :class:`AuthError` if the name is taken."""
        ...

    def update_user(self, user: User) -> bool:
        """Stores the role, password hash and disabled flag of ``user.name``; ``False`` if there is none."""
        ...

    def delete_user(self, name: str) -> bool:
        """Deletes a user and their tokens; ``False`` if there is none."""
        ...

    def find_token(self, token_hash: str) -> ApiToken | None: ...

    def tokens(self, user_name: str) -> list[ApiToken]:
        """A user's tokens, oldest first."""
        ...

    def add_token(self, token: ApiToken) -> ApiToken:
        """Stores a new token and returns it with its ``id``."""
        ...

    def revoke_token(self, token_hash: str) -> bool:
        """Deletes a token; ``False`` if no token has that hash."""
        ...


class MemoryUserStore:
    """A :class:`UserStore` in dictionaries."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._tokens: dict[str, ApiToken] = {}

    def get_user(self, name: str) -> User | None:
        return self._users.get(name)

    def add_user(self, user: User) -> User:
        if user.name in self._users:
            raise AuthError(f"user {user.name!r} already exists")
        stored = replace(user, id=len(self._users) + 1)
        self._users[user.name] = stored
        return stored

    def users(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.id or 0)

    def update_user(self, user: User) -> bool:
        old = self._users.get(user.name)
        if old is None:
            return False
        self._users[user.name] = replace(old, role=user.role, password_hash=user.password_hash, disabled=user.disabled)
        return True

    def delete_user(self, name: str) -> bool:
        for token in self.tokens(name):
            del self._tokens[token.token_hash]
        return self._users.pop(name, None) is not None

    def find_token(self, token_hash: str) -> ApiToken | None:
        return self._tokens.get(token_hash)

    def tokens(self, user_name: str) -> list[ApiToken]:
        return sorted((t for t in self._tokens.values() if t.user_name == user_name), key=lambda t: t.id or 0)

    def add_token(self, token: ApiToken) -> ApiToken:
        stored = replace(token, id=len(self._tokens) + 1)
        self._tokens[token.token_hash] = stored
        return stored

    def revoke_token(self, token_hash: str) -> bool:
        return self._tokens.pop(token_hash, None) is not None


# --- secrets ----------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """The stored form of an API token: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64) of ``password``, refusing short ones."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters are required")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)])


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (from :func:`hash_password`); False if malformed."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@functools.cache
def _unusable_hash() -> str:
    """A hash no password matches, checked when a user is unknown so that costs the same time."""
    return hash_password(secrets.token_urlsafe(32))


# --- issuing and checking credentials ---------------------------------------------------------


def issue_token(
    store: UserStore, user: User, now: float, ttl_s: float | None = DEFAULT_TOKEN_TTL_S, label: str = ""
) -> tuple[str, ApiToken]:
    """A new token for ``user``: the plaintext (shown once, never stored) and its stored record."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = None if ttl_s is None else now + ttl_s
    record = store.add_token(ApiToken(hash_token(plaintext), user.name, now, expires_at, label))
    return plaintext, record


def authenticate_token(store: UserStore, token: str, now: float) -> User:
    """The active user owning ``token``; :class:`AuthError` says why not.

    The store looks the token up by its SHA-256, so lookup timing says nothing about the token."""
    record = store.find_token(hash_token(token))
    if record is None:
        raise AuthError("invalid API token", "check the token, or ask an admin for a new one")
    if record.expires_at is not None and now >= record.expires_at:
        when = datetime.fromtimestamp(record.expires_at, UTC).isoformat(timespec="seconds")
        raise AuthError(f"API token expired at {when}", "ask an admin for a new token")
    return _active(store.get_user(record.user_name), record.user_name)


def authenticate_password(store: UserStore, name: str, password: str) -> User:
    """The active user ``name`` if ``password`` is theirs; the same error for unknown users and
    wrong passwords, after the same work, so neither reveals which accounts exist."""
    user = store.get_user(name)
    matches = verify_password(password, user.password_hash if user and user.password_hash else _unusable_hash())
    if user is None or user.password_hash is None or not matches:
        raise AuthError("wrong user name or password")
    return _active(user, name)


def _active(user: User | None, name: str) -> User:
    if user is None or user.disabled:
        raise AuthError(f"user {name!r} is disabled or no longer exists")
    return user


def check_permission(user: User, permission: Permission) -> None:
    """Raises :class:`AuthError` naming ``permission`` when ``user``'s role lacks it."""
    if not user.may(permission):
        raise AuthError(f"permission {permission.value!r} required; role {user.role.value!r} does not have it")


# --- FastAPI ----------------------------------------------------------------------------------

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
        """(user, token) of the request's token, looked up in the store, or 401 with the reason."""
        if credentials is None:
            raise _unauthorized("missing API token: send the header 'Authorization: Bearer <token>'")
        try:
            return authenticate_token(self.store, credentials.credentials, self.clock()), credentials.credentials
        except AuthError as error:
            raise _unauthorized(error_detail(error)) from None

    def require(self, permission: Permission) -> Callable[[User], User]:
        """A dependency giving the current user if their role has ``permission``, else 403 (a
        coroutine: checking a role needs no thread of its own)."""

        async def dependency(user: Annotated[User, Depends(self.current_user)]) -> User:
            try:
                check_permission(user, permission)
            except AuthError as error:
                raise HTTPException(status.HTTP_403_FORBIDDEN, detail=error_detail(error)) from None
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
            except AuthError as error:
                raise WebSocketException(status.WS_1008_POLICY_VIOLATION, reason=error.message) from None
            return user

        return dependency


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


def error_detail(error: AuthError) -> str:
    """An HTTP error detail: the message, then the hint."""
    return error.message if not error.hint else f"{error.message}; {error.hint}"
