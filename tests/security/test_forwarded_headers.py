"""Issue 14, item 13: X-Forwarded-For is believed only from the proxies named in SKYNET_TRUSTED_PROXIES
(none by default), so a client cannot pick the address the login limit counts and the audit records."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.models, pytest.mark.slow]


def _failed_logins_from_ten_forged_addresses(service) -> list[int]:
    with service.client() as client:
        return [
            client.post(
                "/api/login",
                json={"user": f"ghost{i}", "password": "not the password at all"},  # 10 names: 10 user keys
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            ).status_code
            for i in range(10)
        ]


def _audited_clients(service) -> list[str]:
    with service.client("admin") as admin:
        events = admin.get("/api/audit", params={"action": "auth.login_failed"}).json()
    return sorted(event["detail"]["client"] for event in events)


def test_forwarded_addresses_are_ignored_by_default(start_service):
    service = start_service(demo=False)
    statuses = _failed_logins_from_ten_forged_addresses(service)
    assert statuses == [401] * 5 + [429] * 5  # one address, 127.0.0.1: its limit is 5 (the default)
    assert _audited_clients(service) == ["127.0.0.1"] * 5


def test_forwarded_addresses_are_believed_from_a_trusted_proxy(start_service):
    service = start_service(demo=False, env={"SKYNET_TRUSTED_PROXIES": "127.0.0.1"})
    assert _failed_logins_from_ten_forged_addresses(service) == [401] * 10
    assert _audited_clients(service) == sorted(f"203.0.113.{i}" for i in range(10))
