"""Request and response bodies of logging in and of account administration (pydantic models)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from skynet.accounts.credentials import DEFAULT_TOKEN_TTL_S
from skynet.accounts.model import ApiToken, Permission, Role
from skynet.api.schemas import Reason, Strict
from skynet.services.users import Account, Issued


class LoginRequest(Strict):
    user: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class TokenResponse(BaseModel):
    token: str = Field(description="The API token; shown once, send it as 'Authorization: Bearer <token>'.")
    expires_at: float | None
    user: str
    role: str


UserName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")]
TokenDays = Annotated[float, Field(gt=0, le=3650, description="Days the token is valid.")]


class UserCreate(Strict):
    name: UserName
    role: Role
    password: str | None = Field(
        default=None,
        min_length=12,
        max_length=1000,
        description="Write-only: lets the user log in with POST /api/login.",
    )
    token_days: TokenDays = DEFAULT_TOKEN_TTL_S / 86400
    reason: Reason


class UserUpdate(Strict):
    role: Role | None = None
    disabled: bool | None = Field(default=None, description="Disabling revokes the user's tokens.")
    grants: list[Permission] | None = Field(
        default=None,
        max_length=20,
        description="The analyses this user may run beyond their role (replaces the list; [] removes all).",
    )
    reason: Reason


class TokenCreate(Strict):
    days: TokenDays = DEFAULT_TOKEN_TTL_S / 86400
    label: str = Field(default="", max_length=100)
    reason: Reason


class TokenOut(BaseModel):
    """A token's record: never the token itself (it is stored only as a hash)."""

    id: int
    label: str
    created_at: float
    expires_at: float | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(id=int(token.id or 0), label=token.label, created_at=token.created_at, expires_at=token.expires_at)


class IssuedToken(TokenResponse):
    token_id: int

    @classmethod
    def of(cls, issued: Issued) -> IssuedToken:
        return cls(
            token=issued.token,
            token_id=int(issued.record.id or 0),
            expires_at=issued.record.expires_at,
            user=issued.user.name,
            role=issued.user.role.value,
        )


class UserOut(BaseModel):
    name: str
    role: Role
    created_at: float
    disabled: bool
    has_password: bool
    grants: list[Permission]
    tokens: list[TokenOut]

    @classmethod
    def of(cls, account: Account) -> UserOut:
        user = account.user
        return cls(
            name=user.name,
            role=user.role,
            created_at=user.created_at,
            disabled=user.disabled,
            has_password=user.password_hash is not None,
            grants=sorted(user.grants),
            tokens=[TokenOut.of(t) for t in account.tokens],
        )


class UserCreated(BaseModel):
    user: UserOut
    token: IssuedToken
