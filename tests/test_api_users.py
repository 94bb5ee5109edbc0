"""``skynet users``: accounts and one-time tokens created from the command line work against the API."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from skynet.api.app import create_app
from skynet.api.auth import Auth, Role
from skynet.api.services import Services
from skynet.cli import _register_commands, app
from skynet.config import Settings
from skynet.index.catalog import Catalog, open_store

PASSWORD = "a long enough password"


def _token(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_users_cli_creates_accounts_whose_tokens_and_passwords_work(tmp_path: Path) -> None:
    _register_commands()
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    admin = runner.invoke(app, ["users", "create-admin", "root", "--password", *data],
                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert admin.exit_code == 0, admin.output
    operator = runner.invoke(app, ["users", "add", "olga", "--role", "operator", *data])
    assert operator.exit_code == 0, operator.output
    again = runner.invoke(app, ["users", "token", "olga", "--days", "1", *data])
    assert again.exit_code == 0 and _token(again.output) != _token(operator.output)
    assert runner.invoke(app, ["users", "token", "nobody", *data]).exit_code != 0
    assert runner.invoke(app, ["users", "add", "olga", "--role", "operator", *data]).exit_code != 0
    listed = runner.invoke(app, ["users", "list", *data])
    assert listed.output.split() == ["root", "admin", "olga", "operator"]

    store = open_store(tmp_path)
    try:
        assert store.get_user("olga").role is Role.OPERATOR
    finally:
        store.close()
    with Catalog.open(tmp_path) as catalog:
        client = TestClient(create_app(Services(Settings(data_dir=tmp_path), catalog, Auth(catalog.store))))
        root = {"Authorization": f"Bearer {_token(admin.output)}"}
        assert client.get("/api/audit", headers=root).status_code == 200
        olga = {"Authorization": f"Bearer {_token(again.output)}"}
        assert client.get("/api/cameras", headers=olga).status_code == 200
        assert client.get("/api/audit", headers=olga).status_code == 403
        login = client.post("/api/login", json={"user": "root", "password": PASSWORD})
        assert login.status_code == 200 and login.json()["role"] == "admin"
