"""The HTTP edge's parts on their own: secrets masked in log records, refusals aggregated in the audit
log, bad tokens throttled per address, stream tickets, request body limits, trusted proxies.
(tests/security/ probes the same against a running ``skynet serve``.)"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from api_support import Api, colour_jpeg, make_api
from pydantic import ValidationError
from uvicorn.logging import AccessFormatter

from skynet.accounts.credentials import hash_token, issue_token
from skynet.accounts.throttle import TokensThrottled, TokenThrottle
from skynet.api.logs import RedactSecrets, redact_secrets
from skynet.api.refusals import RefusalAudit
from skynet.config import Settings

TOKEN = "skynet_" + "A1b2" * 10 + "xyz"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api(tmp_path: Path):
    api = make_api(tmp_path)
    yield api
    api.close()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /api/live?access_token=abc HTTP/1.1", "GET /api/live?access_token=*** HTTP/1.1"),
        ("GET /x?fps=2&ticket=t-1&frames=3", "GET /x?fps=2&ticket=***&frames=3"),
        ("rtsp://cam/s?user=admin&pw=hunter2;Password=x#frag", "rtsp://cam/s?user=admin&pw=***;Password=***#frag"),
        (
            "/x?api_key=1&signature=2&sig=3&secret=4&auth=5&passwd=6",
            "/x?api_key=***&signature=***&sig=***&secret=***&auth=***&passwd=***",
        ),
        (f"token {TOKEN} in a message", "token skynet_*** in a message"),
        ("/api/cameras?types=alert&q=B12345", "/api/cameras?types=alert&q=B12345"),
    ],
)
def test_secrets_are_masked_in_log_text(line: str, expected: str) -> None:
    assert redact_secrets(line) == expected


def test_the_filter_masks_an_access_record_and_keeps_its_arguments_for_the_formatter() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/api/live?access_token={TOKEN}", "1.1", 403), None,
    )  # fmt: skip
    assert RedactSecrets().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert line == '127.0.0.1:5000 - "GET /api/live?access_token=*** HTTP/1.1" 403 Forbidden'
    try:
        raise ValueError(f"failed on /x?password=hunter2 with {TOKEN}")
    except ValueError:
        failure = logging.LogRecord("skynet", logging.ERROR, __file__, 1, "boom", (), __import__("sys").exc_info())
    RedactSecrets().filter(failure)
    assert "hunter2" not in failure.exc_text and TOKEN not in failure.exc_text


def test_refusals_write_the_first_at_once_and_the_repeats_as_one_row_a_minute() -> None:
    clock, rows = Clock(), []
    audit = RefusalAudit(rows.append, clock, window_s=60)

    def refuse(client: str, n: int) -> None:
        for i in range(n):
            asyncio.run(audit.record("(anonymous)", "auth.bad_token", {"client": client}, {"fingerprint": f"f{i}"}))
            clock.now += 0.01

    refuse("10.0.0.1", 500)
    refuse("10.0.0.2", 1)
    assert [(r.detail["client"], r.detail["count"], r.detail["fingerprint"]) for r in rows] == [
        ("10.0.0.1", 1, "f0"),
        ("10.0.0.2", 1, "f0"),
    ]
    clock.now += 60
    refuse("10.0.0.1", 1)  # a new minute: the repeats of the last one first, then this one at once
    assert [(r.detail["client"], r.detail["count"]) for r in rows[2:]] == [("10.0.0.1", 499), ("10.0.0.1", 1)]
    assert rows[2].detail["fingerprints"] == [f"f{i}" for i in range(1, 11)]  # at most 10 kept
    refuse("10.0.0.1", 2)
    audit.flush()  # at shutdown
    assert [r.detail["count"] for r in rows[4:]] == [2]
    assert sum(r.detail["count"] for r in rows if r.detail["client"] == "10.0.0.1") == 503


def test_bad_tokens_and_refused_permissions_are_audited_and_bad_tokens_throttled(api: Api) -> None:
    store = api.catalog.store
    auth = api.system.auth
    auth.token_throttle = TokenThrottle(max_failures=3, window_s=60)
    expired, _ = issue_token(store.users, store.users.get_user("operator"), auth.clock() - 7200, ttl_s=3600)
    answers = [api.client.get("/api/alerts", headers={"Authorization": f"Bearer {t}"}) for t in (expired, "x", "y")]
    assert [a.status_code for a in answers] == [401, 401, 401]
    throttled = api.client.get("/api/alerts", headers=api.as_role("operator"))  # not verified recently: refused
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "60"
    assert api.client.get("/api/users", headers={"Authorization": "Bearer z"}).status_code == 429
    first = store.audit.events(10, action="auth.bad_token")[-1]
    assert first.detail["fingerprint"] == hash_token(expired)[:8] and "expired" in first.detail["error"]
    assert first.detail["route"] == "GET /api/alerts" and expired not in str(store.audit.events(100))
    auth.token_throttle = TokenThrottle()
    assert api.client.get("/api/audit", headers=api.as_role("operator")).status_code == 403
    (refused,) = store.audit.events(10, action="auth.forbidden")
    assert refused.actor == "operator" and refused.detail["permission"] == "read_audit"


def test_the_token_throttle_counts_per_address_within_its_window() -> None:
    clock = Clock()
    throttle = TokenThrottle(max_failures=2, window_s=10, clock=clock)
    throttle.failed("a")
    throttle.failed("a")
    with pytest.raises(TokensThrottled) as refused:
        throttle.check("a")
    assert refused.value.retry_after_s == 10
    throttle.check("b")
    clock.now += 10
    throttle.check("a")


def test_a_stream_ticket_is_asked_for_a_stream_path_only(api: Api) -> None:
    headers = api.as_role("operator")
    preview = api.client.post("/api/stream-tickets", json={"path": "/api/cameras/cam-a/preview"}, headers=headers)
    assert preview.status_code == 201 and preview.json()["path"] == "/api/cameras/cam-a/preview"
    assert preview.json()["ticket"].startswith("skynet_ticket_")
    for path in ("/api/users", "/api/live/../users", "/api/cameras/a/b/preview"):
        refused = api.client.post("/api/stream-tickets", json={"path": path}, headers=headers)
        assert refused.status_code == 422 and "not a stream path" in refused.json()["detail"], path
    assert api.client.post("/api/stream-tickets", json={"path": "/api/live"}).status_code == 401


def test_bodies_over_their_route_limit_are_refused(api: Api) -> None:
    headers = api.as_role("admin")
    big = api.client.post("/api/cameras", content=b"x" * (1024 * 1024 + 1), headers=headers)
    assert big.status_code == 413 and "at most 1,048,576 bytes" in big.json()["detail"]
    assert big.headers["connection"] == "close"
    chunked = api.client.post("/api/cameras", content=iter([b"x" * 600_000] * 2), headers=headers)
    assert chunked.status_code == 413 and "more than 1,048,576 bytes" in chunked.json()["detail"]
    # an upload route takes max_image_bytes (200,000 here) + max_json_bytes: the image check then answers
    photo = colour_jpeg((1, 2, 3)) + b"\0" * 300_000
    search = api.client.post(
        "/api/search/face", files={"image": ("a.jpg", photo)}, data={"reason": "case 1"}, headers=headers
    )
    assert search.status_code == 413 and "larger than the limit of 200,000 bytes" in search.json()["detail"]
    anonymous = api.client.post("/api/search/face", files={"image": ("a.jpg", photo)}, data={"reason": "case 1"})
    assert anonymous.status_code == 401


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert Settings(trusted_proxies="10.0.0.2, 10.1.0.0/16").trusted_proxies == ["10.0.0.2", "10.1.0.0/16"]
    assert Settings(trusted_proxies="").trusted_proxies == []
    with pytest.raises(ValidationError, match="'\\*' is not an IP address or network"):
        Settings(trusted_proxies="*")
