"""Issue 14, item 14: refused requests are audited (403s with the user, permission and route; bad tokens
with the client and a fingerprint, never the token) without a flood flooding the audit log, and bad
tokens are throttled per client address (429 with Retry-After)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import pytest

from skynet.index.catalog import Catalog

pytestmark = [pytest.mark.models, pytest.mark.slow]


def test_refusals_are_audited_in_aggregate_and_bad_tokens_are_throttled(start_service):
    service = start_service(demo=False)
    with service.client("operator") as operator:
        assert {operator.get("/api/users").status_code for _ in range(30)} == {403}
    bad_tokens = [f"skynet_guess-{i:04d}-{'x' * 32}" for i in range(100)]
    answers = []
    with service.client() as attacker:
        for token in bad_tokens:
            answers.append(attacker.get("/api/cameras", headers={"Authorization": f"Bearer {token}"}))
    assert [a.status_code for a in answers] == [401] * 20 + [429] * 80  # SKYNET_TOKEN_MAX_FAILURES: 20
    throttled = answers[-1]
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert "too many invalid API tokens from this address" in throttled.json()["detail"]

    service.server.stop()  # the rows of repeats are written by the minute, and at shutdown
    with Catalog.open(service.data_dir) as catalog:
        events = catalog.store.audit.events(1000, action="auth")
    by_action = defaultdict(list)
    for event in events:
        by_action[event.action].append(event)
    counts = {action: sum(e.detail["count"] for e in rows) for action, rows in by_action.items()}
    assert counts == {"auth.forbidden": 30, "auth.bad_token": 20, "auth.throttled": 80}
    assert all(len(rows) <= 2 for rows in by_action.values()), {a: len(r) for a, r in by_action.items()}

    forbidden = min(by_action["auth.forbidden"], key=lambda e: e.at)
    assert forbidden.actor == "operator"
    assert forbidden.detail == {
        "permission": "manage_users",
        "route": "GET /api/users",
        "path": "/api/users",
        "client": "127.0.0.1",
        "count": 1,
    }
    first_bad = min(by_action["auth.bad_token"], key=lambda e: e.at)
    assert first_bad.detail["client"] == "127.0.0.1" and first_bad.detail["error"] == "invalid API token"
    assert first_bad.detail["fingerprint"] == hashlib.sha256(bad_tokens[0].encode()).hexdigest()[:8]
    audit_text = json.dumps([e.detail for e in events])
    assert not [token for token in bad_tokens if token in audit_text or token[7:20] in audit_text]
