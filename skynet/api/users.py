"""Accounts and API tokens over HTTP (admins only): every change is audited with its reason, tokens are
shown once and stored hashed, and the last active admin cannot be removed."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi import Path as PathParam

from skynet.accounts import changes
from skynet.accounts.model import ApiToken, Permission, User
from skynet.api.schemas import (
    ErrorBody,
    IssuedToken,
    Reason,
    TokenCreate,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from skynet.api.services import Services

Name = Annotated[str, PathParam(min_length=1, max_length=200, description="The user name.")]
TokenId = Annotated[int, PathParam(ge=1, le=2**62)]


def router(services: Services) -> APIRouter:
    api = APIRouter(tags=["users"], responses={c: {"model": ErrorBody} for c in (401, 403, 404, 409, 422)})
    admin = services.auth.require(Permission.MANAGE_USERS)
    users = services.catalog.store.users
    Admin = Annotated[User, Depends(admin)]

    def out(user: User) -> UserOut:
        return UserOut.of(user, users.tokens(user.name))

    def issued(user: User, token: str, record: ApiToken) -> IssuedToken:
        return IssuedToken(
            token=token,
            token_id=int(record.id or 0),
            expires_at=record.expires_at,
            user=user.name,
            role=user.role.value,
        )

    def audited(by: User, action: str, reason: str, detail: dict[str, Any], change: Callable[[], Any]) -> Any:
        """Run ``change``, then audit it; refused changes are not audited."""
        result = change()
        services.auth.recent.clear()  # a role, a disabled user or a revoked token counts from the next request
        services.audit(by, action, reason, detail)
        return result

    @api.get("/api/users", response_model=list[UserOut])
    def list_users(by: Admin) -> list[UserOut]:
        """Every account with its role, state and tokens (never a token or password hash)."""
        return [out(u) for u in users.users()]

    @api.get("/api/users/{name}", response_model=UserOut)
    def get_user(name: Name, by: Admin) -> UserOut:
        """One account."""
        return out(changes.existing_user(users, name))

    @api.post("/api/users", response_model=UserCreated, status_code=status.HTTP_201_CREATED)
    def create_user(body: UserCreate, by: Admin) -> UserCreated:
        """Create an account with a role and its first API token (shown once, in this answer only)."""
        user, token, record = audited(
            by,
            "user.create",
            body.reason,
            {"user": body.name, "role": body.role.value, "password": body.password is not None},
            lambda: changes.create_user(
                users, body.name, body.role, services.clock(), body.password, body.token_days * 86400, "api"
            ),
        )
        return UserCreated(user=out(user), token=issued(user, token, record))

    @api.patch("/api/users/{name}", response_model=UserOut)
    def update_user(name: Name, body: UserUpdate, by: Admin) -> UserOut:
        """Change a role, or disable (revoking the user's tokens) or re-enable an account."""
        asked = body.model_dump(exclude={"reason"}, exclude_none=True, mode="json")
        user = audited(
            by,
            "user.update",
            body.reason,
            {"user": name, **asked},
            lambda: changes.change_user(users, name, role=body.role, disabled=body.disabled),
        )
        return out(user)

    @api.delete("/api/users/{name}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_user(name: Name, reason: Annotated[Reason, Query()], by: Admin) -> Response:
        """Delete an account and revoke its tokens (its audit history stays)."""
        audited(by, "user.delete", reason, {"user": name}, lambda: changes.delete_user(users, name))
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.post("/api/users/{name}/tokens", response_model=IssuedToken, status_code=status.HTTP_201_CREATED)
    def create_token(name: Name, body: TokenCreate, by: Admin) -> IssuedToken:
        """A new API token for an account (shown once, in this answer only)."""
        user, token, record = changes.issue_user_token(users, name, services.clock(), body.days * 86400, body.label)
        services.audit(
            by,
            "token.issue",
            body.reason,
            {"user": name, "token_id": record.id, "label": body.label, "expires_at": record.expires_at},
        )
        return issued(user, token, record)

    @api.delete("/api/users/{name}/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
    def revoke_token(name: Name, token_id: TokenId, reason: Annotated[Reason, Query()], by: Admin) -> Response:
        """Revoke one of an account's tokens."""
        audited(
            by,
            "token.revoke",
            reason,
            {"user": name, "token_id": token_id},
            lambda: changes.revoke_user_token(users, name, token_id),
        )
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return api
