"""Accounts: users, their roles and permissions, API tokens, and the rule of who may do what."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from skynet.accounts.errors import UserExistsError


class Role(StrEnum):
    ADMIN = "admin"
    INVESTIGATOR = "investigator"
    OPERATOR = "operator"
    FEED = "feed"  # a checkpoint or registration system pushing records: nothing else


class Permission(StrEnum):
    SEARCH = "search"  # face/plate search, trajectories, exports
    MANAGE_WATCHLISTS = "manage_watchlists"
    HANDLE_ALERTS = "handle_alerts"  # live stream, alert list, acknowledging
    VIEW_CAMERAS = "view_cameras"  # camera list, status, snapshots, previews
    MANAGE_CAMERAS = "manage_cameras"
    DIAGNOSE_CAMERAS = "diagnose_cameras"  # why a camera cannot be read (what answered): admins only
    START_JOBS = "start_jobs"
    DELETE_EVIDENCE = "delete_evidence"  # jobs that delete sightings and alerts (a forced re-index): admins only
    READ_AUDIT = "read_audit"
    MANAGE_USERS = "manage_users"
    PUSH_FEEDS = "push_feeds"  # checkpoint plate reads and registrations, pushed over the API
    IMPORT_FEEDS = "import_feeds"  # feed files on the server imported by a job
    REVEAL_IDENTITIES = "reveal_identities"  # identity keys shown in full (each time audited): admins only
    RELEASE_EVIDENCE = "release_evidence"  # evidence holds listed and released (each release audited): admins only
    MANAGE_IDENTITIES = "manage_identities"  # merge and split unknown-face identities
    # The investigative analyses: no role but the admin's has them; an admin grants each to a user.
    ANALYZE_CLONED_PLATES = "analyze_cloned_plates"
    ANALYZE_COMPANIONS = "analyze_companions"
    ANALYZE_INTERSECTIONS = "analyze_intersections"
    ANALYZE_PATTERNS = "analyze_patterns"  # first seen in an area, unusual hours


GRANTABLE: frozenset[Permission] = frozenset(
    {
        Permission.ANALYZE_CLONED_PLATES,
        Permission.ANALYZE_COMPANIONS,
        Permission.ANALYZE_INTERSECTIONS,
        Permission.ANALYZE_PATTERNS,
    }
)
"""Permissions an admin grants to one user beyond their role's (:attr:`User.grants`)."""


PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(Permission),
        Role.INVESTIGATOR: frozenset(
            {
                Permission.SEARCH,
                Permission.MANAGE_WATCHLISTS,
                Permission.MANAGE_IDENTITIES,
                Permission.HANDLE_ALERTS,
                Permission.VIEW_CAMERAS,
            }
        ),
        Role.OPERATOR: frozenset(
            {
                Permission.HANDLE_ALERTS,
                Permission.VIEW_CAMERAS,
                Permission.MANAGE_CAMERAS,
                Permission.START_JOBS,
                Permission.IMPORT_FEEDS,
            }
        ),
        Role.FEED: frozenset({Permission.PUSH_FEEDS}),
    }
)
"""Who may do what; the only place roles are interpreted."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as stored: only its hash, whose it is, when it expires (None: never), and who minted it
    (the user themselves when logging in, an admin, or a program such as ``cli``; None: not recorded)."""

    token_hash: str = field(repr=False)
    user_name: str
    created_at: float
    expires_at: float | None
    label: str = ""
    id: int | None = None
    minted_by: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    """An account. ``name`` is unique; ``password_hash`` is None for token-only accounts; ``grants`` are the
    permissions an admin gave this user beyond their role's (only :data:`GRANTABLE` ones). ``token`` is the
    API token a request was authenticated with (None for an account as stored): what the audit log names
    beside the user, and what ends the request's streams when it is revoked."""

    name: str
    role: Role
    created_at: float
    password_hash: str | None = field(default=None, repr=False)
    disabled: bool = False
    id: int | None = None
    grants: frozenset[Permission] = frozenset()
    token: ApiToken | None = field(default=None, repr=False, compare=False)

    @property
    def permissions(self) -> frozenset[Permission]:
        """What this user may do: their role's permissions and their grants."""
        return PERMISSIONS[self.role] | self.grants

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


class UserStore(Protocol):
    """Where users and tokens live (SQLite in the service, :class:`MemoryUserStore` in tests)."""

    def get_user(self, name: str) -> User | None: ...

    def users(self) -> list[User]:
        """Every account, oldest first."""
        ...

    def add_user(self, user: User) -> User:
        """Stores a new user and returns it with its ``id``; :class:`UserExistsError` if the name is taken."""
        ...

    def update_user(self, user: User) -> bool:
        """Stores the role, password hash, disabled flag and grants of ``user.name``; ``False`` if there is none."""
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
            raise UserExistsError(f"user {user.name!r} already exists")
        stored = replace(user, id=len(self._users) + 1)
        self._users[user.name] = stored
        return stored

    def users(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.id or 0)

    def update_user(self, user: User) -> bool:
        old = self._users.get(user.name)
        if old is None:
            return False
        self._users[user.name] = replace(
            old, role=user.role, password_hash=user.password_hash, disabled=user.disabled, grants=user.grants
        )
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
