"""The probe's starting point: the real service answers only authenticated requests, per role."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.models, pytest.mark.slow]


def test_every_role_is_authenticated_and_anonymous_requests_are_refused(start_service):
    service = start_service(demo=False)
    with service.client() as anonymous:
        assert anonymous.get("/api/health").status_code == 200
        assert anonymous.get("/api/cameras").status_code == 401
    for role in ("admin", "investigator", "operator"):
        with service.client(role) as client:
            assert client.get("/api/cameras").status_code == 200, role
    with service.client("operator") as operator:
        assert operator.get("/api/users").status_code == 403
