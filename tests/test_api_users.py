"""Accounts: ``skynet users`` from the command line, ``/api/users`` over HTTP (admins only), the last-admin
guard, and the audit log's filters and append-only guarantee."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from api_support import PASSWORD as API_PASSWORD
from api_support import Api, make_api
from fastapi.testclient import TestClient
from store_support import database_url  # noqa: F401 (fixture)
from typer.testing import CliRunner

from skynet.accounts import changes
from skynet.accounts.errors import LastAdminError, UnknownUserError, UserExistsError
from skynet.accounts.model import MemoryUserStore, Role, User, UserStore
from skynet.app import build
from skynet.cli import _register_commands, app
from skynet.config import Settings
from skynet.records import AuditEvent
from skynet.store import open_store
from skynet.system import SystemRole

PASSWORD = "a long enough password"


def _token(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_users_cli_creates_accounts_whose_tokens_and_passwords_work(tmp_path: Path) -> None:
    _register_commands()
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path)]
    admin = runner.invoke(
        app, ["users", "create-admin", "root", "--password", *data], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
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
        assert store.users.get_user("olga").role is Role.OPERATOR
    finally:
        store.close()
    system = build(Settings(data_dir=tmp_path), SystemRole.API_NODE, analysers=0)
    try:
        client = TestClient(system.api)
        root = {"Authorization": f"Bearer {_token(admin.output)}"}
        assert client.get("/api/audit", headers=root).status_code == 200
        olga = {"Authorization": f"Bearer {_token(again.output)}"}
        assert client.get("/api/cameras", headers=olga).status_code == 200
        assert client.get("/api/audit", headers=olga).status_code == 403
        login = client.post("/api/login", json={"user": "root", "password": PASSWORD})
        assert login.status_code == 200 and login.json()["role"] == "admin"
    finally:
        system.close()


# --- accounts over HTTP (admins only) ---------------------------------------------------------

REASON = {"reason": "ticket 7"}


@pytest.fixture
def api(tmp_path: Path):
    api = make_api(tmp_path)
    yield api
    api.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _events(api: Api, action: str) -> list[AuditEvent]:
    return api.catalog.store.audit.events(1000, action=action)


def test_only_admins_manage_users(api: Api) -> None:
    for role in ("investigator", "operator"):
        assert api.client.get("/api/users", headers=api.as_role(role)).status_code == 403
        created = api.client.post(
            "/api/users", headers=api.as_role(role), json={"name": "eve", "role": "admin", **REASON}
        )
        assert created.status_code == 403 and "manage_users" in created.json()["detail"]
    assert api.client.get("/api/users").status_code == 401


def test_listing_shows_roles_and_tokens_but_no_secrets(api: Api) -> None:
    response = api.client.get("/api/users", headers=api.as_role("admin"))
    assert response.status_code == 200
    users = {u["name"]: u for u in response.json()}
    assert {n: u["role"] for n, u in users.items()} == {
        "admin": "admin",
        "investigator": "investigator",
        "operator": "operator",
        "feed": "feed",
    }
    assert users["admin"]["has_password"] and len(users["admin"]["tokens"]) == 1
    assert set(users["admin"]["tokens"][0]) == {"id", "label", "created_at", "expires_at", "minted_by"}
    text = response.text
    assert "scrypt" not in text and api.tokens["admin"] not in text
    stored = api.catalog.store.users.tokens("admin")[0].token_hash
    assert stored not in text


def test_create_user_returns_a_working_token_once_and_is_audited(api: Api) -> None:
    admin = api.as_role("admin")
    response = api.client.post(
        "/api/users",
        headers=admin,
        json={"name": "ivy", "role": "investigator", "password": API_PASSWORD, "token_days": 2, **REASON},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    token = body["token"]["token"]
    assert body["user"]["role"] == "investigator" and body["token"]["user"] == "ivy"
    assert body["token"]["expires_at"] == pytest.approx(api.system.clock() + 2 * 86400, abs=5)
    assert api.client.get("/api/cameras", headers=_bearer(token)).status_code == 200
    assert api.client.post("/api/login", json={"user": "ivy", "password": API_PASSWORD}).status_code == 200
    # the token is shown once: neither the listing nor the audit log holds it
    assert token not in api.client.get("/api/users/ivy", headers=admin).text
    [event] = _events(api, "user.create")
    assert (event.actor, event.reason, event.detail) == (
        "admin",
        "ticket 7",
        {"user": "ivy", "role": "investigator", "password": True},
    )
    assert token not in api.client.get("/api/audit", headers=admin).text and API_PASSWORD not in str(event)

    again = api.client.post("/api/users", headers=admin, json={"name": "ivy", "role": "operator", **REASON})
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    short = api.client.post(
        "/api/users", headers=admin, json={"name": "sam", "role": "operator", "password": "short", **REASON}
    )
    assert short.status_code == 422
    no_reason = api.client.post("/api/users", headers=admin, json={"name": "sam", "role": "operator"})
    assert no_reason.status_code == 422
    bad_role = api.client.post("/api/users", headers=admin, json={"name": "sam", "role": "root", **REASON})
    assert bad_role.status_code == 422
    assert len(_events(api, "user.create")) == 1


def test_role_changes_take_effect_at_once(api: Api) -> None:
    investigator = api.as_role("investigator")
    search = {"q": "桂B12345", "reason": "case 1"}
    assert api.client.get("/api/search/plate", params=search, headers=investigator).status_code == 200
    changed = api.client.patch(
        "/api/users/investigator", headers=api.as_role("admin"), json={"role": "operator", **REASON}
    )
    assert changed.status_code == 200 and changed.json()["role"] == "operator"
    assert api.client.get("/api/search/plate", params=search, headers=investigator).status_code == 403
    [event] = _events(api, "user.update")
    assert event.detail == {"user": "investigator", "role": "operator"} and event.reason == "ticket 7"
    missing = api.client.patch("/api/users/ghost", headers=api.as_role("admin"), json={"role": "admin", **REASON})
    assert missing.status_code == 404 and "ghost" in missing.json()["detail"]


def test_disabling_revokes_tokens_and_blocks_login(api: Api) -> None:
    admin = api.as_role("admin")
    operator = api.as_role("operator")
    response = api.client.patch("/api/users/operator", headers=admin, json={"disabled": True, **REASON})
    assert response.status_code == 200 and response.json()["disabled"] and response.json()["tokens"] == []
    assert api.client.get("/api/cameras", headers=operator).status_code == 401
    assert api.client.post("/api/login", json={"user": "operator", "password": API_PASSWORD}).status_code == 401
    refused = api.client.post("/api/users/operator/tokens", headers=admin, json=REASON)
    assert refused.status_code == 409 and "disabled" in refused.json()["detail"]
    # re-enabled: the old tokens stay revoked, new ones work
    assert api.client.patch("/api/users/operator", headers=admin, json={"disabled": False, **REASON}).status_code == 200
    assert api.client.get("/api/cameras", headers=operator).status_code == 401
    issued = api.client.post("/api/users/operator/tokens", headers=admin, json={"label": "laptop", **REASON})
    assert api.client.get("/api/cameras", headers=_bearer(issued.json()["token"])).status_code == 200


def test_issue_and_revoke_tokens(api: Api) -> None:
    admin = api.as_role("admin")
    issued = api.client.post(
        "/api/users/investigator/tokens", headers=admin, json={"days": 1, "label": "laptop", **REASON}
    )
    assert issued.status_code == 201, issued.text
    token, token_id = issued.json()["token"], issued.json()["token_id"]
    assert api.client.get("/api/cameras", headers=_bearer(token)).status_code == 200
    listed = api.client.get("/api/users/investigator", headers=admin).json()["tokens"]
    assert [t["label"] for t in listed if t["id"] == token_id] == ["laptop"]
    revoked = api.client.delete(f"/api/users/investigator/tokens/{token_id}", headers=admin, params=REASON)
    assert revoked.status_code == 204
    assert api.client.get("/api/cameras", headers=_bearer(token)).status_code == 401
    assert api.client.get("/api/cameras", headers=api.as_role("investigator")).status_code == 200  # the other one
    again = api.client.delete(f"/api/users/investigator/tokens/{token_id}", headers=admin, params=REASON)
    assert again.status_code == 404
    # another user's token id is not this user's
    other = api.catalog.store.users.tokens("operator")[0].id
    assert api.client.delete(f"/api/users/investigator/tokens/{other}", headers=admin, params=REASON).status_code == 404
    assert [e.detail["token_id"] for e in _events(api, "token")] == [token_id, token_id]
    assert [e.action for e in _events(api, "token")] == ["token.revoke", "token.issue"]


def test_delete_user_revokes_tokens_and_keeps_their_history(api: Api) -> None:
    admin = api.as_role("admin")
    investigator = api.as_role("investigator")
    api.client.get("/api/search/plate", params={"q": "桂B12345", "reason": "case 1"}, headers=investigator)
    assert api.client.delete("/api/users/investigator", headers=admin).status_code == 422  # no reason
    assert api.client.delete("/api/users/investigator", headers=admin, params=REASON).status_code == 204
    assert api.client.get("/api/cameras", headers=investigator).status_code == 401
    assert api.client.get("/api/users/investigator", headers=admin).status_code == 404
    assert api.catalog.store.users.tokens("investigator") == []
    assert [e.action for e in api.catalog.store.audit.events(10, actor="investigator")] == ["search.plate"]
    assert api.client.delete("/api/users/investigator", headers=admin, params=REASON).status_code == 404


def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(api: Api) -> None:
    admin = api.as_role("admin")
    for method, kwargs in (
        ("patch", {"json": {"role": "operator", **REASON}}),
        ("patch", {"json": {"disabled": True, **REASON}}),
        ("delete", {"params": REASON}),
    ):
        response = getattr(api.client, method)("/api/users/admin", headers=admin, **kwargs)
        assert response.status_code == 409, response.text
        assert "last active admin" in response.json()["detail"]
    assert _events(api, "user") == []
    # with a second admin the first may step down
    assert api.client.patch("/api/users/operator", headers=admin, json={"role": "admin", **REASON}).status_code == 200
    assert api.client.patch("/api/users/admin", headers=admin, json={"role": "operator", **REASON}).status_code == 200
    assert api.client.get("/api/users", headers=admin).status_code == 403  # now an operator
    last = api.client.delete("/api/users/operator", headers=api.as_role("operator"), params=REASON)
    assert last.status_code == 409


@pytest.fixture(params=["memory", "store"])
def user_store(request, tmp_path: Path):
    if request.param == "memory":
        yield MemoryUserStore()
    else:
        store = open_store(tmp_path)
        yield store.users
        store.close()


def test_accounts_keep_an_active_admin_on_every_store(user_store: UserStore) -> None:
    changes.create_user(user_store, "root", Role.ADMIN, 0.0)
    changes.create_user(user_store, "old", Role.ADMIN, 0.0)
    changes.change_user(user_store, "old", disabled=True)  # a disabled admin does not count
    with pytest.raises(LastAdminError):
        changes.change_user(user_store, "root", role=Role.OPERATOR)
    with pytest.raises(LastAdminError):
        changes.delete_user(user_store, "root")
    changes.change_user(user_store, "old", disabled=False)
    changes.change_user(user_store, "root", role=Role.OPERATOR)
    assert [(u.name, u.role) for u in user_store.users()] == [("root", Role.OPERATOR), ("old", Role.ADMIN)]
    with pytest.raises(UserExistsError):
        changes.create_user(user_store, "root", Role.ADMIN, 0.0)
    with pytest.raises(UnknownUserError):
        changes.delete_user(user_store, "nobody")


def test_user_rows_update_delete_and_list_tokens(database_url, tmp_path: Path) -> None:  # noqa: F811
    store = open_store(tmp_path, database_url)
    try:
        changes.create_user(store.users, "ann", Role.INVESTIGATOR, 1.0, label="one")
        _, _, second = changes.issue_user_token(store.users, "ann", 2.0, label="two")
        assert [t.label for t in store.users.tokens("ann")] == ["one", "two"]
        assert store.users.update_user(User("ann", Role.OPERATOR, 1.0, disabled=True))
        assert not store.users.update_user(User("bob", Role.OPERATOR, 1.0))
        stored = store.users.get_user("ann")
        assert (stored.role, stored.disabled) == (Role.OPERATOR, True)
        assert store.users.delete_user("ann") and not store.users.delete_user("ann")
        assert store.users.tokens("ann") == [] and store.users.find_token(second.token_hash) is None
    finally:
        store.close()


def test_audit_filters(database_url, tmp_path: Path) -> None:  # noqa: F811
    store = open_store(tmp_path, database_url)
    try:
        for at, actor, action in (
            (1.0, "ann", "search.face"),
            (2.0, "bob", "search.plate"),
            (3.0, "ann", "searches.x"),
            (4.0, "ann", "export.create"),
        ):
            store.audit.append(AuditEvent(at, actor, action, "case 9"))
        assert [e.at for e in store.audit.events(actor="ann")] == [4.0, 3.0, 1.0]
        assert [e.at for e in store.audit.events(action="search")] == [2.0, 1.0]  # not 'searches.x'
        assert [e.at for e in store.audit.events(action="search.plate")] == [2.0]
        assert [e.at for e in store.audit.events(actor="ann", since=2.0, until=3.5)] == [3.0]
        assert [e.at for e in store.audit.events(2)] == [4.0, 3.0]
    finally:
        store.close()


def test_admins_filter_the_audit_log_over_http(api: Api) -> None:
    store = api.catalog.store
    for at, actor, action in (
        (10.0, "investigator", "search.face"),
        (20.0, "admin", "user.create"),
        (30.0, "investigator", "export.create"),
    ):
        store.audit.append(AuditEvent(at, actor, action, "case 3"))
    admin = api.as_role("admin")

    def actions(**params) -> list[str]:
        response = api.client.get("/api/audit", headers=admin, params=params)
        assert response.status_code == 200, response.text
        return [e["action"] for e in response.json()]

    assert actions(actor="investigator") == ["export.create", "search.face"]
    assert actions(action="search") == ["search.face"]
    assert actions(since=15, until=25) == ["user.create"]
    assert actions(limit=1) == ["export.create"]
    assert api.client.get("/api/audit", headers=api.as_role("investigator")).status_code == 403


def test_the_audit_log_has_no_route_that_changes_it(api: Api, tmp_path: Path) -> None:
    paths = api.client.get("/openapi.json", headers=api.as_role("admin")).json()["paths"]
    assert set(paths["/api/audit"]) == {"get"}
    assert not [p for p in paths if p.startswith("/api/audit/")]
    api.catalog.store.audit.append(AuditEvent(1.0, "admin", "search.plate", "case 1"))
    with sqlite3.connect(tmp_path / "skynet.db") as db, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit_log")
