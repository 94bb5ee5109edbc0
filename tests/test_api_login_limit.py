"""Password guessing on POST /api/login: failures per client address and per user name are limited
(429 with Retry-After), successful logins do not count, and failures are audited without the password."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from api_support import PASSWORD, Api, make_api
from fastapi.testclient import TestClient

from skynet.accounts.throttle import LoginThrottle, LoginThrottled

WRONG = "not the password at all"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api(tmp_path: Path):
    api = make_api(tmp_path)
    api.clock = Clock()
    api.system.auth.login_throttle = LoginThrottle(max_failures=5, window_s=60, clock=api.clock)
    yield api
    api.close()


def _login(client: TestClient, user: str, password: str) -> int:
    return client.post("/api/login", json={"user": user, "password": password}).status_code


def _from(api: Api, address: str) -> TestClient:
    return TestClient(api.client.app, client=(address, 40000))


def test_five_failures_a_minute_then_429_with_retry_after(api: Api) -> None:
    assert [_login(api.client, "admin", WRONG) for _ in range(5)] == [401] * 5
    api.clock.now += 20
    refused = api.client.post("/api/login", json={"user": "admin", "password": PASSWORD})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "40"
    assert "too many failed logins" in refused.json()["detail"] and "40 s" in refused.json()["detail"]
    api.clock.now += 40  # the oldest failures leave the window
    assert _login(api.client, "admin", PASSWORD) == 200


def test_limits_hold_per_address_and_per_user_name(api: Api) -> None:
    assert [_login(api.client, name, WRONG) for name in ("admin", "ghost", "x", "y", "z")] == [401] * 5
    # this address is blocked for every user name ...
    blocked = api.client.post("/api/login", json={"user": "investigator", "password": PASSWORD})
    assert blocked.status_code == 429 and "from this address" in blocked.json()["detail"]
    # ... another one is not
    with _from(api, "10.1.1.1") as other:
        assert _login(other, "investigator", PASSWORD) == 200
        # guesses at one name from many addresses block that name only
        for i in range(5):
            with _from(api, f"10.2.0.{i}") as guesser:
                assert _login(guesser, "operator", WRONG) == 401
        refused = other.post("/api/login", json={"user": "operator", "password": PASSWORD})
        assert refused.status_code == 429 and "for user 'operator'" in refused.json()["detail"]
        assert _login(other, "investigator", PASSWORD) == 200
    # tokens keep working while logins are blocked
    assert api.client.get("/api/cameras", headers=api.as_role("operator")).status_code == 200


def test_successful_logins_do_not_count(api: Api) -> None:
    for _ in range(4):
        assert _login(api.client, "admin", WRONG) == 401
    for _ in range(10):
        assert _login(api.client, "admin", PASSWORD) == 200
    assert _login(api.client, "admin", WRONG) == 401  # the fifth failure
    assert _login(api.client, "admin", PASSWORD) == 429


def test_failed_logins_are_audited_and_logged_without_the_password(api: Api, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="skynet.api.admin"):
        assert _login(api.client, "admin", WRONG) == 401
        assert _login(api.client, "nobody", WRONG) == 401
        assert _login(api.client, "admin", PASSWORD) == 200
    store = api.catalog.store
    failed = store.audit.events(10, action="auth.login_failed")
    assert [(e.actor, e.detail["client"]) for e in failed] == [("nobody", "testclient"), ("admin", "testclient")]
    assert [e.actor for e in store.audit.events(10, action="auth.login")] == ["admin"]
    everything = str(store.audit.events(100)) + caplog.text
    assert WRONG not in everything and PASSWORD not in everything
    assert "failed login for 'nobody' from testclient" in caplog.text


def test_concurrent_attempts_cannot_exceed_the_limit() -> None:
    """A failure is counted when a login starts, so guesses sent at once are limited too."""
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=clock)
    started = [throttle.attempt("1.2.3.4", f"user{i}") for i in range(3)]
    for attempt in started:
        attempt.__enter__()
    with pytest.raises(LoginThrottled) as refused, throttle.attempt("1.2.3.4", "user9"):
        pass
    assert refused.value.retry_after_s == 60
    for attempt in started:  # all three passwords were right: their failures are taken back
        attempt.__exit__(None, None, None)
    with throttle.attempt("1.2.3.4", "user9"):
        pass


def test_throttle_forgets_old_failures() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=1, window_s=10, clock=clock)
    with pytest.raises(ValueError), throttle.attempt("a", "u"):
        raise ValueError("wrong password")
    clock.now += 9.5
    with pytest.raises(LoginThrottled) as refused, throttle.attempt("b", "u"):
        pass
    assert refused.value.retry_after_s == 1
    clock.now += 0.5
    with throttle.attempt("b", "u"):
        pass
    with pytest.raises(ValueError):
        LoginThrottle(max_failures=0)
