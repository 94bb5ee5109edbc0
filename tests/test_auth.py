"""Auth primitives: roles, password and token hashing, expiry, and the FastAPI dependencies."""

from collections.abc import Callable
from types import SimpleNamespace
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from skynet.accounts.credentials import (
    TOKEN_PREFIX,
    authenticate_password,
    authenticate_token,
    hash_password,
    hash_token,
    issue_token,
    verify_password,
)
from skynet.accounts.errors import AuthError, UserExistsError, WeakPasswordError
from skynet.accounts.model import PERMISSIONS, MemoryUserStore, Permission, Role, User, UserStore
from skynet.api.auth import RECHECK_TOKEN_S, Auth, RecentTokens
from skynet.api.deps import require, require_stream
from skynet.api.errors import install_error_handlers
from skynet.api.tickets import TICKET_TTL_S
from skynet.serialize import to_jsonable

NOW = 1_800_000_000.0
PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


USER_STORES: dict[str, Callable[[], UserStore]] = {"memory": MemoryUserStore}
"""Add the store-backed UserStore here to hold it to the same tests."""


@pytest.fixture(params=sorted(USER_STORES))
def store(request) -> UserStore:
    store = USER_STORES[request.param]()
    store.add_user(User("alice", Role.ADMIN, NOW, password_hash=hash_password(PASSWORD)))
    store.add_user(User("ivan", Role.INVESTIGATOR, NOW))
    store.add_user(User("olga", Role.OPERATOR, NOW))
    store.add_user(User("gone", Role.ADMIN, NOW, disabled=True))
    return store


def token_for(store: UserStore, name: str, ttl_s: float | None = 3600) -> str:
    user = store.get_user(name)
    assert user is not None
    return issue_token(store, user, NOW, ttl_s)[0]


def test_permission_table():
    assert PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    investigator, operator = PERMISSIONS[Role.INVESTIGATOR], PERMISSIONS[Role.OPERATOR]
    assert {Permission.SEARCH, Permission.MANAGE_WATCHLISTS} <= investigator
    assert not {Permission.MANAGE_CAMERAS, Permission.READ_AUDIT, Permission.MANAGE_USERS} & investigator
    assert {Permission.MANAGE_CAMERAS, Permission.START_JOBS} <= operator
    assert not {Permission.SEARCH, Permission.MANAGE_WATCHLISTS, Permission.READ_AUDIT} & operator
    assert User("x", Role.OPERATOR, NOW).may(Permission.HANDLE_ALERTS)


def test_password_hashing_is_salted_and_verifies():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$16384$8$1$")
    assert PASSWORD not in first
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "!", first)
    malformed = ("", "scrypt$1$2", "bcrypt$16384$8$1$AAAA$AAAA", "scrypt$x$8$1$AAAA$AAAA", "scrypt$16384$8$1$!!$AA")
    for encoded in malformed:
        assert not verify_password(PASSWORD, encoded)
    with pytest.raises(WeakPasswordError, match="at least 12 characters"):
        hash_password("short")


def test_tokens_are_stored_hashed_and_expire(store):
    alice = store.get_user("alice")
    plaintext, record = issue_token(store, alice, NOW, ttl_s=60, label="ci")
    assert plaintext.startswith(TOKEN_PREFIX) and len(plaintext) > 40
    assert record.token_hash == hash_token(plaintext) != plaintext
    assert plaintext not in repr(record)
    assert (record.user_name, record.expires_at, record.label, record.id) == ("alice", NOW + 60, "ci", 1)
    assert issue_token(store, alice, NOW)[0] != plaintext

    assert authenticate_token(store, plaintext, NOW + 59).name == "alice"
    with pytest.raises(AuthError, match=r"API token expired at 2027-01-15T08:01:00\+00:00"):
        authenticate_token(store, plaintext, NOW + 60)
    with pytest.raises(AuthError, match="invalid API token"):
        authenticate_token(store, plaintext + "x", NOW)

    forever = token_for(store, "ivan", ttl_s=None)
    assert authenticate_token(store, forever, NOW + 10 * 365 * 86400).name == "ivan"
    with pytest.raises(AuthError, match="'gone' is disabled"):
        authenticate_token(store, token_for(store, "gone"), NOW)


def test_password_login_does_not_reveal_which_users_exist(store):
    assert authenticate_password(store, "alice", PASSWORD).role is Role.ADMIN
    messages = set()
    for name, password in (("alice", "wrong password!"), ("nobody", PASSWORD), ("ivan", PASSWORD)):
        with pytest.raises(AuthError) as caught:
            authenticate_password(store, name, password)
        messages.add(caught.value.message)
    assert messages == {"wrong user name or password"}


def test_user_names_are_unique(store):
    with pytest.raises(UserExistsError, match="'alice' already exists"):
        store.add_user(User("alice", Role.OPERATOR, NOW))


def make_app(store: UserStore, clock: Clock) -> FastAPI:
    auth = Auth(store, clock)
    app = FastAPI()
    app.state.system = SimpleNamespace(auth=auth)  # the dependencies use the running system's Auth
    install_error_handlers(app)  # the dependencies raise AuthError (401) and ForbiddenError (403)

    @app.get("/search")
    def search(user: Annotated[User, Depends(require(Permission.SEARCH))]) -> dict:
        return {"user": user.name}

    @app.post("/cameras")
    def cameras(user: Annotated[User, Depends(require(Permission.MANAGE_CAMERAS))]) -> dict:
        return {"user": user.name}

    @app.websocket("/live")
    async def live(websocket: WebSocket, user: Annotated[User, Depends(require_stream(Permission.HANDLE_ALERTS))]):
        await websocket.accept()
        await websocket.send_json({"user": user.name})
        await websocket.close()

    return app


def test_http_dependencies_answer_401_and_403_with_clear_messages(store):
    clock = Clock(NOW)
    client = TestClient(make_app(store, clock))
    ivan, olga = token_for(store, "ivan"), token_for(store, "olga")

    def get(path: str, token: str | None = None, scheme: str = "Bearer", method: str = "GET"):
        headers = {"Authorization": f"{scheme} {token}"} if token else {}
        return client.request(method, path, headers=headers)

    missing = get("/search")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "missing API token" in missing.json()["detail"]
    assert get("/search", "dXNlcjpwYXNz", scheme="Basic").status_code == 401
    bad = get("/search", "skynet_not-a-real-token")
    assert bad.status_code == 401
    assert bad.json() == {"detail": "invalid API token", "hint": "check the token, or ask an admin for a new one"}

    assert get("/search", ivan).json() == {"user": "ivan"}
    assert get("/cameras", olga, method="POST").json() == {"user": "olga"}
    denied = get("/search", olga)
    assert denied.status_code == 403
    assert denied.json() == {"detail": "permission 'search' required; role 'operator' does not have it", "hint": None}
    assert get("/cameras", ivan, method="POST").status_code == 403

    clock.now = NOW + 3600
    expired = get("/search", ivan)
    assert expired.status_code == 401 and "API token expired at" in expired.json()["detail"]


def test_a_token_changed_outside_the_server_counts_after_the_recheck_interval(store):
    """Requests within RECHECK_TOKEN_S reuse the last check; a revocation made by another process
    (straight in the store, as the CLI does) is refused once that time has passed."""
    clock = Clock(NOW)
    client = TestClient(make_app(store, clock))
    headers = {"Authorization": f"Bearer {token_for(store, 'ivan')}"}
    assert client.get("/search", headers=headers).status_code == 200
    (record,) = store.tokens("ivan")
    assert store.revoke_token(record.token_hash)
    clock.now = NOW + RECHECK_TOKEN_S / 2
    assert client.get("/search", headers=headers).status_code == 200
    clock.now = NOW + RECHECK_TOKEN_S
    refused = client.get("/search", headers=headers)
    assert refused.status_code == 401 and refused.json()["detail"].startswith("invalid API token")


def test_recent_tokens_are_bounded_and_cleared():
    clock = Clock(NOW)
    recent = RecentTokens(clock)
    user = User("ivan", Role.INVESTIGATOR, NOW)
    for i in range(RecentTokens.MAX_TOKENS + 1):
        recent.put(f"token-{i}", user)
    assert recent.get("token-0") is None and recent.get(f"token-{RecentTokens.MAX_TOKENS}") == user
    recent.clear()
    assert recent.get(f"token-{RecentTokens.MAX_TOKENS}") is None


def test_openapi_documents_bearer_auth(store):
    schema = TestClient(make_app(store, Clock(NOW))).get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["paths"]["/search"]["get"]["security"] == [{"HTTPBearer": []}]


def test_stream_dependency_takes_a_header_token_or_a_single_use_ticket_and_refuses_with_1008(store):
    app = make_app(store, Clock(NOW))
    auth: Auth = app.state.system.auth
    client = TestClient(app)
    ivan, olga = token_for(store, "ivan"), token_for(store, "olga")
    with client.websocket_connect("/live", headers={"Authorization": f"Bearer {ivan}"}) as ws:
        assert ws.receive_json() == {"user": "ivan"}
    ticket, _ = auth.tickets.issue("olga", hash_token(olga), "/live")
    with client.websocket_connect(f"/live?ticket={ticket}") as ws:
        assert ws.receive_json() == {"user": "olga"}

    gone = token_for(store, "gone")
    for url, reason in (
        ("/live", "missing API token"),
        (f"/live?ticket={ticket}", "already used stream ticket"),  # single use
        (f"/live?access_token={olga}", "missing API token"),  # a token in the URL is not taken
        (f"/live?ticket={auth.tickets.issue('olga', hash_token(olga), '/other')[0]}", "opens /other, not /live"),
        (f"/live?ticket={auth.tickets.issue('gone', hash_token(gone), '/live')[0]}", "'gone' is disabled"),
    ):
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url) as ws:
            ws.receive_json()
        assert closed.value.code == 1008 and reason in closed.value.reason, url


def test_a_stream_ticket_expires_and_dies_with_its_token(store):
    clock = Clock(NOW)
    app = make_app(store, clock)
    auth: Auth = app.state.system.auth
    client = TestClient(app)
    olga = token_for(store, "olga")
    late, _ = auth.tickets.issue("olga", hash_token(olga), "/live")
    revoked, _ = auth.tickets.issue("olga", hash_token(olga), "/live")
    clock.now = NOW + TICKET_TTL_S
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(f"/live?ticket={late}") as ws:
        ws.receive_json()
    assert "stream ticket expired" in closed.value.reason
    clock.now = NOW
    store.revoke_token(hash_token(olga))
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(f"/live?ticket={revoked}") as ws:
        ws.receive_json()
    assert "invalid API token" in closed.value.reason


def test_users_and_tokens_serialise_without_secrets(store):
    alice = store.get_user("alice")
    assert to_jsonable(alice) == {
        "name": "alice",
        "role": "admin",
        "created_at": NOW,
        "disabled": False,
        "id": 1,
        "grants": [],
    }
    _, record = issue_token(store, alice, NOW)
    assert "token_hash" not in to_jsonable(record)
