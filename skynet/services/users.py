"""Account administration (``/api/users`` and ``skynet users``): accounts created, changed and deleted,
tokens issued and revoked (:mod:`skynet.accounts.changes`), every change audited with its reason. A
token is shown once, when issued; the last active admin cannot be removed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from skynet.accounts import changes
from skynet.accounts.credentials import DEFAULT_TOKEN_TTL_S
from skynet.accounts.model import ApiToken, Permission, Role, User, UserStore
from skynet.services.audit import Auditor

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Account:
    """A user and the records of their tokens (never a token itself)."""

    user: User
    tokens: list[ApiToken]


@dataclass(frozen=True, slots=True)
class Issued:
    """A token just issued: the plaintext (shown once) and its record."""

    user: User
    token: str
    record: ApiToken


class UserService:
    """The accounts of ``users``; changes are made by ``by`` (an admin, or a program's name such as
    ``cli``); ``on_change`` is called after each change of roles, accounts or tokens (the API forgets
    the tokens it trusted)."""

    def __init__(
        self,
        users: UserStore,
        auditor: Auditor,
        clock: Callable[[], float],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.users = users
        self.auditor = auditor
        self.clock = clock
        self.on_change = on_change

    def accounts(self) -> list[Account]:
        """Every account with its tokens, oldest first."""
        return [self._account(u) for u in self.users.users()]

    def account(self, name: str) -> Account:
        """Account ``name``; :class:`UnknownUserError` if there is none."""
        return self._account(changes.existing_user(self.users, name))

    def create(
        self,
        by: User | str,
        name: str,
        role: Role,
        reason: str | None,
        password: str | None = None,
        ttl_s: float | None = DEFAULT_TOKEN_TTL_S,
        label: str = "",
    ) -> Issued:
        """A new account (with a password for logging in when given) and its first token."""
        user, token, record = self._audited(
            by,
            "user.create",
            reason,
            {"user": name, "role": role.value, "password": password is not None},
            lambda: changes.create_user(self.users, name, role, self.clock(), password, ttl_s, label),
        )
        return Issued(user, token, record)

    def change(
        self,
        by: User | str,
        name: str,
        reason: str | None,
        role: Role | None = None,
        disabled: bool | None = None,
        grants: frozenset[Permission] | None = None,
    ) -> Account:
        """Change a role, disable (revoking the user's tokens) or re-enable an account, or set the
        permissions granted beyond the role (the analyses)."""
        asked = {
            k: v
            for k, v in (
                ("role", role.value if role else None),
                ("disabled", disabled),
                ("grants", None if grants is None else sorted(p.value for p in grants)),
            )
            if v is not None
        }
        user = self._audited(
            by,
            "user.update",
            reason,
            {"user": name, **asked},
            lambda: changes.change_user(self.users, name, role=role, disabled=disabled, grants=grants),
        )
        return self._account(user)

    def delete(self, by: User | str, name: str, reason: str | None) -> None:
        """Delete an account and revoke its tokens (its audit history stays)."""
        self._audited(by, "user.delete", reason, {"user": name}, lambda: changes.delete_user(self.users, name))

    def issue_token(
        self, by: User | str, name: str, reason: str | None, ttl_s: float | None = DEFAULT_TOKEN_TTL_S, label: str = ""
    ) -> Issued:
        """A new token for the active account ``name``."""
        reason = self._reason(reason)
        user, token, record = changes.issue_user_token(self.users, name, self.clock(), ttl_s, label)
        self.auditor.record(
            by,
            "token.issue",
            reason,
            {"user": name, "token_id": record.id, "label": label, "expires_at": record.expires_at},
        )
        return Issued(user, token, record)

    def revoke_token(self, by: User | str, name: str, token_id: int, reason: str | None) -> None:
        """Revoke one of an account's tokens."""
        self._audited(
            by,
            "token.revoke",
            reason,
            {"user": name, "token_id": token_id},
            lambda: changes.revoke_user_token(self.users, name, token_id),
        )

    def _reason(self, reason: str | None) -> str | None:
        """A reason given, checked by the reason rule (the command line gives none)."""
        return None if reason is None else self.auditor.reason(reason)

    def _account(self, user: User) -> Account:
        return Account(user, self.users.tokens(user.name))

    def _audited(
        self, by: User | str, action: str, reason: str | None, detail: dict[str, Any], change: Callable[[], T]
    ) -> T:
        """Check ``reason``, run ``change``, then audit it; refused changes are not audited."""
        reason = self._reason(reason)
        result = change()
        self.on_change()  # a role, a disabled user or a revoked token counts from the next request
        self.auditor.record(by, action, reason, detail)
        return result
