"""Schema versions: new stores get the latest, older ones migrate forward with nothing lost, newer ones are refused.

An older store is made as the Skynet of its version left it: the first migrations of today's schema
(:func:`store_support.schema_at`), which are never edited once shipped.
"""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest
from store_support import database, face, plate, schema_at

from skynet.index.catalog import Catalog
from skynet.records import Camera, Channel, DeliveryState
from skynet.store import open_store
from skynet.store.errors import StoreError
from skynet.store.plates import PlateMode
from skynet.store.schema import SCHEMA_VERSION
from skynet.store.sqlite import DB_NAME

BACKENDS = ["sqlite", "postgresql"]
OLD_MODEL, NEW_MODEL = "default/dlib_resnet", "insightface/arcface"


def _vector(seed: int, dim: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim).astype("<f4")
    return vector / np.linalg.norm(vector)


def _columns(store, table: str) -> set[str]:
    if store.db.dialect == "sqlite":
        return {row[1] for row in store.db.execute(f"PRAGMA table_info({table})")}
    rows = store.db.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?", (table,))
    return {row[0] for row in rows}


def _version(store) -> int:
    if store.db.dialect == "sqlite":
        return store.db.execute("PRAGMA user_version").fetchone()[0]
    return int(store.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])


def test_schema_version_and_newer_store_refused(tmp_path):
    open_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    open_store(tmp_path).close()  # re-opening migrates nothing and keeps the version
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        open_store(tmp_path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cameras_of_a_schema_3_store_are_verified_after_migration(tmp_path, backend, request):
    with database(backend, request) as url:
        with schema_at(3, tmp_path, url) as execute:
            execute("INSERT INTO cameras (id, name, source_url) VALUES ('old', 'Old', 'https://10.0.0.7/video.mjpg')")
        with open_store(tmp_path, url) as store:
            assert store.cameras.all() == [Camera("old", "Old", "https://10.0.0.7/video.mjpg")]
            assert store.cameras.all()[0].tls_verify is True


def _fill_schema_4(execute) -> dict[int, np.ndarray]:
    """Face sightings 1-6 with their own vector (1 and 2 re-embedded by a newer model too), plate sightings
    7-9 with their reads, alerts on 3 and 7, and sighting 10 deleted; returns each face sighting's own vector."""
    execute("INSERT INTO cameras (id, name, source_url) VALUES ('c', 'C', 'x')")
    execute(
        "INSERT INTO meta (key, value) VALUES ('face_model', ?), (?, '128'), (?, '512')",
        (OLD_MODEL, f"embedding_dim/{OLD_MODEL}", f"embedding_dim/{NEW_MODEL}"),
    )
    own = {}
    for i in range(1, 7):
        execute(
            "INSERT INTO sightings (camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, "
            "embedding, embedding_model, origin_kind) VALUES ('c', 'face', ?, ?, ?, 0, 0, 9, 9, 0.5, ?, ?, 'live')",
            (float(i), float(i), float(i), _vector(i, 128).tobytes(), OLD_MODEL),
        )
        own[i] = _vector(i, 128)
    for i in (1, 2):  # a re-embedding job gave these a vector of the new model as well
        execute(
            "INSERT INTO face_embeddings (model, sighting_id, embedding) VALUES (?, ?, ?)",
            (NEW_MODEL, i, _vector(100 + i, 512).tobytes()),
        )
    for i, text in ((7, "桂B12345"), (8, "粤A88123"), (9, "桂B99999")):
        execute(
            "INSERT INTO sightings (camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, "
            "plate_text, plate_confidences, origin_kind) VALUES ('c', 'plate', ?, ?, ?, 0, 0, 9, 9, 0.5, ?, '[]', "
            "'live')",
            (float(i), float(i), float(i), text),
        )
        execute(
            "INSERT INTO plate_reads (sighting_id, rank, text, norm, rnorm, confidence) VALUES (?, 0, ?, ?, ?, 0.9)",
            (i, text, text.replace("B", "8"), text.replace("B", "8")[::-1]),
        )
    execute(
        "INSERT INTO watchlist_entries (kind, label, reason, added_by, created_at, plate_pattern) "
        "VALUES ('plate', 'w', 'r', 'u', 1, '桂B*')"
    )
    execute("INSERT INTO alerts (entry_id, sighting_id, camera_id, created_at, score) VALUES (1, 7, 'c', 7, 1)")
    execute("INSERT INTO alerts (entry_id, sighting_id, camera_id, created_at, score) VALUES (1, 3, 'c', 3, 1)")
    execute(
        "INSERT INTO sightings (camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, "
        "plate_text, origin_kind) VALUES ('c', 'plate', 10, 10, 10, 0, 0, 9, 9, 0.5, 'X1', 'live')"
    )
    execute("DELETE FROM sightings WHERE id = 10")  # the id 10 was handed out once: it never comes back
    return own


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schema_4_store_moves_every_face_vector_to_face_embeddings(tmp_path, backend, request):
    with database(backend, request) as url:
        with schema_at(4, tmp_path, url) as execute:
            own = _fill_schema_4(execute)
        with open_store(tmp_path, url) as store:
            assert _version(store) == SCHEMA_VERSION
            assert {"embedding", "embedding_model"}.isdisjoint(_columns(store, "sightings"))
            assert store.integrity_problems() == []  # foreign keys, indexes, the plate trigram index
            # every vector kept, each under its model
            assert store.faces.counts() == {OLD_MODEL: 6, NEW_MODEL: 2}
            for i, vector in own.items():
                np.testing.assert_array_equal(store.faces.vector(i, OLD_MODEL), vector)
            np.testing.assert_array_equal(store.faces.vector(2, NEW_MODEL), _vector(102, 512))
            assert store.faces.searched_model() == OLD_MODEL and store.faces.dim() == 128
            assert [s.id for s in store.faces.to_embed(NEW_MODEL)] == [3, 4, 5, 6]
            batches = list(store.faces.batches(model=OLD_MODEL))
            np.testing.assert_array_equal(np.concatenate([b.ids for b in batches]), [1, 2, 3, 4, 5, 6])
            # plates are found through their indexes as before
            assert [h.sighting_id for h in store.plates.search("桂B*", PlateMode.WILDCARD)] == [9, 7]
            assert [h.sighting_id for h in store.plates.search("*8812?", PlateMode.WILDCARD)] == [8]
            assert store.plates.search("桂B12346", PlateMode.FUZZY)[0].sighting_id == 7
            assert store.sightings.get(7).plate.text == "桂B12345"
            # new rows: ids go on after the last one ever handed out; a face's vector goes with it
            store.cameras.save(Camera("cam-a", "A", "x"))
            new = store.sightings.add([face(20.0, _vector(20, 128)), plate(21.0, "桂B12345")])
            assert new == [11, 12] and store.faces.counts()[OLD_MODEL] == 7
            # deleting cascades as before: reads, vectors of every model, alerts
            deleted = store.sightings.delete_before(3.5)
            assert sorted(deleted.ids.tolist()) == [1, 2, 3] and store.faces.counts() == {OLD_MODEL: 4}
            assert [a.sighting_id for a in store.alerts.latest()] == [7]
            assert store.integrity_problems() == []
        with Catalog.open(tmp_path, url) as catalog:  # the face index builds from the moved vectors
            assert catalog.search_faces(own[5], 1)[0].sighting_id == 5


def test_stores_opened_at_once_migrate_a_new_database_once(tmp_path):
    """``skynet run`` and ``skynet serve`` (or a test polling the store) may open a new data directory together."""
    barrier, errors = threading.Barrier(4), []

    def open_once() -> None:
        barrier.wait()
        try:
            open_store(tmp_path, sweep_orphans=False).close()
        except StoreError as error:
            errors.append(error)

    threads = [threading.Thread(target=open_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with open_store(tmp_path) as store:
        assert _version(store) == SCHEMA_VERSION and store.integrity_problems() == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schema_5_store_keeps_its_webhook_deliveries_in_the_channel_outbox(tmp_path, backend, request):
    """The migration that made the outbox channel-aware (its number may change when migrations are merged)."""
    with database(backend, request) as url:
        with schema_at(5, tmp_path, url) as execute:
            for body, state in ((b"1", "pending"), (b"2", "done"), (b"3", "failed")):
                execute(
                    "INSERT INTO webhook_deliveries (target, body, created_at, next_attempt_at, state) "
                    "VALUES ('siem', ?, 1, 2, ?)",
                    (body, state),
                )
            execute(
                "INSERT INTO watchlist_entries (kind, label, reason, added_by, created_at, plate_pattern) "
                "VALUES ('plate', 'w', 'r', 'u', 1, '桂B*')"
            )
        with open_store(tmp_path, url) as store:
            assert _version(store) == SCHEMA_VERSION and store.integrity_problems() == []
            webhooks = store.outbox  # the webhook queue, as before
            assert [(d.id, d.body, d.state) for d in webhooks.deliveries()] == [
                (1, b"1", DeliveryState.PENDING),
                (2, b"2", DeliveryState.DONE),
                (3, b"3", DeliveryState.FAILED),
            ]
            (pending,) = webhooks.claim(10.0, 10, 30.0)
            assert pending.id == 1 and store.outbox.for_channel(Channel.SMS).claim(10.0, 10, 30.0) == []
            assert store.outbox.for_channel(Channel.SMS).enqueue("+8613800000001", b"x", 11.0) == 4  # ids go on
            assert [e.recipients for e in store.watchlists.all()] == [()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schema_8_store_takes_feed_records_and_keeps_its_rows(tmp_path, backend, request):
    """The migration of external feeds (its number may change when migrations are merged): sightings, watch-list
    entries and users are kept (SQLite rebuilds the tables whose CHECKs change), with their ids going on."""
    from skynet.accounts.model import Role, User
    from skynet.records import FeedDetail, SightingKind, SightingSource, WatchlistEntry

    with database(backend, request) as url:
        with schema_at(8, tmp_path, url) as execute:
            execute("INSERT INTO cameras (id, name, source_url) VALUES ('cam-a', 'A', 'rtsp://10.0.0.1/a')")
            execute(
                "INSERT INTO sightings (camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, "
                "plate_text, plate_confidences, origin_kind, latitude, longitude) VALUES ('cam-a', 'plate', 1, 2, "
                "1, 0, 0, 9, 9, 0.9, '桂B12345', '[0.9]', 'live', 22.8, 108.3)"
            )
            execute(
                "INSERT INTO watchlist_entries (kind, label, reason, added_by, created_at, plate_pattern) "
                "VALUES ('plate', 'w', 'r', 'u', 1, '桂B*')"
            )
            execute("INSERT INTO users (name, role, created_at) VALUES ('ann', 'admin', 1)")
        with open_store(tmp_path, url) as store:
            assert _version(store) == SCHEMA_VERSION and store.integrity_problems() == []
            (old,) = store.sightings.get_many([1])
            assert old.source is SightingSource.VIDEO and old.plate.text == "桂B12345" and old.position == (22.8, 108.3)
            assert [e.plate_pattern for e in store.watchlists.all()] == ["桂B*"]
            assert store.users.get_user("ann").role is Role.ADMIN
            store.users.add_user(User("gate", Role.FEED, 2.0))
            identity = store.identity_keys.seal("cn_id:11010519491231002X")
            entry = WatchlistEntry(SightingKind.IDENTITY, "p", "r", "u", 2.0, identity=identity)
            assert store.watchlists.add(entry) == 2
            read = plate(3.0, "桂A00001")
            new = store.sightings.add_new([type(read)(**{**_fields(read), "source": SightingSource.CHECKPOINT,
                                                          "feed": FeedDetail("k")})])  # fmt: skip
            assert new == [2]


def _fields(sighting) -> dict:
    return {name: getattr(sighting, name) for name in sighting.__dataclass_fields__}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schema_7_store_holds_its_evidence_and_keeps_positions(tmp_path, backend, request):
    """The migration of evidence holds and positions per sighting (its number may change when migrations are
    merged): sightings get their camera's position now, exported sightings and those with an acknowledged
    alert are held, and a held sighting cannot be deleted, not even by the database's own cascade."""
    with database(backend, request) as url:
        with schema_at(7, tmp_path, url) as execute:
            execute(
                "INSERT INTO cameras (id, name, source_url, latitude, longitude) VALUES ('a', 'A', 'x', 22.8, 108.3)"
            )
            execute("INSERT INTO cameras (id, name, source_url) VALUES ('b', 'B', 'y')")
            for n, camera in enumerate(("a", "a", "a", "b"), start=1):
                execute(
                    "INSERT INTO sightings (camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, "
                    "quality, plate_text, plate_confidences, origin_kind) "
                    "VALUES (?, 'plate', ?, ?, ?, 0, 0, 9, 9, 0.5, ?, '[0.9]', 'live')",
                    (camera, n, n, n, f"P{n}"),
                )
            execute(
                "INSERT INTO watchlist_entries (kind, label, reason, added_by, created_at, plate_pattern) "
                "VALUES ('plate', 'w', 'r', 'u', 1, 'P*')"
            )
            execute("INSERT INTO alerts (entry_id, sighting_id, camera_id, created_at, score) VALUES (1, 1, 'a', 1, 1)")
            execute(
                "INSERT INTO alerts (entry_id, sighting_id, camera_id, created_at, score, acknowledged_by, "
                "acknowledged_at) VALUES (1, 2, 'a', 2, 1, 'otto', 3)"
            )
            execute(
                "INSERT INTO audit_log (at, actor, action, reason, detail) VALUES (4, 'ivy', 'export.create', "
                "'case 1', ?)",
                ('{"export": "skynet-export-x", "sighting_ids": [3, 99]}',),
            )
        with Catalog.open(tmp_path, url) as catalog:
            store = catalog.store
            assert _version(store) == SCHEMA_VERSION
            assert [s.position for s in store.sightings.get_many([1, 2, 3, 4])] == [(22.8, 108.3)] * 3 + [None]
            assert store.holds.held([1, 2, 3, 4]) == {2, 3}
            deleted = catalog.delete_before(10.0)
            assert sorted(deleted.ids.tolist()) == [1, 4] and deleted.held_ids == (2, 3)
            assert deleted.alert_ids == (1,)
            assert [a.acknowledged_by for a in store.alerts.latest()] == ["otto"]
            with pytest.raises(StoreError):
                with store.db.write("deleting held evidence"):
                    store.db.execute("DELETE FROM sightings WHERE id = 2")
            assert {s.id for s in store.sightings.get_many([2, 3])} == {2, 3}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schema_14_store_keeps_its_jobs_and_takes_cancelled_ones(tmp_path, backend, request):
    """The migration of job cancellation (its number may change when migrations are merged): the jobs are kept
    (SQLite rebuilds the table whose CHECK widens), ids go on, and a job may now be cancelled."""
    from skynet.records import Job, JobState

    with database(backend, request) as url:
        with schema_at(14, tmp_path, url) as execute:
            execute(
                "INSERT INTO jobs (kind, created_by, created_at, updated_at, state, progress) "
                "VALUES ('reindex', 'ann', 1, 2, 'done', '{\"files_done\": 3}')"
            )
        with open_store(tmp_path, url) as store:
            assert _version(store) == SCHEMA_VERSION and store.integrity_problems() == []
            (old,) = store.jobs.latest()
            assert (old.id, old.state, old.progress) == (1, JobState.DONE, {"files_done": 3})
            new = store.jobs.add(Job("reindex", "bob", 3.0, 3.0, JobState.RUNNING))
            assert new == 2 and store.jobs.cancel(new, 4.0)
            assert store.jobs.get(new).state is JobState.CANCELLED
            with pytest.raises(StoreError), store.db.write("an unknown state"):
                store.db.execute("UPDATE jobs SET state = 'paused' WHERE id = 1")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schema_15_store_cuts_its_feed_keys_and_still_knows_its_records(tmp_path, backend, request):
    """The migration of shorter natural keys (its number may change when migrations are merged): a record stored
    under its whole SHA-256 before is found again by today's 128-bit key, so importing it again adds nothing."""
    import hashlib

    from skynet.services.feed_rows import FeedKind, RecordParser

    with database(backend, request) as url:
        with schema_at(15, tmp_path, url) as execute:
            execute("INSERT INTO cameras (id, name, source_url) VALUES ('cp-1', 'Gate', '')")
            execute(
                "INSERT INTO sightings (camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, "
                "plate_text, plate_confidences, origin_kind, source) VALUES ('cp-1', 'plate', 1.7e9, 1.7e9, 1.7e9, "
                "0, 0, 0, 0, 1, '桂A00001', '[1.0]', 'live', 'checkpoint')"
            )
            old_key = hashlib.sha256("checkpoint\x1fcp-1\x1fid\x1fR1".encode()).hexdigest()
            execute("INSERT INTO feed_records (sighting_id, feed_key) VALUES (1, ?)", (old_key,))
        with open_store(tmp_path, url) as store:
            assert _version(store) == SCHEMA_VERSION and store.integrity_problems() == []
            parser = RecordParser(store.identity_keys, lambda camera: True, lambda *place: "", lambda: 2e9)
            raw = {"plate": "桂A00001", "checkpoint": "cp-1", "time": "1700000000", "id": "R1"}
            again, other = (parser.parse(FeedKind.CHECKPOINT, {**raw, "id": i}).sighting for i in ("R1", "R2"))
            assert again.feed.key == old_key[:32]
            assert store.sightings.add_new([again, other]) == [None, 2]
            assert store.feeds.details([1])[1].key == old_key[:32]
