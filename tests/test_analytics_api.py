"""The analysis routes: granted per user by an admin, a reason each, audited, and exported as evidence."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from api_support import make_api

from skynet.records import Box, PlateText, Sighting, SightingKind

T0 = 1_700_000_000.0
CASE = {"reason": "case 2026-0042", "since": T0 - 600, "until": T0 + 600}


def plate(camera: str, text: str, at: float) -> Sighting:
    read = PlateText(text, (0.95,) * len(text))
    return Sighting(camera, SightingKind.PLATE, at - 2, at + 2, at, Box(0, 0, 90, 30), 0.9, plate=read)


@pytest.fixture
def api(tmp_path):
    api = make_api(tmp_path)
    # cam-a and cam-b are about 1.5 km apart: 20 s between them is 270 km/h
    api.catalog.store.sightings.add([plate("cam-a", "桂A12345", T0), plate("cam-b", "桂A12345", T0 + 20)])
    yield api
    api.close()


def grant(api, user: str, *grants: str) -> dict:
    answer = api.client.patch(
        f"/api/users/{user}",
        json={"grants": list(grants), "reason": "analyst for case 2026-0042"},
        headers=api.as_role("admin"),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_analysis_needs_a_grant_from_an_admin(api):
    headers = api.as_role("investigator")
    assert api.client.post("/api/analytics/cloned-plates", json=CASE, headers=headers).status_code == 403
    assert grant(api, "investigator", "analyze_cloned_plates")["grants"] == ["analyze_cloned_plates"]
    answer = api.client.post("/api/analytics/cloned-plates", json=CASE, headers=headers)
    assert answer.status_code == 200, answer.text
    [candidate] = answer.json()["candidates"]
    assert candidate["plate"] == "桂A12345" and candidate["speed_kmh"] > 200
    assert (candidate["first"]["camera_id"], candidate["second"]["camera_id"]) == ("cam-a", "cam-b")
    # the grant is one analysis, not all of them
    companions = {**CASE, "target": {"plate": "桂A12345"}}
    assert api.client.post("/api/analytics/companions", json=companions, headers=headers).status_code == 403
    # a role's permission cannot be granted; revoking the grant takes effect at once
    bad = api.client.patch(
        "/api/users/operator",
        json={"grants": ["manage_users"], "reason": "try a role permission"},
        headers=api.as_role("admin"),
    )
    assert bad.status_code == 422 and "not a grantable permission" in bad.json()["detail"]
    grant(api, "investigator")
    assert api.client.post("/api/analytics/cloned-plates", json=CASE, headers=headers).status_code == 403


def test_each_analysis_is_audited_with_its_parameters_and_result_size(api):
    grant(api, "investigator", "analyze_cloned_plates")
    api.client.post("/api/analytics/cloned-plates", json=CASE, headers=api.as_role("investigator"))
    [event] = api.system.auditor.events(1, action="analysis.cloned_plates")
    assert (event.actor, event.reason, event.detail["results"]) == ("investigator", "case 2026-0042", 1)
    assert event.detail["since"] == CASE["since"] and event.detail["max_speed_kmh"] == 150.0


@pytest.mark.parametrize(
    "body",
    [
        {**CASE, "reason": ""},
        {**CASE, "since": T0, "until": T0 - 1},
        {**CASE, "until": T0 + 40 * 86400},
        {**CASE, "area": {"cameras": ["cam-a"], "radius_m": 10}},
    ],
    ids=["no reason", "reversed", "too long", "area of two kinds"],
)
def test_bad_requests_are_refused_with_a_message(api, body):
    grant(api, "investigator", "analyze_cloned_plates")
    answer = api.client.post("/api/analytics/cloned-plates", json=body, headers=api.as_role("investigator"))
    assert answer.status_code in (400, 422) and answer.json()["detail"]


def test_results_export_as_the_signed_evidence_zip(api):
    answer = api.client.post(
        "/api/analytics/cloned-plates", json={**CASE, "export": True}, headers=api.as_role("admin")
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["reason"] == "case 2026-0042" and manifest["sightings"] == 2
    hashes = {f["name"]: f["sha256"] for f in manifest["files"]}
    assert "analysis.json" in hashes and "sightings.csv" in hashes
    assert json.loads(archive.read("analysis.json"))["candidates"][0]["plate"] == "桂A12345"
    actions = [e.action for e in api.system.auditor.events(5)]
    assert actions[:2] == ["export.create", "analysis.cloned_plates"]
