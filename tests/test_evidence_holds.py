"""Evidence holds released by an admin only, with a reason, audited; what is released may be deleted again."""

from __future__ import annotations

import pytest
from api_support import make_api
from store_support import plate

from skynet.store.holds import HoldCause

NOW = 1_780_000_000.0


@pytest.fixture
def api(tmp_path):
    api = make_api(tmp_path / "data", clock=lambda: NOW)
    yield api
    api.close()


def test_holds_listed_and_released_by_admins_with_a_reason_and_audited(api):
    store = api.catalog.store
    ids = api.catalog.add_sightings([plate(NOW - 60 - i, f"桂B1234{i}", camera="cam-a") for i in range(3)])
    store.holds.hold(ids[:2], HoldCause.EXPORT, "export-1", "investigator", NOW)
    store.holds.hold(ids[2:], HoldCause.ALERT, "7", "operator", NOW)
    admin = api.as_role("admin")
    for role in ("investigator", "operator"):
        assert api.client.get("/api/holds", headers=api.as_role(role)).status_code == 403
        refused = api.client.post(
            "/api/holds/release", json={"sighting_ids": ids, "reason": "case closed"}, headers=api.as_role(role)
        )
        assert refused.status_code == 403
    assert len(api.client.get("/api/holds", headers=admin).json()) == 3
    listed = api.client.get("/api/holds", params={"cause": "export", "ref": "export-1"}, headers=admin).json()
    assert sorted(h["sighting_id"] for h in listed) == sorted(ids[:2])
    for body in ({"sighting_ids": ids}, {"reason": "case closed"}, {"ref": "7", "reason": "case closed"}):
        assert api.client.post("/api/holds/release", json=body, headers=admin).status_code == 422
    released = api.client.post(
        "/api/holds/release", json={"cause": "export", "ref": "export-1", "reason": "case 3 closed"}, headers=admin
    )
    assert released.status_code == 200
    assert sorted(h["sighting_id"] for h in released.json()["released"]) == sorted(ids[:2])
    assert store.holds.held(ids) == {ids[2]}
    again = api.client.post("/api/holds/release", json={"sighting_ids": ids[:2], "reason": "again"}, headers=admin)
    assert again.status_code == 404
    audit = api.client.get("/api/audit?action=evidence.release", headers=admin).json()
    assert [(e["actor"], e["reason"], e["detail"]["holds"], e["detail"]["causes"]) for e in audit] == [
        ("admin", "case 3 closed", 2, ["export:export-1"])
    ]
    deleted = store.sightings.delete_before(NOW)  # retention: what was released goes, what is held stays
    assert sorted(deleted.ids.tolist()) == sorted(ids[:2]) and list(deleted.held_ids) == [ids[2]]
