"""The SQLite sighting store: round trips, validation, atomic batches, media files, schema, full disks."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace

import numpy as np
import pytest
from store_support import database_url, face, jpeg, media, open_catalog, plate  # noqa: F401 (fixture)

from skynet.records import Alert, AuditEvent, Camera, Origin, SightingKind, WatchlistEntry
from skynet.store import open_store
from skynet.store.errors import InvalidSightingError, StorageFullError, StoreError, UnknownCameraError
from skynet.store.jobs import FileState
from skynet.store.sighting_writes import SightingMedia


def _vector(seed: int, dim: int = 128) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def _media_files(root) -> list[str]:
    return sorted(p.name for d in ("thumbnails", "context") for p in (root / d).glob("*/*") if (root / d).is_dir())


def test_round_trip_face_and_plate_with_media(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        vector = _vector(1) * 3.0
        ids = catalog.add_sightings(
            [face(100.0, vector), plate(200.0, "桂b·12345", alternatives=(("桂B12845", 0.4),))], [media(1), None]
        )
        got_face = catalog.store.sightings.get(ids[0])
        got_plate = catalog.store.sightings.get(ids[1])
        stored_vector = catalog.store.faces.vector(ids[0])
    assert got_face.kind is SightingKind.FACE and got_face.id == ids[0] and got_face.embedding is None
    np.testing.assert_allclose(stored_vector, vector / np.linalg.norm(vector), rtol=1e-6)
    assert (tmp_path / got_face.thumbnail_path).read_bytes() == jpeg(1)
    assert (tmp_path / got_face.context_path).read_bytes() == jpeg(2)
    assert got_plate.plate.text == "桂B12345" and got_plate.plate.alternatives == (("桂B12845", 0.4),)
    assert got_plate.embedding is None and got_plate.origin == Origin()


def test_rows_written_in_one_statement_keep_every_value_exactly(tmp_path):
    """SQLite takes a batch's rows as one JSON array (one statement, each row's text made ahead): times with every digit, odd quality and
    text come back as they went in, and a retried live sighting is found by its exact start."""
    rng = np.random.default_rng(5)
    times = [float(t) for t in rng.uniform(1.7e9, 1.8e9, 200)]
    sightings = [
        replace(plate(t, "桂B12345"), quality=float(q), track_id=i)
        for i, (t, q) in enumerate(zip(times, rng.random(200)))
    ]
    with open_catalog(tmp_path) as catalog:
        assert catalog.store.sightings.check(sightings).encoded is not None  # the rows' JSON made ahead is used
        ids = catalog.store.sightings.add(sightings)
        back = catalog.store.sightings.get_many(ids)
        assert [(s.first_seen, s.quality, s.plate.text) for s in back] == [
            (s.first_seen, s.quality, "桂B12345") for s in sightings
        ]
        assert catalog.store.sightings.add_once(sightings[:3]).new == [False] * 3


def test_get_sightings_in_the_order_asked_skipping_missing(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        ids = catalog.add_sightings(
            [face(1.0, _vector(1)), plate(2.0, "粤A12345", alternatives=(("粤A12845", 0.3),)), plate(3.0, "桂B12345")]
        )
        got = catalog.store.sightings.get_many([ids[2], 999_999, ids[0], ids[1]])
        assert [s.id for s in got] == [ids[2], ids[0], ids[1]]
        assert got[2].plate.alternatives == (("粤A12845", 0.3),) and got[0].plate.alternatives == ()
        assert [s.plate for s in got] == [catalog.store.sightings.get(i).plate for i in (ids[2], ids[0], ids[1])]
        assert catalog.store.sightings.get_many([]) == []


def test_readers_on_other_threads_never_see_a_write_before_its_commit(tmp_path):
    import threading

    with open_catalog(tmp_path) as catalog:
        store = catalog.store
        inside, release, seen = threading.Event(), threading.Event(), []

        def write() -> None:
            with store.db.write("a test write"):
                store.db.execute("INSERT INTO meta (key, value) VALUES ('probe', 'x')")
                inside.set()
                release.wait(10)

        writer = threading.Thread(target=write)
        writer.start()
        assert inside.wait(10)
        seen.append(store.db.execute("SELECT count(*) FROM meta WHERE key = 'probe'").fetchone()[0])
        release.set()
        writer.join(10)
        seen.append(store.db.execute("SELECT count(*) FROM meta WHERE key = 'probe'").fetchone()[0])
    assert seen == [0, 1]


@pytest.mark.parametrize(
    "bad, error",
    [
        (lambda: face(1.0, np.full(128, np.nan, np.float32)), InvalidSightingError),
        (lambda: face(1.0, np.zeros(128, np.float32)), InvalidSightingError),
        (lambda: face(1.0, _vector(2, 64)), InvalidSightingError),
        (lambda: face(1.0, _vector(2), camera="no-such-camera"), UnknownCameraError),
        (lambda: plate(1.0, "  "), InvalidSightingError),
        (lambda: plate(1.0, ""), InvalidSightingError),
        (lambda: face(float("nan"), _vector(2)), InvalidSightingError),
    ],
)
def test_bad_sighting_refused_and_batch_left_out_whole(database_url, tmp_path, bad, error):
    with open_catalog(tmp_path, database_url) as catalog:
        catalog.add_sightings([face(0.0, _vector(0))])
        before = catalog.store.sightings.counts()
        with pytest.raises(error) as caught:
            catalog.add_sightings([face(1.0, _vector(1)), plate(2.0, "粤A12345"), bad()], [media(5), media(6), None])
        assert "secret" not in str(caught.value)
        assert catalog.store.sightings.counts() == before
        assert catalog.faces.status().vectors == 1
        assert len(_media_files(tmp_path)) == 0  # the media of the refused batch was removed


def test_non_jpeg_media_and_foreign_paths_refused(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        with pytest.raises(InvalidSightingError, match="JPEG"):
            catalog.add_sightings([face(1.0, _vector(1))], [SightingMedia(thumbnail=b"GIF89a")])
        outside = face(1.0, _vector(1))
        object.__setattr__(outside, "thumbnail_path", "../../etc/passwd")
        with pytest.raises(InvalidSightingError, match="not inside"):
            catalog.add_sightings([outside])
        assert catalog.store.sightings.counts() == {"face": 0, "plate": 0, "identity": 0}


def test_camera_tls_settings_round_trip(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        private = Camera("tls-a", "A", "https://u:pw@10.0.0.9/video.mjpg", tls_ca_file="/etc/skynet/ca.pem")
        trusting = Camera("tls-b", "B", "rtsps://10.0.0.8/live", 22.5, 108.3, ("gate",), tls_verify=False)
        store.cameras.save(private)
        store.cameras.save(trusting)
        cameras = {c.id: c for c in store.cameras.all()}
        assert cameras["tls-a"] == private and cameras["tls-b"] == trusting
        assert (cameras["cam-a"].tls_verify, cameras["cam-a"].tls_ca_file) == (True, None)  # the defaults
        store.cameras.save(replace(private, tls_verify=False, tls_ca_file=None))
        store.cameras.save(replace(trusting, tls_verify=True, tls_ca_file="/srv/ca b.pem"))
    with open_catalog(tmp_path, database_url) as catalog:
        cameras = {c.id: c for c in catalog.store.cameras.all()}
    assert (cameras["tls-a"].tls_verify, cameras["tls-a"].tls_ca_file) == (False, None)
    assert (cameras["tls-b"].tls_verify, cameras["tls-b"].tls_ca_file) == (True, "/srv/ca b.pem")


def test_audit_log_is_append_only(database_url, tmp_path):
    store = open_store(tmp_path, database_url)
    store.audit.append(AuditEvent(at=1.0, actor="alice", action="search.face", reason="case 42", detail={"k": 10}))
    assert store.audit.events()[0].detail == {"k": 10}
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(StoreError, match="append-only"):
            with store.db.write("tampering"):
                store.db.execute(statement)
    assert [e.actor for e in store.audit.events()] == ["alice"]
    store.close()


def test_orphan_media_swept_at_open(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        sid = catalog.add_sightings([face(1.0, _vector(1))], [media(1)])[0]
        kept = catalog.store.sightings.get(sid)
    orphan = tmp_path / "thumbnails" / "ab" / ("ab" + "0" * 30 + ".jpg")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(jpeg(9))
    partial = tmp_path / "context" / "cd" / "partial.jpg.tmp"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"\xff\xd8")
    store = open_store(tmp_path, database_url)
    assert store.orphans_removed == 2 and not orphan.exists() and not partial.exists()
    assert (tmp_path / kept.thumbnail_path).is_file() and (tmp_path / kept.context_path).is_file()
    assert store.integrity_problems() == []
    store.close()


def test_file_state_round_trip(database_url, tmp_path):
    store = open_store(tmp_path, database_url)
    state = FileState("/archive/a.mp4", 1234, 5.0, "default", "running", frames_done=250, updated_at=9.0)
    store.jobs.set_file_state(state)
    assert store.jobs.file_state("/archive/a.mp4") == state
    store.jobs.set_file_state(FileState("/archive/a.mp4", 1234, 5.0, "default", "done", 900, "ab" * 32, 10.0))
    assert store.jobs.file_state("/archive/a.mp4").status == "done"
    assert store.jobs.file_state("/archive/b.mp4") is None
    store.close()


def test_archive_origin_kept(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        sighting = face(1.0, _vector(1))
        object.__setattr__(sighting, "origin", Origin("archive", "/archive/a.mp4", 12.5))
        sid = catalog.add_sightings([sighting])[0]
        assert catalog.store.sightings.get(sid).origin == Origin("archive", "/archive/a.mp4", 12.5)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs mounted in tmp_path (needs root; skipped otherwise)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_a_clear_error_and_loses_nothing(small_disk):
    big = np.random.default_rng(0).integers(0, 255, (160, 160, 3), dtype=np.uint8)
    import cv2

    thumbnail = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes()
    stored = 0
    with open_catalog(small_disk, autosave_every=10**9) as catalog:
        with pytest.raises(StorageFullError, match="disk full"):
            for i in range(1000):
                batch = [face(float(i * 5 + j), _vector(i * 5 + j)) for j in range(5)]
                catalog.add_sightings(batch, [SightingMedia(thumbnail=thumbnail)] * 5)
                stored += 5
        assert catalog.store.sightings.counts()["face"] == stored > 0
        # still usable: free space by deleting old sightings, then write again
        catalog.delete_before(float(stored * 0.8))
        catalog.add_sightings([face(1e6, _vector(1))], [SightingMedia(thumbnail=jpeg(1))])
    store = open_store(small_disk)
    assert store.integrity_problems() == []
    assert store.sightings.counts()["face"] == stored - int(stored * 0.8) + 1
    store.close()


def test_retention_runs_on_a_disk_full_to_the_last_block(small_disk):
    with open_catalog(small_disk) as catalog:
        catalog.add_sightings([face(float(i), _vector(i)) for i in range(10)], [media(i) for i in range(10)])
        reserve = small_disk / "skynet.db.reserve"
        assert reserve.stat().st_size > 0
        with open(small_disk / "filler", "wb", buffering=0) as filler:  # another program takes the last block
            with pytest.raises(OSError):
                while True:
                    filler.write(b"\0" * 4096)
        assert os.statvfs(small_disk).f_bavail == 0
        with pytest.raises(StorageFullError, match="disk full"):
            catalog.add_sightings([face(20.0, _vector(20))], [media(20)])
        # the deletion writes in the room of the reserve; the reserve comes back once there is room for it
        deleted = catalog.delete_before(8.0)
        assert len(deleted.ids) == 8 and deleted.files == 16 and not reserve.exists()
        catalog.add_sightings([face(21.0, _vector(21))], [media(21)])
        (small_disk / "filler").unlink()
        assert len(catalog.delete_before(1.0).ids) == 0 and reserve.exists()
    store = open_store(small_disk)
    assert store.integrity_problems() == [] and store.sightings.counts()["face"] == 3
    store.close()


def test_watchlist_and_alerts_follow_their_sighting(database_url, tmp_path):
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        sid = catalog.add_sightings([face(5.0, _vector(5))])[0]
        face_entry = store.watchlists.add(
            WatchlistEntry(SightingKind.FACE, "suspect", "case 7", "alice", 1.0, embeddings=(_vector(5), _vector(6)))
        )
        store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "stolen", "case 8", "bob", 2.0, plate_pattern="桂B*45"))
        with pytest.raises(InvalidSightingError):
            store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "x", "y", "z", 3.0))
        entries = store.watchlists.all()
        assert [e.label for e in entries] == ["suspect", "stolen"] and len(entries[0].embeddings) == 2
        plate_entry = store.watchlists.add(
            WatchlistEntry(SightingKind.PLATE, "quiet", "case 9", "bob", 2.0, plate_pattern="粤B*", cooldown_s=90.0)
        )
        assert store.watchlists.all()[-1].cooldown_s == 90.0 and entries[1].cooldown_s is None
        alert_id = store.alerts.add(Alert(face_entry, sid, "cam-a", 6.0, 0.93, track_id=3, last_seen=7.0))
        assert [(a.sighting_id, a.score) for a in store.alerts.latest()] == [(sid, 0.93)]
        # a later sighting of the pass: counted; its score and sighting replace the alert's only when better
        later = catalog.add_sightings([face(8.0, _vector(5))])[0]
        worse = store.alerts.fold(alert_id, later, 0.92, 9.0, 10.0)
        assert (worse.sighting_id, worse.score, worse.sightings, worse.last_seen, worse.updated_at) == (
            sid, 0.93, 2, 9.0, 10.0
        )  # fmt: skip
        better = store.alerts.fold(alert_id, later, 0.97, 8.5, 11.0)
        assert (better.sighting_id, better.score, better.sightings, better.last_seen) == (later, 0.97, 3, 9.0)
        assert (
            store.alerts.last_of(face_entry, "cam-a").id == alert_id
            and store.alerts.last_of(plate_entry, "cam-a") is None
        )
        other = store.alerts.add(Alert(plate_entry, sid, "cam-a", 12.0, 0.99))
        assert store.alerts.acknowledge_all("carol", 13.0, entry_id=plate_entry) == [other]
        assert store.alerts.acknowledge_all("carol", 14.0) == [alert_id]
        assert {a.acknowledged_at for a in store.alerts.latest()} == {13.0, 14.0}
        catalog.delete_before(10.0)
        assert store.alerts.latest() == []  # alerts go with the sighting they point at


def test_postgres_errors_never_show_the_password(tmp_path):
    with pytest.raises(StoreError) as caught:
        open_store(tmp_path, "postgresql://skynet:hunter2@127.0.0.1:1/skynet")
    assert "hunter2" not in str(caught.value) and "127.0.0.1" in str(caught.value)
