"""Secrets: hashing passwords and API tokens, issuing tokens, and checking credentials and permissions.

API tokens are 256-bit random strings, so they are stored as their SHA-256 (a slow, salted hash adds
nothing against guessing 2^256 values and would cost tens of milliseconds on every request); the
store looks a token up by that hash. Passwords are low-entropy, so they get scrypt with a per-password
salt, compared in constant time. Tokens are found by their hash, so lookup timing reveals nothing
about a token.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import replace
from datetime import UTC, datetime

from skynet.accounts.errors import AuthError, WeakPasswordError
from skynet.accounts.model import ApiToken, Permission, User, UserStore
from skynet.errors import ForbiddenError

TOKEN_PREFIX = "skynet_"
DEFAULT_TOKEN_TTL_S = 90 * 24 * 3600
MIN_PASSWORD_LENGTH = 12
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_token(token: str) -> str:
    """The stored form of an API token: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64) of ``password``, refusing short ones."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters are required")
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
    store: UserStore,
    user: User,
    now: float,
    ttl_s: float | None = DEFAULT_TOKEN_TTL_S,
    label: str = "",
    minted_by: str | None = None,
) -> tuple[str, ApiToken]:
    """A new token for ``user``, minted by ``minted_by`` (default: the user themselves): the plaintext
    (shown once, never stored) and its stored record."""
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = None if ttl_s is None else now + ttl_s
    record = ApiToken(hash_token(plaintext), user.name, now, expires_at, label, minted_by=minted_by or user.name)
    return plaintext, store.add_token(record)


def authenticate_token(store: UserStore, token: str, now: float) -> User:
    """The active user owning ``token``; :class:`AuthError` says why not.

    The store looks the token up by its SHA-256, so lookup timing says nothing about the token."""
    return authenticate_token_hash(store, hash_token(token), now)


def authenticate_token_hash(store: UserStore, token_hash: str, now: float) -> User:
    """The active user owning the token stored as ``token_hash``, with that token (``User.token``);
    :class:`AuthError` says why not."""
    record = store.find_token(token_hash)
    if record is None:
        raise AuthError("invalid API token", "check the token, or ask an admin for a new one")
    if record.expires_at is not None and now >= record.expires_at:
        when = datetime.fromtimestamp(record.expires_at, UTC).isoformat(timespec="seconds")
        raise AuthError(f"API token expired at {when}", "ask an admin for a new token")
    return replace(_active(store.get_user(record.user_name), record.user_name), token=record)


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
    """Raises :class:`ForbiddenError` naming ``permission`` when ``user``'s role lacks it."""
    if not user.may(permission):
        raise ForbiddenError(f"permission {permission.value!r} required; role {user.role.value!r} does not have it")
