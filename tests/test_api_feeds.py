"""The feed routes over the real service: a feed account pushes and may do nothing else, identity keys are
masked in every answer and shown in full only to admins (each time audited), identity watch-lists alert."""

from __future__ import annotations

import pytest
from api_support import make_api

from skynet.records import Camera
from skynet.services.feed_rows import FeedKind

NOW = 1_780_000_000.0
ID = "11010519491231002X"
READ = {"plate": "桂B12345", "checkpoint": "cp-1", "time": "2026-05-28T08:00:00+08:00", "direction": "north"}
PERSON = {
    "identity": ID,
    "name": "张三",
    "place": "Hotel Lotus",
    "latitude": 22.8,
    "longitude": 108.3,
    "time": NOW - 60,
    "source": "hotel",
}


@pytest.fixture
def api(tmp_path):
    api = make_api(tmp_path / "data", clock=lambda: NOW)
    api.catalog.store.cameras.save(Camera("cp-1", "Checkpoint G7", "", 22.9, 108.4))
    yield api
    api.close()


def test_a_feed_account_pushes_records_and_nothing_else(api):
    feed = api.as_role("feed")
    answer = api.client.post(
        "/api/feeds/checkpoint-reads", json={"records": [READ, {**READ, "time": "soon"}]}, headers=feed
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["added"], body["rejected"]) == (1, 1) and "bad time" in body["records"][1]["reason"]
    again = api.client.post("/api/feeds/checkpoint-reads", json={"records": [READ]}, headers=feed).json()
    assert again["duplicates"] == 1 and again["added"] == 0
    for method, path in (("get", "/api/search/plate?q=x&reason=case"), ("get", "/api/cameras"), ("get", "/api/alerts")):
        assert api.client.request(method, path, headers=feed).status_code == 403
    for role in ("investigator", "operator"):
        refused = api.client.post("/api/feeds/registrations", json={"records": [PERSON]}, headers=api.as_role(role))
        assert refused.status_code == 403
    assert api.client.post("/api/feeds/checkpoint-reads", json={"records": []}, headers=feed).status_code == 422
    too_many = {"records": [READ] * 1001}
    assert api.client.post("/api/feeds/checkpoint-reads", json=too_many, headers=feed).status_code == 422


def test_identity_masked_everywhere_revealed_to_admins_only_and_audited(api):
    pushed = api.client.post("/api/feeds/registrations", json={"records": [PERSON]}, headers=api.as_role("feed"))
    sighting_id = pushed.json()["records"][0]["sighting_id"]
    investigator, admin = api.as_role("investigator"), api.as_role("admin")
    shown = api.client.get(f"/api/sightings/{sighting_id}", headers=investigator, params={"reason": "case 7"}).json()
    assert shown["identity"] == "1101**********002X" and shown["source"] == "registration"
    assert shown["person_name"] == "张三" and shown["place"] == "hotel"
    found = api.client.get(f"/api/search/identity?identity={ID.lower()}&reason=case 7", headers=investigator)
    assert [s["id"] for s in found.json()] == [sighting_id] and ID not in found.text
    reveal = f"/api/sightings/{sighting_id}/identity"
    assert api.client.post(reveal, json={"reason": "case 7"}, headers=investigator).status_code == 403
    assert api.client.post(reveal, json={}, headers=admin).status_code == 422
    assert api.client.post(reveal, json={"reason": "case 7"}, headers=admin).json() == {"identity": ID}
    audit = api.client.get("/api/audit?action=identity", headers=admin).json()
    assert [(e["actor"], e["reason"], e["detail"]["sighting"]) for e in audit] == [("admin", "case 7", sighting_id)]
    searches = api.client.get("/api/audit?action=search.identity", headers=admin).json()
    assert searches[0]["detail"]["identity"] == "1101**********002X" and ID not in str(searches)


def test_identity_trajectory_over_the_registering_places(api):
    second = {**PERSON, "place": "Net café 9", "source": "internet_cafe", "latitude": 22.9, "time": NOW - 30}
    api.client.post("/api/feeds/registrations", json={"records": [PERSON, second]}, headers=api.as_role("feed"))
    investigator = api.as_role("investigator")
    answer = api.client.get(f"/api/trajectory/identity-key?identity={ID}&reason=case 8", headers=investigator)
    assert answer.status_code == 200
    stops = answer.json()["stops"]
    assert [(s["camera_name"], s["sources"]) for s in stops] == [
        ("Hotel Lotus", ["registration"]),
        ("Net café 9", ["registration"]),
    ]
    assert answer.json()["transitions"][0]["implausible"]  # 11 km in 30 s
    audit = api.client.get("/api/audit?action=trajectory.identity_key", headers=api.as_role("admin")).json()
    assert audit[0]["detail"]["identity"] == "1101**********002X" and ID not in str(audit)


def test_identity_watch_list_entry_alerts_on_a_pushed_registration(api):
    investigator, admin = api.as_role("investigator"), api.as_role("admin")
    form = {"kind": "identity", "label": "wanted", "reason": "case 9", "identity": ID}
    created = api.client.post("/api/watchlist", data=form, headers=investigator)
    assert created.status_code == 201 and created.json()["identity"] == "1101**********002X"
    bad = api.client.post("/api/watchlist", data={**form, "identity": "110105194912310021"}, headers=investigator)
    assert bad.status_code == 400 and "malformed ID-card number" in bad.json()["detail"]
    entry = created.json()["id"]
    revealed = api.client.post(f"/api/watchlist/{entry}/identity", json={"reason": "case 9"}, headers=admin)
    assert revealed.json() == {"identity": ID}
    api.client.post("/api/feeds/registrations", json={"records": [PERSON]}, headers=api.as_role("feed"))
    alerts = api.client.get("/api/alerts", headers=investigator).json()
    assert [a["entry_id"] for a in alerts] == [entry]


def test_feed_import_job_over_the_api(api, tmp_path):
    outside = api.client.post(
        "/api/jobs/feed-import",
        json={"path": "/etc/passwd", "kind": "checkpoint", "reason": "case 2026-3"},
        headers=api.as_role("operator"),
    )
    assert outside.status_code == 403 and "archive root" in outside.json()["detail"]
    path = api.system.settings.archive_dir / "reads.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"plate": "桂B1", "checkpoint": "cp-1", "time": 1779990000}\n{"plate": ""}\n', "utf-8")
    operator = api.as_role("operator")
    started = api.client.post(
        "/api/jobs/feed-import",
        json={"path": str(path), "kind": "checkpoint", "reason": "case 2026-3"},
        headers=operator,
    )
    assert started.status_code == 202
    api.system.runner.join(30)
    job = api.client.get(f"/api/jobs/{started.json()['id']}", headers=operator).json()
    assert job["state"] == "done" and (job["progress"]["added"], job["progress"]["rejected"]) == (1, 1)
    not_feed = path.parent / "x.csv"
    not_feed.write_bytes(b"\x00" * 100)
    refused = api.client.post(
        "/api/jobs/feed-import",
        json={"path": str(not_feed), "kind": "checkpoint", "reason": "case 2026-3"},
        headers=operator,
    )
    assert refused.status_code == 400 and "not a CSV file" in refused.json()["detail"]


def test_imports_listed_with_rejected_rows_a_registrations_text_for_admins_only(api, tmp_path):
    path = tmp_path / "hotel.jsonl"
    path.write_text(f'{{"identity": "{ID}", "name": "x"}}\n' + __import__("json").dumps(PERSON) + "\n", "utf-8")
    result = api.system.feeds.import_file("operator", path, FeedKind.REGISTRATION)
    assert (result.added, result.rejected) == (1, 1)
    operator, admin = api.as_role("operator"), api.as_role("admin")
    listed = api.client.get("/api/feeds/imports", headers=operator).json()
    assert [(i["path"], i["state"], i["added"], i["rejected"]) for i in listed] == [(str(path), "done", 1, 1)]
    query = {"path": str(path), "kind": "registration", "reason": "case 8"}
    assert api.client.get("/api/feeds/imports", headers=api.as_role("investigator")).status_code == 403
    assert (
        api.client.get("/api/feeds/imports/rejected", params={**query, "reason": ""}, headers=operator).status_code
        == 422
    )
    hidden = api.client.get("/api/feeds/imports/rejected", params=query, headers=operator).json()
    assert [(r["line"], r["reason"].split(",")[0], r["row"]) for r in hidden["rows"]] == [(1, "missing place", None)]
    shown = api.client.get("/api/feeds/imports/rejected", params=query, headers=admin).json()
    assert ID in shown["rows"][0]["row"]
    missing = api.client.get("/api/feeds/imports/rejected", params={**query, "path": "/nope"}, headers=admin)
    assert missing.status_code == 404
    audit = api.client.get("/api/audit?action=feed.rejected", headers=admin).json()
    assert [(e["actor"], e["reason"], e["detail"]["rows"]) for e in audit] == [
        ("admin", "case 8", 1),
        ("operator", "case 8", 1),
    ]
