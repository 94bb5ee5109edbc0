"""Accounts and API tokens over HTTP (admins only), as :mod:`skynet.services.users` keeps them: every
change is audited with its reason, tokens are shown once and stored hashed, and the last active admin
cannot be removed."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi import Path as PathParam

from skynet.accounts.model import Permission, User
from skynet.api.account_schemas import IssuedToken, TokenCreate, UserCreate, UserCreated, UserOut, UserUpdate
from skynet.api.deps import require, user_service
from skynet.api.schemas import ErrorBody, Reason
from skynet.services.users import UserService

Name = Annotated[str, PathParam(min_length=1, max_length=200, description="The user name.")]
TokenId = Annotated[int, PathParam(ge=1, le=2**62)]
Admin = Annotated[User, Depends(require(Permission.MANAGE_USERS))]
Users = Annotated[UserService, Depends(user_service)]

router = APIRouter(tags=["users"], responses={c: {"model": ErrorBody} for c in (401, 403, 404, 409, 422)})


@router.get("/api/users", response_model=list[UserOut])
def list_users(by: Admin, users: Users) -> list[UserOut]:
    """Every account with its role, state and tokens (never a token or password hash)."""
    return [UserOut.of(a) for a in users.accounts()]


@router.get("/api/users/{name}", response_model=UserOut)
def get_user(name: Name, by: Admin, users: Users) -> UserOut:
    """One account."""
    return UserOut.of(users.account(name))


@router.post("/api/users", response_model=UserCreated, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, by: Admin, users: Users) -> UserCreated:
    """Create an account with a role and its first API token (shown once, in this answer only)."""
    issued = users.create(by, body.name, body.role, body.reason, body.password, body.token_days * 86400, "api")
    return UserCreated(user=UserOut.of(users.account(issued.user.name)), token=IssuedToken.of(issued))


@router.patch("/api/users/{name}", response_model=UserOut)
def update_user(name: Name, body: UserUpdate, by: Admin, users: Users) -> UserOut:
    """Change a role, disable (revoking the user's tokens) or re-enable an account, or set the analyses
    granted beyond the role."""
    grants = None if body.grants is None else frozenset(body.grants)
    return UserOut.of(users.change(by, name, body.reason, role=body.role, disabled=body.disabled, grants=grants))


@router.delete("/api/users/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(name: Name, reason: Annotated[Reason, Query()], by: Admin, users: Users) -> Response:
    """Delete an account and revoke its tokens (its audit history stays)."""
    users.delete(by, name, reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/users/{name}/tokens", response_model=IssuedToken, status_code=status.HTTP_201_CREATED)
def create_token(name: Name, body: TokenCreate, by: Admin, users: Users) -> IssuedToken:
    """A new API token for an account (shown once, in this answer only)."""
    return IssuedToken.of(users.issue_token(by, name, body.reason, body.days * 86400, body.label))


@router.delete("/api/users/{name}/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    name: Name, token_id: TokenId, reason: Annotated[Reason, Query()], by: Admin, users: Users
) -> Response:
    """Revoke one of an account's tokens."""
    users.revoke_token(by, name, token_id, reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
