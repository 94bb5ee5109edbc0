"""Users and their API tokens (hashed): :class:`skynet.accounts.model.UserStore` in SQL."""

from __future__ import annotations

import json
from dataclasses import replace

from skynet.accounts.errors import UserExistsError
from skynet.accounts.model import ApiToken, Permission, Role, User
from skynet.store.database import Database

_USER = "SELECT name, role, created_at, password_hash, disabled, id, grants FROM users"
_TOKEN = "SELECT token_hash, user_name, created_at, expires_at, label, id FROM api_tokens"


class UserRepository:
    """The ``users`` and ``api_tokens`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_user(self, name: str) -> User | None:
        row = self.db.execute(f"{_USER} WHERE name = ?", (name,)).fetchone()
        return _user(row) if row else None

    def users(self) -> list[User]:
        """Every account, oldest first."""
        return [_user(r) for r in self.db.execute(f"{_USER} ORDER BY id")]

    def add_user(self, user: User) -> User:
        if self.get_user(user.name) is not None:
            raise UserExistsError(f"user {user.name!r} already exists")
        with self.db.write("adding a user"):
            user_id = self.db.insert_returning_id(
                "INSERT INTO users (name, role, created_at, password_hash, disabled, grants) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    user.name,
                    Role(user.role).value,
                    user.created_at,
                    user.password_hash,
                    bool(user.disabled),
                    _grants(user.grants),
                ),
            )
        return replace(user, id=user_id)

    def update_user(self, user: User) -> bool:
        """Store the role, password hash, disabled flag and grants of user ``user.name``; ``False`` if there is none."""
        with self.db.write("updating a user"):
            cursor = self.db.execute(
                "UPDATE users SET role = ?, password_hash = ?, disabled = ?, grants = ? WHERE name = ?",
                (Role(user.role).value, user.password_hash, bool(user.disabled), _grants(user.grants), user.name),
            )
            return cursor.rowcount > 0

    def delete_user(self, name: str) -> bool:
        """Delete user ``name`` and their API tokens; ``False`` if there is no such user."""
        with self.db.write("deleting a user"):
            self.db.execute("DELETE FROM api_tokens WHERE user_name = ?", (name,))
            return self.db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

    def find_token(self, token_hash: str) -> ApiToken | None:
        row = self.db.execute(f"{_TOKEN} WHERE token_hash = ?", (token_hash,)).fetchone()
        return ApiToken(*row) if row else None

    def tokens(self, user_name: str) -> list[ApiToken]:
        """The tokens of ``user_name``, oldest first."""
        return [ApiToken(*r) for r in self.db.execute(f"{_TOKEN} WHERE user_name = ? ORDER BY id", (user_name,))]

    def add_token(self, token: ApiToken) -> ApiToken:
        with self.db.write("adding an API token"):
            token_id = self.db.insert_returning_id(
                "INSERT INTO api_tokens (token_hash, user_name, created_at, expires_at, label) VALUES (?, ?, ?, ?, ?)",
                (token.token_hash, token.user_name, token.created_at, token.expires_at, token.label),
            )
        return replace(token, id=token_id)

    def revoke_token(self, token_hash: str) -> bool:
        """Delete a token; ``False`` if no token has that hash."""
        with self.db.write("revoking an API token"):
            return self.db.execute("DELETE FROM api_tokens WHERE token_hash = ?", (token_hash,)).rowcount > 0


def _user(row: tuple) -> User:
    return User(
        row[0], Role(row[1]), row[2], row[3], bool(row[4]), row[5], frozenset(map(Permission, json.loads(row[6])))
    )


def _grants(grants: frozenset[Permission]) -> str:
    return json.dumps(sorted(p.value for p in grants))
