"""Browsing sightings: filters, keyset pages that give every sighting once, counts per camera per hour (SQLite
and PostgreSQL), and the API route that needs a reason and is audited."""

from __future__ import annotations

import numpy as np
import pytest
from api_support import make_api
from store_support import database_url, face, open_catalog, plate  # noqa: F401 (fixture)

from skynet.records import Camera, SightingKind, SightingSource
from skynet.store.errors import QueryError
from skynet.store.sighting_list import Cursor, SightingFilter

HOUR = 3600.0
T0 = 1_779_998_400.0  # the start of an hour


def _fill(catalog) -> list[int]:
    vector = np.ones(128, np.float32)
    sightings = [plate(T0 + i * 600.0, f"桂B1234{i % 10}", camera=("cam-a", "cam-b")[i % 2]) for i in range(12)]
    sightings += [face(T0 + 30.0, vector, camera="cam-a"), face(T0 + 30.0, vector, camera="cam-a")]  # a tie in time
    return catalog.add_sightings(sightings)


def test_keyset_pages_give_every_sighting_once_newest_first(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        ids = _fill(catalog)
        listing = catalog.store.sighting_list
        seen, cursor = [], None
        while True:
            page = listing.page(SightingFilter(), 3, cursor)
            seen += page.sightings
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(s.id for s in seen) == sorted(ids)
        assert [(s.best_time, s.id) for s in seen] == sorted(((s.best_time, s.id) for s in seen), reverse=True)
        faces = listing.page(SightingFilter(cameras=["cam-a"], kinds=[SightingKind.FACE]), 10)
        assert [s.id for s in faces.sightings] == [ids[13], ids[12]] and faces.next_cursor is None
        window = listing.page(SightingFilter(since=T0 + 600, until=T0 + 1800), 10)
        assert [s.best_time for s in window.sightings] == [T0 + 1800, T0 + 1200, T0 + 600]
        assert listing.page(SightingFilter(sources=[SightingSource.CHECKPOINT]), 10).sightings == []
        assert listing.page(SightingFilter(cameras=[]), 10).sightings == []
        counts = listing.hourly_counts(SightingFilter())
        assert counts == [("cam-a", T0, 5), ("cam-b", T0, 3), ("cam-a", T0 + HOUR, 3), ("cam-b", T0 + HOUR, 3)]
        with pytest.raises(QueryError):
            Cursor.parse("yesterday")


def test_a_listing_of_feed_sources_reads_their_index_in_sqlite(tmp_path):
    """SQLite uses the partial index of feed sightings (source <> 'video') only when the query says so: a listing
    of checkpoint reads or registrations must not scan every sighting in time order."""
    with open_catalog(tmp_path, None) as catalog:
        conditions, args = SightingFilter(sources=[SightingSource.CHECKPOINT]).sql()
        sql = f"SELECT id FROM sightings WHERE {' AND '.join(conditions)} ORDER BY best_time DESC, id DESC LIMIT 9"
        plan = " ".join(str(r[3]) for r in catalog.store.db.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        assert "sightings_source_time" in plan, plan
        assert "source <>" not in " ".join(SightingFilter(sources=[SightingSource.VIDEO]).sql()[0])


@pytest.fixture
def api(tmp_path):
    api = make_api(tmp_path / "data", clock=lambda: T0 + 2 * HOUR)
    api.catalog.store.cameras.save(Camera("cp-1", "Checkpoint", "", 22.9, 108.4))
    yield api
    api.close()


def test_the_listing_route_filters_pages_counts_and_is_audited(api):
    vector = np.ones(8, np.float32)
    api.catalog.add_sightings([plate(T0 + i * 60.0, "桂B12345") for i in range(5)] + [face(T0, vector, "cam-b")])
    api.system.feeds.push("feed", "checkpoint", [{"plate": "桂B12345", "checkpoint": "cp-1", "time": T0 + 90}])
    investigator, admin = api.as_role("investigator"), api.as_role("admin")
    url = "/api/sightings?reason=case 12&camera=cam-a&limit=2"
    first = api.client.get(url, headers=investigator).json()
    second = api.client.get(f"{url}&cursor={first['next_cursor']}", headers=investigator).json()
    assert [s["best_time"] for s in first["items"] + second["items"]] == [T0 + 240, T0 + 180, T0 + 120, T0 + 60]
    checkpoint = api.client.get("/api/sightings?reason=case 12&source=checkpoint", headers=investigator).json()
    assert [(s["camera_id"], s["source"]) for s in checkpoint["items"]] == [("cp-1", "checkpoint")]
    assert checkpoint["next_cursor"] is None
    counts = api.client.get("/api/sightings/counts?reason=case 12&kind=plate", headers=investigator).json()
    assert counts == [{"camera_id": "cam-a", "hour": T0, "count": 5}, {"camera_id": "cp-1", "hour": T0, "count": 1}]
    assert api.client.get("/api/sightings?camera=cam-a", headers=investigator).status_code == 422
    assert api.client.get("/api/sightings?reason=case 12", headers=api.as_role("operator")).status_code == 403
    bad = api.client.get("/api/sightings?reason=case 12&cursor=nope", headers=investigator)
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]
    audit = api.client.get("/api/audit?action=sightings", headers=admin).json()
    assert [(e["action"], e["reason"]) for e in audit][:2] == [
        ("sightings.counts", "case 12"),
        ("sightings.list", "case 12"),
    ]
    listed = [e for e in audit if e["action"] == "sightings.list"][-1]
    assert listed["detail"]["cameras"] == ["cam-a"] and listed["detail"]["results"] == 2
