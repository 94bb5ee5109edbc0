"""``skynet users create-admin|add|token|list``: accounts and API tokens (there are no default users)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from skynet.accounts.credentials import DEFAULT_TOKEN_TTL_S
from skynet.accounts.model import Role
from skynet.cli import app
from skynet.cli.options import DataDir, load_settings
from skynet.services.audit import Auditor
from skynet.services.users import Issued, UserService
from skynet.store import open_store

users_app = typer.Typer(help="Users (admin, investigator, operator, feed) and their API tokens.", no_args_is_help=True)
app.add_typer(users_app, name="users")

PasswordFlag = Annotated[
    bool, typer.Option("--password/--no-password", help="Also set a password (asked twice) for POST /api/login.")
]
TokenDays = Annotated[float, typer.Option("--days", min=0.01, help="Days the token is valid.")]


CLI = "cli"
"""Who the audit log says made the changes of ``skynet users`` (and the label of their tokens)."""


@contextmanager
def _accounts(data_dir: Path | None) -> Iterator[UserService]:
    settings = load_settings(data_dir)
    with closing(open_store(settings.data_dir, settings.database_url)) as store:
        yield UserService(store.users, Auditor(store.audit), time.time)


def _add(name: str, role: Role, with_password: bool, data_dir: Path | None, days: float) -> None:
    password = typer.prompt("password", hide_input=True, confirmation_prompt=True) if with_password else None
    with _accounts(data_dir) as accounts:
        issued = accounts.create(CLI, name, role, None, password, days * 86400, CLI)
    _print_token(issued, days)


def _print_token(issued: Issued, days: float) -> None:
    typer.echo(f"API token for {issued.user.name} ({issued.user.role.value}), shown once, valid {days:g} days:")
    typer.echo(issued.token)


@users_app.command("create-admin")
def create_admin(
    name: str, password: PasswordFlag = False, data_dir: DataDir = None, days: TokenDays = DEFAULT_TOKEN_TTL_S / 86400
) -> None:
    """Create an admin account and print a one-time API token."""
    _add(name, Role.ADMIN, password, data_dir, days)


@users_app.command("add")
def add(
    name: str,
    role: Annotated[
        Role, typer.Option("--role", help="admin, investigator, operator or feed (pushes feed records only).")
    ],
    password: PasswordFlag = False,
    data_dir: DataDir = None,
    days: TokenDays = DEFAULT_TOKEN_TTL_S / 86400,
) -> None:
    """Create an account with a role and print a one-time API token."""
    _add(name, role, password, data_dir, days)


@users_app.command("token")
def token(name: str, data_dir: DataDir = None, days: TokenDays = DEFAULT_TOKEN_TTL_S / 86400) -> None:
    """Print a new API token for an existing user."""
    with _accounts(data_dir) as accounts:
        issued = accounts.issue_token(CLI, name, None, days * 86400, CLI)
    _print_token(issued, days)


@users_app.command("list")
def list_users(data_dir: DataDir = None) -> None:
    """List the accounts and their roles."""
    with _accounts(data_dir) as accounts:
        for user in (a.user for a in accounts.accounts()):
            typer.echo(f"{user.name}\t{user.role.value}{'  (disabled)' if user.disabled else ''}")
