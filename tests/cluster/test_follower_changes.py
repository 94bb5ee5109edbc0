"""What an API node learns from the shared store besides new rows: face sightings another node deletes leave its
face index (the change log of schema version 18, within the 1 s of additions), whatever deleted them, and the
updates of an alert already announced reach its live stream as updates of that alert; a follower that missed the
change log sets its index right by counts."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import numpy as np
from store_support import database, database_url, face, open_catalog, plate  # noqa: F401 (fixture)
from waiting import wait_for

from skynet.alerts import EventType
from skynet.app import build
from skynet.config import Settings
from skynet.index.face_index import WEEK_S
from skynet.index.writer import CatalogWriter
from skynet.records import Alert, SightingKind, WatchlistEntry
from skynet.store.changes import ChangeKind
from skynet.store.id_cursor import IdCursor
from skynet.system import SystemRole
from skynet.watchlist import WatchlistMatcher

LATER = 300.0 + 2 * WEEK_S  # a second partition of the face index


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_an_api_node_drops_faces_other_nodes_delete_and_updates_their_alerts_live(tmp_path, request):
    with database("postgresql", request) as url:
        other = open_catalog(tmp_path, url, indexing=False)  # another node: retention, a re-index, an admin
        api = build(
            Settings(data_dir=tmp_path, database_url=url, index_dir=tmp_path / "own-index"),
            SystemRole.API_NODE,
            analysers=0,
        )
        try:
            asyncio.run(_follow_changes(other, api))
        finally:
            api.close()
            other.close()


async def _follow_changes(other, api) -> None:
    store = other.store
    entry_id = store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "van", "case 1", "admin", 0.0, None, "EF789"))
    async with api.running():
        faces = [replace(face(300.0 + i, _unit(i)), track_id=i) for i in range(10)]
        faces += [replace(face(LATER + i, _unit(100 + i)), track_id=100 + i) for i in range(10)]
        ids = await asyncio.to_thread(other.add_sightings, faces)
        index = api.catalog.faces
        await asyncio.to_thread(wait_for, lambda: set(ids) <= set(index.ids().tolist()), 5, "the faces indexed")

        # retention on another node deletes the first week's faces; an admin deletes one of the second by hand
        started = time.monotonic()
        deleted = await asyncio.to_thread(other.delete_before, 300.0 + WEEK_S)
        with store.db.write("deleting a sighting by hand"):
            store.db.execute("DELETE FROM sightings WHERE id = ?", (ids[10],))
        gone = {*deleted.face_ids.tolist(), ids[10]}
        assert gone == set(ids[:11])
        await asyncio.to_thread(
            wait_for, lambda: not gone & set(index.ids().tolist()), 5, "the deleted faces to leave the API node's index"
        )
        lag = time.monotonic() - started
        assert set(index.ids().tolist()) == set(ids[11:]), "the live faces stay"
        hits = api.catalog.search_faces(_unit(3), k=20)  # a deleted face as the query: its own vector is gone
        assert {h.sighting_id for h in hits} == set(ids[11:]), "every slot of a search goes to a live face"

        with api.hub.subscribe({EventType.ALERT}) as alerts:
            writer = CatalogWriter(other)
            writer.add_listener(WatchlistMatcher(store, lambda *_: None, 0.9))
            blank = [np.zeros((8, 8, 3), np.uint8)] * 2
            writer.publish(replace(plate(400.0, "EF789"), track_id=99), *blank)
            raised = await asyncio.wait_for(alerts.get(), 10)
            writer.publish(replace(plate(401.0, "EF789"), track_id=99), *blank)  # the same pass, seen again
            folded = time.monotonic()
            update = await asyncio.wait_for(alerts.get(), 10)
            update_lag = time.monotonic() - folded
            writer.close()
    assert raised.data["entry"]["id"] == entry_id and raised.data["updated"] is False, "a new alert rings"
    assert update.data["alert_id"] == raised.data["alert_id"], "the update names the alert it updates"
    assert update.data["updated"] is True and update.data["sightings"] == 2
    assert [a.id for a in store.alerts.latest()] == [raised.data["alert_id"]], "one alert for the pass"
    print(f"deletions left the API node's index in {lag:.3f} s; alert update {update_lag:.3f} s")
    assert lag < 1.5 and update_lag < 1.0, (lag, update_lag)  # the deletion's lag includes its own commit


def test_a_follower_that_missed_the_change_log_sets_its_index_right_by_counts(tmp_path, database_url):  # noqa: F811
    with (
        open_catalog(tmp_path, database_url) as writer,
        open_catalog(tmp_path, database_url, index_root=tmp_path / "reader-index") as reader,
    ):
        ids = writer.add_sightings([face(300.0 + i, _unit(i)) for i in range(6)])
        assert reader.refresh() == 6
        assert len(writer.delete_before(303.0).face_ids) == 3
        assert reader.forget_deleted() == 3, "the change log names what another process deleted"
        assert set(reader.faces.ids().tolist()) == set(ids[3:])
        writer.delete_before(304.0)
        writer.store.changes.prune(keep_s=-60.0)  # the log forgotten before the reader looked again
        assert reader.forget_deleted() == 0
        assert reader.check_indexes() == {reader.face_model: {0: (1, 0)}}, "the partition's count differs: set right"
        assert set(reader.faces.ids().tolist()) == set(ids[4:])
        assert reader.check_indexes() == {}, "counts equal: nothing to do"


def test_the_change_log_names_folded_alerts_not_acknowledged_ones(tmp_path, database_url):  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        entry_id = store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "van", "case 1", "admin", 0.0, None, "AB1"))
        first, second = catalog.add_sightings([plate(100.0, "AB1"), plate(101.0, "AB1")])
        alert_id = store.alerts.add(Alert(entry_id, first, "cam-a", 100.0, 0.8, track_id=1, last_seen=101.0))
        cursor = IdCursor(store.changes.last_id())
        store.alerts.fold(alert_id, second, 0.9, 102.0, 102.0)
        store.alerts.acknowledge(alert_id, "operator", 103.0)
        changes = [change for page in store.changes.follow(cursor) for change in page]
        assert [(c.kind, c.ids.tolist()) for c in changes] == [(ChangeKind.ALERT_UPDATED, [alert_id])]
        assert list(store.changes.follow(cursor)) == [], "read once"


def test_a_cursor_looks_again_for_ids_committed_out_of_order():
    cursor = IdCursor(10, gap_s=60.0)
    cursor.seen([11, 14])  # 12 and 13 taken by writers that have not committed yet
    assert cursor.last == 14 and cursor.pending() == [12, 13]
    assert not cursor.read(12) and cursor.read(11)
    cursor.seen([13])
    assert cursor.pending() == [12] and cursor.read(13)
    cursor.gap_s = 0.0  # a gap looked for long enough: a rolled-back write
    assert cursor.pending() == [] and cursor.read(12)
