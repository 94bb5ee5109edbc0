"""What an API node learns from the shared store besides new rows: face sightings another node deletes leave its
face index (the change log of schema version 18, within the 1 s of additions), whatever deleted them, and the
updates of an alert already announced reach its live stream as updates of that alert; a follower that missed the
change log sets its index right by counts; an acknowledgement on one API node reaches every API node's live stream."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import numpy as np
import pytest
from store_support import database, database_url, face, open_catalog, plate  # noqa: F401 (fixture)
from waiting import wait_for

from skynet.accounts.model import Role, User
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


def test_an_acknowledgement_on_one_api_node_reaches_every_api_nodes_live_stream(tmp_path, request):
    with database("postgresql", request) as url:
        camera_node = open_catalog(tmp_path, url, indexing=False)  # stores the sightings and raises the alerts
        nodes = [
            build(
                Settings(data_dir=tmp_path, database_url=url, index_dir=tmp_path / f"index-{name}"),
                SystemRole.API_NODE,
                analysers=0,
            )
            for name in ("a", "b")
        ]
        try:
            asyncio.run(_follow_acknowledgements(camera_node, *nodes))
        finally:
            for node in nodes:
                node.close()
            camera_node.close()


async def _follow_acknowledgements(camera_node, a, b) -> None:
    store = camera_node.store
    entry_id = store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "van", "case 1", "admin", 0.0, None, "EF789"))
    sid = (await asyncio.to_thread(camera_node.add_sightings, [plate(400.0, "EF789")]))[0]
    ids = [store.alerts.add(Alert(entry_id, sid, "cam-a", 400.0 + i, 0.9, track_id=i)) for i in range(3)]
    operator = User("desk-a", Role.OPERATOR, 0.0)
    async with a.running(), b.running():
        with a.hub.subscribe({EventType.ALERT}) as on_a, b.hub.subscribe({EventType.ALERT}) as on_b:
            announced = [await asyncio.wait_for(on_b.get(), 10) for _ in ids]  # the new alerts, read by id
            assert [e.data["updated"] for e in announced] == [False] * 3
            for _ in ids:
                await asyncio.wait_for(on_a.get(), 10)
            started = time.monotonic()
            acked = await asyncio.to_thread(a.watchlists.acknowledge, operator, ids[0], "handled by desk A")
            single = await asyncio.wait_for(on_b.get(), 10)
            lag = time.monotonic() - started
            own = await asyncio.wait_for(on_a.get(), 10)  # node A's other operators, once, through its follower
            await asyncio.to_thread(a.watchlists.acknowledge_all, operator, "end of shift", entry_id)
            by_entry = [await asyncio.wait_for(on_b.get(), 10) for _ in ids[1:]]
            own_by_entry = [await asyncio.wait_for(on_a.get(), 10) for _ in ids[1:]]
            for stream in (on_a, on_b):  # each acknowledgement once on each node
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(stream.get(), 0.5)
    assert single.data["alert_id"] == own.data["alert_id"] == ids[0]
    assert single.data["updated"] is True, "an update of the listed alert: no alarm, no new entry"
    assert single.data["acknowledged_by"] == "desk-a"
    assert single.data["acknowledged_at"] == pytest.approx(acked.acknowledged_at, abs=1e-3)
    assert own.data == single.data
    assert [e.data["alert_id"] for e in by_entry] == [e.data["alert_id"] for e in own_by_entry] == ids[1:]
    assert {(e.data["updated"], e.data["acknowledged_by"]) for e in by_entry} == {(True, "desk-a")}
    audited = [e.action for e in store.audit.events(action="alert")]
    assert sorted(audited) == ["alert.ack", "alert.ack_all"], "acknowledgements audited as before"
    print(f"an acknowledgement on node A reached node B's live stream in {lag:.3f} s")
    assert lag < 1.0, lag


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


def test_the_change_log_names_folded_and_acknowledged_alerts(tmp_path, database_url):  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        entry_id = store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "van", "case 1", "admin", 0.0, None, "AB1"))
        first, second = catalog.add_sightings([plate(100.0, "AB1"), plate(101.0, "AB1")])
        alert_id = store.alerts.add(Alert(entry_id, first, "cam-a", 100.0, 0.8, track_id=1, last_seen=101.0))
        others = [store.alerts.add(Alert(entry_id, second, "cam-a", 101.0 + i, 0.8, track_id=2 + i)) for i in (0, 1)]
        cursor = IdCursor(store.changes.last_id())
        store.alerts.fold(alert_id, second, 0.9, 102.0, 102.0)
        store.alerts.acknowledge(alert_id, "operator", 103.0)
        store.alerts.acknowledge(alert_id, "admin", 104.0)  # the first acknowledgement is kept: no change
        store.alerts.acknowledge_all("operator", 105.0, entry_id)
        changes = [(c.kind, c.ids.tolist()) for page in store.changes.follow(cursor) for c in page]
        updated = ChangeKind.ALERT_UPDATED
        by_entry = [(updated, others)] if database_url else [(updated, [i]) for i in others]  # per statement or row
        assert changes == [(updated, [alert_id]), (updated, [alert_id]), *by_entry]
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
