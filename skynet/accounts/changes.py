"""Account changes shared by ``skynet users`` and ``/api/users``: create, change role, disable, delete,
issue and revoke tokens, never leaving the server without an active admin."""

from __future__ import annotations

import threading
from dataclasses import replace

from skynet.accounts.credentials import DEFAULT_TOKEN_TTL_S, hash_password, issue_token
from skynet.accounts.errors import (
    LastAdminError,
    NotGrantableError,
    UnknownTokenError,
    UnknownUserError,
    UserDisabledError,
    UserExistsError,
)
from skynet.accounts.model import GRANTABLE, ApiToken, Permission, Role, User, UserStore

_changes = threading.Lock()  # one account change at a time, so two can't both remove "the other" last admin


def existing_user(store: UserStore, name: str) -> User:
    """The account ``name``; :class:`UnknownUserError` if there is none."""
    user = store.get_user(name)
    if user is None:
        raise UnknownUserError(f"no user {name!r}", "list the accounts with 'skynet users list' or GET /api/users")
    return user


def create_user(
    store: UserStore,
    name: str,
    role: Role,
    now: float,
    password: str | None = None,
    ttl_s: float | None = DEFAULT_TOKEN_TTL_S,
    label: str = "",
) -> tuple[User, str, ApiToken]:
    """A new account (with a password for logging in when given) and its first token: (user, plaintext
    token shown once, token record)."""
    password_hash = None if password is None else hash_password(password)
    with _changes:
        if store.get_user(name) is not None:
            raise UserExistsError(f"user {name!r} already exists", "pick another name, or change that user")
        user = store.add_user(User(name, role, now, password_hash))
    token, record = issue_token(store, user, now, ttl_s, label)
    return user, token, record


def issue_user_token(
    store: UserStore, name: str, now: float, ttl_s: float | None = DEFAULT_TOKEN_TTL_S, label: str = ""
) -> tuple[User, str, ApiToken]:
    """A new token for the active account ``name``: (user, plaintext shown once, token record)."""
    user = existing_user(store, name)
    if user.disabled:
        raise UserDisabledError(f"user {name!r} is disabled", "enable the account first")
    token, record = issue_token(store, user, now, ttl_s, label)
    return user, token, record


def change_user(
    store: UserStore,
    name: str,
    *,
    role: Role | None = None,
    disabled: bool | None = None,
    grants: frozenset[Permission] | None = None,
) -> User:
    """Set ``name``'s role, disabled flag and/or granted permissions; disabling revokes their tokens.
    :class:`LastAdminError` when that would leave no active admin; :class:`NotGrantableError` for a
    permission that is not :data:`GRANTABLE`."""
    if grants is not None and (not_grantable := sorted(grants - GRANTABLE)):
        raise NotGrantableError(
            f"not a grantable permission: {', '.join(not_grantable)}",
            f"grantable: {', '.join(sorted(GRANTABLE))}",
        )
    with _changes:
        user = existing_user(store, name)
        changed = replace(
            user,
            role=user.role if role is None else role,
            disabled=user.disabled if disabled is None else disabled,
            grants=user.grants if grants is None else grants,
        )
        if _active_admin(user) and not _active_admin(changed):
            _keep_an_admin(store, name, "demoted" if changed.role is not Role.ADMIN else "disabled")
        store.update_user(changed)
        if changed.disabled:
            _revoke_all(store, name)
    return changed


def delete_user(store: UserStore, name: str) -> int:
    """Delete ``name`` and their tokens (returns how many tokens); :class:`LastAdminError` for the last
    active admin."""
    with _changes:
        user = existing_user(store, name)
        if _active_admin(user):
            _keep_an_admin(store, name, "deleted")
        tokens = len(store.tokens(name))
        store.delete_user(name)
    return tokens


def revoke_user_token(store: UserStore, name: str, token_id: int) -> None:
    """Revoke ``name``'s token with id ``token_id``; :class:`UnknownTokenError` if they have none."""
    existing_user(store, name)
    found = [t for t in store.tokens(name) if t.id == token_id]
    if not found or not store.revoke_token(found[0].token_hash):
        raise UnknownTokenError(f"user {name!r} has no token with id {token_id}")


def _active_admin(user: User) -> bool:
    return user.role is Role.ADMIN and not user.disabled


def _keep_an_admin(store: UserStore, name: str, change: str) -> None:
    if not any(_active_admin(u) for u in store.users() if u.name != name):
        raise LastAdminError(
            f"user {name!r} is the last active admin and cannot be {change}", "make another user admin first"
        )


def _revoke_all(store: UserStore, name: str) -> None:
    for token in store.tokens(name):
        store.revoke_token(token.token_hash)
