"""Embeddings of different models never share an index: a pack switch re-embeds every face (and
watch-list entry) in a resumable job, searches use the old index until it completes, then switch."""

from __future__ import annotations

import shutil
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from reembed_support import MODEL_A, MODEL_B, PixelFaces, face_frame, jpeg, store_faces
from store_support import database, database_url, open_catalog, schema_at  # noqa: F401 (database_url: a fixture)

from skynet.index.catalog import Catalog
from skynet.index.face_index import FaceIndex
from skynet.index.face_models import face_model_id, index_dir
from skynet.index.reembed import Reembedder, ReembedProgress, face_in_thumbnail, pending_switch
from skynet.models import all_packs, get_pack
from skynet.records import Alert, Box, Camera, JobState, Sighting, SightingKind, WatchlistEntry
from skynet.services.jobs import REEMBED, JobRunner
from skynet.services.reembed import ReembedWork
from skynet.store import open_store
from skynet.store.errors import InvalidSightingError, QueryError
from skynet.store.faces import DEFAULT_FACE_MODEL
from skynet.store.sighting_writes import SightingMedia
from skynet.watchlist import WatchlistMatcher

PEOPLE = [p for p in range(6) for _ in range(3)]  # 6 people, 3 sightings each


@pytest.fixture
def models() -> tuple[PixelFaces, PixelFaces]:
    return PixelFaces(16, seed=1), PixelFaces(24, seed=2)


def _open(tmp_path, url, model: str) -> Catalog:
    return open_catalog(tmp_path, url, face_model=model)


def _same_person(ids: list[int], people_by_id: dict[int, int], person: int) -> bool:
    return all(people_by_id[i] == person for i in ids)


def test_model_ids_of_the_packs():
    assert face_model_id("default") == DEFAULT_FACE_MODEL
    for pack in all_packs():  # a pack keeping its base pack's embedder keeps its base's model id
        base = get_pack(pack.base) if getattr(pack, "base", None) else None
        if base is not None and base.backends["face_embedder"] == pack.backends["face_embedder"]:
            assert face_model_id(pack.name) == face_model_id(base.name)
        elif base is not None:
            assert face_model_id(pack.name) == f"{pack.name}/{pack.backends['face_embedder']}"
    assert index_dir(Path("."), "a/b c").name == "a+b+c"


def test_face_in_thumbnail_follows_the_tracker_crop():
    frame, box = face_frame(0, 0)
    from skynet.tracking.track import crop_with_origin

    _, (x0, y0) = crop_with_origin(frame, box, 0.25)
    expected = face_in_thumbnail(box, 0.25)
    assert (expected.x1, expected.y1) == (box.x1 - x0, box.y1 - y0)
    edge = Box(3, 2, 43, 52)  # clipped at the frame's corner
    assert (face_in_thumbnail(edge, 0.25).x1, face_in_thumbnail(edge, 0.25).y1) == (3, 2)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_schema_2_stores_are_migrated_to_the_default_model(tmp_path, backend, request):
    """Rows written before embeddings recorded their model get the default model's id."""
    vector = np.linspace(1, 2, 128).astype("<f4")
    vector /= np.linalg.norm(vector)
    blob = vector.tobytes()
    with database(backend, request) as url:
        with schema_at(2, tmp_path, url) as execute:
            execute("INSERT INTO cameras (id, name, source_url) VALUES ('c', 'C', 'x')")
            execute(
                "INSERT INTO sightings (camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, "
                "embedding, origin_kind) VALUES ('c', 'face', 1, 2, 1, 0, 0, 9, 9, 0.5, ?, 'live')",
                (blob,),
            )
            execute(
                "INSERT INTO sightings (camera_id, kind, first_seen, last_seen, best_time, x1, y1, x2, y2, quality, "
                "plate_text, origin_kind) VALUES ('c', 'plate', 1, 2, 1, 0, 0, 9, 9, 0.5, 'A1', 'live')"
            )
            execute(
                "INSERT INTO watchlist_entries (kind, label, reason, added_by, created_at, embeddings, "
                "embedding_count) VALUES ('face', 'old', 'r', 'u', 1, ?, 1)",
                (blob,),
            )
            execute("INSERT INTO meta (key, value) VALUES ('embedding_dim', '128')")
        with Catalog.open(tmp_path, url) as catalog:
            store = catalog.store
            assert store.faces.searched_model() == catalog.face_model == DEFAULT_FACE_MODEL
            assert store.faces.dim() == 128 and store.faces.counts() == {DEFAULT_FACE_MODEL: 1}
            assert [e.label for e in store.watchlists.all() if e.embeddings] == ["old"]
            np.testing.assert_allclose(catalog.search_faces(vector, 1)[0].similarity, 1.0, rtol=1e-5)
            assert store.watchlists.photos(store.watchlists.all()[0].id) == []


def test_vectors_of_two_models_never_mix(tmp_path, database_url, models):
    a, b = models
    with _open(tmp_path, database_url, MODEL_A) as catalog:
        old = store_faces(catalog, a, PEOPLE)
    frame, _ = face_frame(0, 99)
    with _open(tmp_path, database_url, MODEL_B) as catalog:
        assert pending_switch(catalog) and catalog.face_model == MODEL_A
        new = store_faces(catalog, b, [0, 1], t0=100.0)  # live workers already embed with model B
        store = catalog.store
        assert store.faces.counts() == {MODEL_A: len(old), MODEL_B: 2}
        # searches use model A's index: B's vectors are not in it, a B query is refused
        hits = catalog.search_faces(a.vector(frame), 50)
        assert {h.sighting_id for h in hits} == set(old)
        with pytest.raises(QueryError, match="24 dimensions"):
            catalog.search_faces(b.vector(frame), 5)
        with pytest.raises(QueryError, match="model"):
            catalog.search_faces(a.vector(frame), 5, model=MODEL_B)
        # B's own index holds only B's vectors
        assert set(catalog.index(MODEL_B).ids()) == set(new)
        # a vector of the wrong size for its model is refused by the store
        with pytest.raises(InvalidSightingError, match="dimensions"):
            store.faces.add(MODEL_B, [old[0]], [a.vector(frame)])
        # search by sighting id takes the searched model's vector of that sighting
        np.testing.assert_allclose(catalog.face_embedding(old[0]), store.faces.vector(old[0], MODEL_A))
        assert catalog.face_embedding(new[0]) is None
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["test+pixels16", "test+pixels24"]


def test_search_uses_the_old_index_until_the_job_switches(tmp_path, database_url, models):
    a, b = models
    with _open(tmp_path, database_url, MODEL_A) as catalog:
        old = store_faces(catalog, a, PEOPLE)
    people_by_id = dict(zip(old, PEOPLE))
    gate, paused = threading.Event(), threading.Event()

    class SlowB(PixelFaces):
        def embed_faces(self, image, faces):
            if self.embedded == 4:  # hold the job after its first batch
                paused.set()
                gate.wait(30)
            return super().embed_faces(image, faces)

    slow_b = SlowB(24, seed=2)
    frame, _ = face_frame(2, 77)
    with _open(tmp_path, database_url, MODEL_B) as catalog:
        runner = JobRunner(catalog.store.jobs, lambda: 5.0)
        job = runner.submit(REEMBED, "tester", ReembedWork(Reembedder(catalog, slow_b, MODEL_B, batch_size=4)))
        assert paused.wait(30)
        running = catalog.store.jobs.get(job.id)
        assert running.kind == "reembed" and running.state is JobState.RUNNING
        assert running.progress["faces_total"] == len(old) and running.progress["faces_done"] == 4
        assert running.params == {"from_model": MODEL_A, "to_model": MODEL_B}
        assert catalog.face_model == catalog.store.faces.searched_model() == MODEL_A
        hits = catalog.search_faces(a.vector(frame), 3)
        assert _same_person([h.sighting_id for h in hits], people_by_id, 2)
        gate.set()
        runner.join(30)
        done = catalog.store.jobs.get(job.id)
        assert done.state is JobState.DONE and done.progress["switched"] and done.progress["faces_done"] == len(old)
        assert catalog.face_model == catalog.store.faces.searched_model() == MODEL_B and not pending_switch(catalog)
        hits = catalog.search_faces(b.vector(frame), 3)
        assert _same_person([h.sighting_id for h in hits], people_by_id, 2)
        assert hits[0].similarity > 0.95
        with pytest.raises(QueryError):
            catalog.search_faces(a.vector(frame), 3)
    with _open(tmp_path, database_url, MODEL_B) as catalog:  # the switch is in the store: it persists
        assert catalog.face_model == MODEL_B and len(catalog.faces.ids()) == len(old)


class _Killed(BaseException):
    """Stands for the process dying mid-job (nothing is closed or saved)."""


def test_a_killed_job_resumes_where_it_stopped(tmp_path, database_url, models):
    a, b = models
    with _open(tmp_path, database_url, MODEL_A) as catalog:
        old = store_faces(catalog, a, PEOPLE)

    class DyingB(PixelFaces):
        def embed_faces(self, image, faces):
            if self.embedded == 7:
                raise _Killed
            return super().embed_faces(image, faces)

    catalog = _open(tmp_path, database_url, MODEL_B)
    first = ReembedWork(Reembedder(catalog, DyingB(24, seed=2), MODEL_B, batch_size=3))
    with pytest.raises(_Killed):
        JobRunner(catalog.store.jobs, lambda: 1.0).run(REEMBED, "tester", first)
    [killed] = catalog.store.jobs.latest(1)
    catalog.store.close()  # indexes never saved: as after a kill
    with _open(tmp_path, database_url, MODEL_B) as catalog:
        assert JobRunner(catalog.store.jobs, lambda: 2.0).start() == 1  # what skynet serve does at start
        assert catalog.store.jobs.get(killed.id).state is JobState.FAILED
        assert catalog.face_model == MODEL_A and len(catalog.index(MODEL_B).ids()) == 6  # two batches were stored
        b.embedded = 0
        runner = JobRunner(catalog.store.jobs, lambda: 3.0)
        second = runner.run(REEMBED, "tester", ReembedWork(Reembedder(catalog, b, MODEL_B, batch_size=3)))
        assert second.state is JobState.DONE and b.embedded == len(old) - 6  # nothing embedded twice
        assert second.progress["faces_total"] == len(old) - 6
        assert catalog.face_model == MODEL_B
        np.testing.assert_array_equal(catalog.faces.ids(), sorted(old))


def test_watchlist_entries_are_reembedded_from_their_photos(tmp_path, database_url, models):
    a, b = models
    photo_frame, _ = face_frame(3, 5)
    with _open(tmp_path, database_url, MODEL_A) as catalog:
        store_faces(catalog, a, PEOPLE[:6])
        store = catalog.store
        kept = store.watchlists.add(
            WatchlistEntry(SightingKind.FACE, "with photo", "case 1", "ann", 1.0, embeddings=(a.vector(photo_frame),)),
            photos=[jpeg(photo_frame)],
        )
        legacy = store.watchlists.add(
            WatchlistEntry(SightingKind.FACE, "legacy", "case 2", "ann", 1.0, embeddings=(a.vector(photo_frame),))
        )
        plate = store.watchlists.add(
            WatchlistEntry(SightingKind.PLATE, "car", "case 3", "ann", 1.0, plate_pattern="A123")
        )
        assert store.watchlists.photos(kept) == [jpeg(photo_frame)]
    alerts: list[Alert] = []
    with _open(tmp_path, database_url, MODEL_B) as catalog:
        store = catalog.store
        matcher = WatchlistMatcher(
            store,
            lambda alert, entry, s: alerts.append(alert),
            0.9,
            refresh_s=0.0,
            clock=lambda: 10.0,
            model=catalog.live_model,
        )
        frame, box = face_frame(3, 6)
        live = Sighting("cam-a", SightingKind.FACE, 9.0, 9.5, 9.0, box, 0.9, embedding=b.vector(frame), id=1)
        assert matcher([live]) == []  # no model-B reference yet: never compared with model-A vectors
        progress = ReembedProgress()
        Reembedder(catalog, b, MODEL_B, on_watchlist_change=matcher.invalidate).run(progress)
        assert progress.watchlist_done == 1 and progress.watchlist_without_photos == 1
        assert any(f"entry {legacy} " in error and "no kept photos" in error for error in progress.errors)
        assert [a.entry_id for a in matcher([live])] == [kept]
        by_id = {e.id: e for e in store.watchlists.all()}  # the searched model is B now
        assert len(by_id[kept].embeddings) == 1 and by_id[legacy].embeddings == ()
        assert by_id[plate].plate_pattern == "A123"
        assert len({e.id: e for e in store.watchlists.all(MODEL_A)}[legacy].embeddings) == 1  # A's are kept


def test_each_model_index_is_rebuilt_from_the_store(tmp_path, database_url, models):
    a, b = models
    with _open(tmp_path, database_url, MODEL_A) as catalog:
        old = store_faces(catalog, a, PEOPLE)
    with _open(tmp_path, database_url, MODEL_B) as catalog:
        new = store_faces(catalog, b, [4], t0=50.0)
        Reembedder(catalog, b, MODEL_B).run(ReembedProgress())
    shutil.rmtree(tmp_path / "index")
    with closing(open_store(tmp_path, database_url)) as store:
        for model, expected in ((MODEL_A, old), (MODEL_B, old + new)):
            index = FaceIndex(index_dir(tmp_path, model), model=model)
            assert index.rebuild(store.faces) == len(expected)
            np.testing.assert_array_equal(index.ids(), sorted(expected))
            assert index.status().model == model and index.status().dim == (16 if model == MODEL_A else 24)
            index.close()
    frame, _ = face_frame(4, 51)
    with _open(tmp_path, database_url, MODEL_B) as catalog:
        assert catalog.search_faces(b.vector(frame), 1)[0].sighting_id in {*new, *old[12:15]}


def test_a_job_with_faces_it_cannot_find_still_switches_and_says_so(tmp_path, models):
    a, b = models
    with _open(tmp_path, None, MODEL_A) as catalog:
        ids = store_faces(catalog, a, [0, 1])
        (tmp_path / catalog.store.sightings.get(ids[0]).thumbnail_path).unlink()
    with _open(tmp_path, None, MODEL_B) as catalog:
        runner = JobRunner(catalog.store.jobs, lambda: 1.0)
        result = runner.run(REEMBED, "tester", ReembedWork(Reembedder(catalog, b, MODEL_B)))
        assert result.state is JobState.DONE and result.progress["faces_failed"] == 1
        assert list(catalog.faces.ids()) == [ids[1]]


class _ProjectedDlib:
    """Model B for the real-model test: the default pack's faces, their dlib embeddings turned by a
    fixed random rotation into 64 dimensions (another embedding space with the same notion of who is who)."""

    def __init__(self, analyzer) -> None:
        self.analyzer = analyzer
        rotation, _ = np.linalg.qr(np.random.default_rng(7).standard_normal((128, 128)))
        self.projection = rotation[:64].astype(np.float32)

    def project(self, vector: np.ndarray) -> np.ndarray:
        out = self.projection @ vector
        return out / np.linalg.norm(out)

    def analyze(self, image, faces=True, plates=True, embed=True):
        found = self.analyzer.analyze(image, plates=False, embed=False)
        found.faces = self.embed_faces(image, found.faces) if embed else found.faces
        return found

    def embed_faces(self, image, faces):
        return [f.with_embedding(self.project(f.embedding)) for f in self.analyzer.embed_faces(image, faces)]


def _nearest_same_identity(catalog: Catalog, vectors: dict[int, np.ndarray], who: dict[int, str]) -> float:
    """Share of sightings whose nearest other sighting shows the same person."""
    right = 0
    for sighting_id, vector in vectors.items():
        hits = [h for h in catalog.search_faces(vector, 2) if h.sighting_id != sighting_id]
        right += who[hits[0].sighting_id] == who[sighting_id]
    return right / len(vectors)


@pytest.mark.slow
def test_real_dlib_faces_are_reembedded_from_their_thumbnails(tmp_path, analyzer, shared_data):
    """Real faces (LFW), the real default pack as model A, a rotated dlib space as model B: every
    face is found again on its thumbnail and searches on B find people as well as on A."""
    import csv

    import cv2

    from skynet.tracking.track import crop

    data = shared_data("faces_identities")
    with (data / "labels.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["source"] == "lfw_krasserm"]
    people = sorted({r["identity"] for r in rows})[:4]
    rows = [r for p in people for r in [r for r in rows if r["identity"] == p][:5]]
    model_b = _ProjectedDlib(analyzer)
    with _open(tmp_path, None, DEFAULT_FACE_MODEL) as catalog:
        catalog.store.cameras.save(Camera("cam-x", "X", "rtsp://x"))
        sightings, media, who_rows = [], [], []
        for n, row in enumerate(rows):
            image = cv2.imread(str(data / "images" / row["filename"]))
            face = max(analyzer.analyze(image, plates=False).faces, key=lambda f: f.box.area)
            sightings.append(Sighting("cam-x", SightingKind.FACE, n, n + 1, n, face.box, 0.9, embedding=face.embedding))
            media.append(SightingMedia(thumbnail=jpeg(crop(image, face.box, 0.25)), context=jpeg(image)))
            who_rows.append(row["identity"])
        ids = catalog.add_sightings(sightings, media)
        who = dict(zip(ids, who_rows))
        old_vectors = {i: catalog.face_embedding(i) for i in ids}
        share_a = _nearest_same_identity(catalog, old_vectors, who)
    with _open(tmp_path, None, "test/dlib_rotated") as catalog:
        progress = ReembedProgress()
        assert Reembedder(catalog, model_b, "test/dlib_rotated").run(progress)
        assert progress.faces_failed == 0 and progress.faces_done == len(ids)
        new_vectors = {i: catalog.face_embedding(i) for i in ids}
        agreement = [float(new_vectors[i] @ model_b.project(old_vectors[i])) for i in ids]
        assert min(agreement) > 0.9, agreement  # the same face was found again on the thumbnail
        share_b = _nearest_same_identity(catalog, new_vectors, who)
        assert share_b >= share_a - 0.1 and share_b >= 0.8, (share_a, share_b)


def test_retention_removes_every_model_vector(tmp_path, database_url, models):
    a, b = models
    with _open(tmp_path, database_url, MODEL_A) as catalog:
        old = store_faces(catalog, a, PEOPLE[:6])
    with _open(tmp_path, database_url, MODEL_B) as catalog:
        Reembedder(catalog, b, MODEL_B).run(ReembedProgress())
        deleted = catalog.delete_before(3.0)  # sightings at t = 0, 1, 2
        assert sorted(deleted.face_ids) == old[:3]
        assert catalog.store.faces.counts() == {MODEL_A: 3, MODEL_B: 3}
        assert list(catalog.index(MODEL_A).ids()) == list(catalog.faces.ids()) == old[3:]
