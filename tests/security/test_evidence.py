"""Issue 14, item 3: nobody rewrites evidence. A forced re-index (it deletes what an earlier run stored) needs
an admin and a reason; what it deletes is audited by id; exported sightings and those with an acknowledged
alert are held and survive it; the faces and plates it re-creates keep their camera and their times."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from waiting import wait_for

from skynet.index.catalog import Catalog
from skynet.records import Camera, SightingKind, WatchlistEntry
from skynet.synthetic import DEMO_PLATES, write_demo_clip

pytestmark = [pytest.mark.models, pytest.mark.slow]

T0 = 1_714_550_400.0  # 2024-05-01 08:00 UTC: when the archived footage was recorded
CASE = "case 2026-17"


def _seed(catalog: Catalog) -> None:
    assert catalog.data_dir is not None
    archive = catalog.data_dir / "archive"
    archive.mkdir()
    write_demo_clip(archive / "gate-north.avi", seconds=9.0)
    catalog.store.cameras.save(Camera("gate", "Gate north", "rtsp://10.0.0.1/gate", 22.81, 108.36))
    catalog.store.cameras.save(Camera("other", "Elsewhere", "rtsp://10.0.0.2/other", 22.9, 108.4))
    for text in DEMO_PLATES:
        catalog.store.watchlists.add(WatchlistEntry(SightingKind.PLATE, f"wanted {text}", CASE, "ivy", T0, None, text))


def _run_job(client: httpx.Client, body: dict) -> dict:
    started = client.post("/api/jobs/reindex", json=body)
    assert started.status_code == 202, started.text

    def finished() -> dict | None:
        job = client.get(f"/api/jobs/{started.json()['id']}").json()
        return None if job["state"] in ("queued", "running") else job

    return wait_for(finished, 240, "the re-index job", interval_s=0.5)


def _plates(client: httpx.Client) -> dict[int, dict]:
    found = {}
    for text in DEMO_PLATES:
        answer = client.get("/api/search/plate", params={"q": text, "reason": CASE})
        assert answer.status_code == 200, answer.text
        found |= {r["sighting"]["id"]: r["sighting"] for r in answer.json()["results"]}
    return found


def _runs(ids: list[int]) -> set[int]:
    return {i for first, last in ids for i in range(first, last + 1)}


def test_a_forced_reindex_needs_an_admin_and_a_reason_and_keeps_held_evidence(start_service):
    service = start_service(demo=False, seed=_seed)
    clip = str(Path(service.data_dir) / "archive" / "gate-north.avi")
    job = {"paths": [clip], "camera": "gate", "start": T0}
    with (
        service.client("admin") as admin,
        service.client("investigator") as investigator,
        service.client("operator") as operator,
    ):
        first = _run_job(operator, {**job, "reason": f"{CASE}: archive of gate north"})
        assert first["state"] == "done" and first["sightings"] >= 2, first
        before = _plates(investigator)
        assert len(before) >= 2
        alerts = wait_for(lambda: operator.get("/api/alerts").json(), 30, "alerts on the archive's plates")
        acked_alert = alerts[0]
        acked = operator.post(f"/api/alerts/{acked_alert['id']}/ack", json={"reason": "duty desk: stopped the van"})
        assert acked.status_code == 200, acked.text
        exported = next(i for i in sorted(before) if i != acked_alert["sighting_id"])
        export = investigator.post("/api/exports", json={"reason": CASE, "sighting_ids": [exported]})
        assert export.status_code == 200 and export.content[:2] == b"PK"

        # no start time: a redo reads the file from the start time it was read with before
        forced = {"paths": [clip], "camera": "gate", "force": True, "reason": f"{CASE}: redo with the new pack"}
        refused = operator.post("/api/jobs/reindex", json=forced)
        assert refused.status_code == 403 and "delete_evidence" in refused.json()["detail"], refused.text
        assert investigator.post("/api/jobs/reindex", json=forced).status_code == 403
        for reason in ("...", "   ", "x"):
            assert admin.post("/api/jobs/reindex", json={**forced, "reason": reason}).status_code == 422, reason
        epoch = admin.post("/api/jobs/reindex", json={**forced, "start": 0})
        assert epoch.status_code == 422  # 1970: no archive is that old
        elsewhere = _run_job(operator, {**job, "camera": "other", "reason": f"{CASE}: wrong camera"})
        assert elsewhere["sightings"] == 0 and set(_plates(investigator)) == set(before)  # done: skipped

        redone = _run_job(admin, forced)
        assert redone["state"] == "done", redone
        after = _plates(investigator)
        held = {exported, acked_alert["sighting_id"]}
        assert held <= set(after)  # the held evidence is still there
        created = {i: s for i, s in after.items() if i not in before}
        assert created and all(s["camera_id"] == "gate" for s in created.values())
        assert all(T0 <= s["best_time"] <= T0 + 10 for s in after.values())  # not 1970
        assert set(after) - set(created) == held  # everything else was replaced
        still = {a["id"]: a for a in operator.get("/api/alerts").json()}
        assert still[acked_alert["id"]]["acknowledged_by"] == "operator"

        rows = admin.get("/api/audit", params={"action": "reindex.delete"}).json()
        assert len(rows) == 1, rows
        row = rows[0]
        assert (row["actor"], row["reason"]) == ("admin", forced["reason"])
        assert _runs(row["detail"]["sighting_ids"]) == set(before) - held
        assert _runs(row["detail"]["held_ids"]) == held
        deleted_alerts = {a["id"] for a in alerts if a["sighting_id"] not in held}
        assert _runs(row["detail"]["alert_ids"]) == deleted_alerts and deleted_alerts.isdisjoint(still)
        started = admin.get("/api/audit", params={"action": "job.reindex"}).json()
        assert all(r["reason"] and r["reason"].startswith(CASE) for r in started)
