"""``skynet users create-admin|add|token|list``: accounts and API tokens (there are no default users)."""

from __future__ import annotations

import time
from contextlib import closing
from typing import Annotated

import typer

from skynet.accounts.changes import create_user, issue_user_token
from skynet.accounts.credentials import DEFAULT_TOKEN_TTL_S
from skynet.accounts.model import Role, User
from skynet.cli import app
from skynet.cli.options import DataDir, load_settings
from skynet.store import open_store

users_app = typer.Typer(help="Users (admin, investigator, operator) and their API tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")

PasswordFlag = Annotated[
    bool, typer.Option("--password/--no-password", help="Also set a password (asked twice) for POST /api/login.")
]
TokenDays = Annotated[float, typer.Option("--days", min=0.01, help="Days the token is valid.")]


def _add(name: str, role: Role, with_password: bool, data_dir, days: float) -> None:
    settings = load_settings(data_dir)
    password = typer.prompt("password", hide_input=True, confirmation_prompt=True) if with_password else None
    with closing(open_store(settings.data_dir, settings.database_url)) as store:
        user, token, _ = create_user(store.users, name, role, time.time(), password, days * 86400, "cli")
    _print_token(user, token, days)


def _print_token(user: User, token: str, days: float) -> None:
    typer.echo(f"API token for {user.name} ({user.role.value}), shown once, valid {days:g} days:")
    typer.echo(token)


@users_app.command("create-admin")
def create_admin(
    name: str, password: PasswordFlag = False, data_dir: DataDir = None, days: TokenDays = DEFAULT_TOKEN_TTL_S / 86400
) -> None:
    """Create an admin account and print a one-time API token."""
    _add(name, Role.ADMIN, password, data_dir, days)


@users_app.command("add")
def add(
    name: str,
    role: Annotated[Role, typer.Option("--role", help="admin, investigator or operator.")],
    password: PasswordFlag = False,
    data_dir: DataDir = None,
    days: TokenDays = DEFAULT_TOKEN_TTL_S / 86400,
) -> None:
    """Create an account with a role and print a one-time API token."""
    _add(name, role, password, data_dir, days)


@users_app.command("token")
def token(name: str, data_dir: DataDir = None, days: TokenDays = DEFAULT_TOKEN_TTL_S / 86400) -> None:
    """Print a new API token for an existing user."""
    settings = load_settings(data_dir)
    with closing(open_store(settings.data_dir, settings.database_url)) as store:
        user, plaintext, _ = issue_user_token(store.users, name, time.time(), days * 86400, "cli")
    _print_token(user, plaintext, days)


@users_app.command("list")
def list_users(data_dir: DataDir = None) -> None:
    """List the accounts and their roles."""
    settings = load_settings(data_dir)
    with closing(open_store(settings.data_dir, settings.database_url)) as store:
        for user in store.users.users():
            typer.echo(f"{user.name}\t{user.role.value}{'  (disabled)' if user.disabled else ''}")
