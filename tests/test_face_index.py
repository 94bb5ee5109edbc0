"""The derived FAISS face index: time partitions, exact and compressed (IVF-SQ8, re-ranked) search, filters
inside the search, persistence, broken partitions rebuilt from the store."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest
from store_support import CAMERAS, face, open_catalog

from skynet.index.catalog import INDEX_DIR
from skynet.index.face_index import FaceIndex
from skynet.index.face_models import index_dir
from skynet.index.face_partition import Partition
from skynet.index.synthetic import clustered_embeddings
from skynet.index.vector_file import VectorFile
from skynet.store import open_store
from skynet.store.errors import QueryError, StorageFullError, StoreError
from skynet.store.faces import DEFAULT_FACE_MODEL


def _fill(catalog, vectors: np.ndarray, batch: int = 500, first: int = 0) -> np.ndarray:
    """Store ``vectors`` as face sightings at t = first + row, cameras in turn; returns their ids."""
    ids = []
    for start in range(0, len(vectors), batch):
        ids += catalog.add_sightings(
            [
                face(float(first + i), vectors[i], CAMERAS[(first + i) % 3])
                for i in range(start, min(len(vectors), start + batch))
            ]
        )
    return np.array(ids)


def _brute_force(vectors, ids, query, k, keep=None):
    scores = vectors @ (query / np.linalg.norm(query))
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(ids[i]) for i in order if np.isfinite(scores[i])]


@pytest.fixture
def filled(tmp_path):
    vectors, _ = clustered_embeddings(3000, identities=100, seed=1)
    catalog = open_catalog(tmp_path)
    ids = _fill(catalog, vectors)
    yield catalog, vectors, ids
    catalog.close()


def test_exact_search_matches_brute_force(filled):
    catalog, vectors, ids = filled
    for row in (0, 17, 2999):
        hits = catalog.search_faces(vectors[row], 10)
        assert [h.sighting_id for h in hits] == _brute_force(vectors, ids, vectors[row], 10)
        assert hits[0].sighting_id == ids[row] and hits[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_filters_are_applied_inside_the_search(filled):
    catalog, vectors, ids = filled
    times = np.arange(len(vectors), dtype=float)
    cams = np.array([CAMERAS[i % 3] for i in range(len(vectors))])
    query = vectors[0]  # its 10 nearest neighbours are mostly outside the filters below
    keep = (times >= 2000) & (times <= 2100) & (cams == "cam-b")
    hits = catalog.search_faces(query, 10, since=2000, until=2100, cameras=["cam-b"])
    assert [h.sighting_id for h in hits] == _brute_force(vectors, ids, query, 10, keep)
    assert len(hits) == 10
    assert catalog.search_faces(query, 10, cameras=["nowhere"]) == []
    threshold = hits[4].similarity
    above = catalog.search_faces(query, 10, since=2000, until=2100, cameras=["cam-b"], min_similarity=threshold)
    assert [h.sighting_id for h in above] == [h.sighting_id for h in hits[:5]]


def test_bad_queries_refused(filled):
    catalog = filled[0]
    with pytest.raises(QueryError):
        catalog.search_faces(np.full(128, np.nan, np.float32))
    with pytest.raises(QueryError):
        catalog.search_faces(np.zeros(128, np.float32))
    with pytest.raises(QueryError, match="dimensions"):
        catalog.search_faces(np.ones(64, np.float32))
    with pytest.raises(QueryError):
        catalog.search_faces(np.ones(128, np.float32), k=0)


def test_removed_vectors_never_returned(filled):
    catalog, vectors, ids = filled
    deleted = catalog.delete_before(1500.0)
    assert len(deleted.face_ids) == 1500
    hits = catalog.search_faces(vectors[10], 50)
    assert all(h.sighting_id > ids[1499] for h in hits)
    assert catalog.faces.status().vectors == 1500
    catalog.faces.wait_for_build()  # half the rows deleted: the partition is compacted in the background
    assert catalog.faces.status().deleted_rows == 0
    assert all(h.sighting_id > ids[1499] for h in catalog.search_faces(vectors[10], 50))


def test_time_filter_touches_only_its_partitions_and_retention_drops_them(tmp_path, monkeypatch):
    vectors, _ = clustered_embeddings(3000, identities=100, seed=5)
    with open_catalog(tmp_path, partition_s=1000) as catalog:
        ids = _fill(catalog, vectors)
        assert catalog.faces.status().partitions == 3
        searched = []
        original = Partition.search
        monkeypatch.setattr(Partition, "search", lambda self, *a: searched.append(self.key) or original(self, *a))
        hits = catalog.search_faces(vectors[1500], 10, since=1200, until=1800)
        assert searched == [1] and hits[0].sighting_id == ids[1500]
        searched.clear()
        assert len(catalog.search_faces(vectors[1500], 10)) == 10 and searched == [0, 1, 2]
        catalog.delete_before(1000.0)  # retention: partition 0 is emptied and dropped whole
        directory = index_dir(tmp_path, DEFAULT_FACE_MODEL)
        assert not (directory / "p0").exists() and (directory / "p1").is_dir()
        assert catalog.faces.status().partitions == 2 and catalog.faces.status().vectors == 2000
    with open_catalog(tmp_path, partition_s=1000) as catalog:
        np.testing.assert_array_equal(catalog.faces.ids(), ids[1000:])


def test_persisted_caught_up_and_rebuilt(tmp_path):
    vectors, _ = clustered_embeddings(1200, identities=50, seed=2)
    with open_catalog(tmp_path) as catalog:
        ids = _fill(catalog, vectors[:1000])
    # the store changes while no index is open: new sightings and a deletion
    store = open_store(tmp_path)
    late = store.sightings.add([face(float(1000 + i), vectors[1000 + i]) for i in range(200)])
    store.sightings.delete_before(10.0)
    store.close()
    with open_catalog(tmp_path) as catalog:
        assert catalog.faces.status().watermark == late[-1]
        kept_ids = np.concatenate([ids[10:], late])
        np.testing.assert_array_equal(catalog.faces.ids(), kept_ids)
        for row in (3, 50, 1100):
            assert [h.sighting_id for h in catalog.search_faces(vectors[row], 5)] == _brute_force(
                vectors[10:], kept_ids, vectors[row], 5
            )
    # an index of another layout (the single-file format) is rebuilt from the store
    directory = index_dir(tmp_path, DEFAULT_FACE_MODEL)
    (directory / "index.json").write_text("{}")
    (directory / "faces.npz").write_bytes(b"old")
    with open_catalog(tmp_path) as catalog:
        assert len(catalog.faces.ids()) == 1190
    assert not (directory / "faces.npz").exists()
    # skynet index rebuild recreates it from scratch
    store = open_store(tmp_path)
    assert FaceIndex(tmp_path / INDEX_DIR).rebuild(store.faces) == 1190
    store.close()


@pytest.mark.parametrize("damage", ["missing", "corrupt", "short"])
def test_broken_partition_rebuilt_from_the_store_while_searches_say_partial(tmp_path, monkeypatch, caplog, damage):
    vectors, _ = clustered_embeddings(3000, identities=100, seed=6)
    with open_catalog(tmp_path, partition_s=1000) as catalog:
        ids = _fill(catalog, vectors)
    part = index_dir(tmp_path, DEFAULT_FACE_MODEL) / "p1"
    if damage == "missing":
        shutil.rmtree(part)
    elif damage == "corrupt":
        (part / "rows.npz").write_bytes(b"garbage")
    else:
        next(part.glob("vectors-*.f32")).write_bytes(b"\0" * 100)
    release = threading.Event()
    recover = FaceIndex._recover
    monkeypatch.setattr(FaceIndex, "_recover", lambda self, faces: release.wait(10) and recover(self, faces))
    with open_catalog(tmp_path, partition_s=1000) as catalog:
        assert "partition 1970-01-01 00:16 to 1970-01-01 00:33 UTC is missing or corrupt" in caplog.text
        hits = catalog.search_faces(vectors[1500], 10)
        assert hits.incomplete == ((1000.0, 2000.0),)  # partial, and says which time range
        assert catalog.search_faces(vectors[500], 10, until=900).incomplete == ()
        release.set()
        catalog.faces.wait_for_build()
        hits = catalog.search_faces(vectors[1500], 10)
        assert hits.incomplete == () and hits[0].sighting_id == ids[1500]
        np.testing.assert_array_equal(catalog.faces.ids(), ids)


def test_compressed_partitions_with_exact_reranking(tmp_path):
    vectors, _ = clustered_embeddings(6000, identities=300, seed=3)
    with open_catalog(tmp_path, approx_threshold=2000, exact_subset=500) as catalog:
        ids = _fill(catalog, vectors[:5000], batch=1000)
        catalog.faces.settle()
        state = catalog.faces.status()
        assert state.approximate_rows == 5000
        _fill(catalog, vectors[5000:], batch=1000, first=5000)  # added to the trained index, no rebuild
        assert catalog.faces.status().approximate_rows == 6000 and not catalog.faces.status().building
        all_ids = np.concatenate([ids, np.arange(ids[-1] + 1, ids[-1] + 1001)])
        queries = np.random.default_rng(0).choice(len(vectors), 50, replace=False)
        times = np.arange(len(vectors), dtype=float)
        recall = []
        for row in queries:
            keep = (times >= 1000) & (times <= 5500)
            hits = catalog.search_faces(vectors[row], 10, since=1000, until=5500)
            truth = _brute_force(vectors, all_ids, vectors[row], 10, keep)
            assert all(1000 <= h.sighting_id - ids[0] <= 5500 for h in hits)
            assert hits[0].similarity == pytest.approx(float(vectors[row] @ vectors[hits[0].sighting_id - ids[0]]))
            recall.append(len({h.sighting_id for h in hits} & set(truth)) / 10)
        assert np.mean(recall) >= 0.95
        # a restrictive filter goes exact and is exactly right
        keep = (times >= 100) & (times <= 400)
        hits = catalog.search_faces(vectors[7], 10, since=100, until=400)
        assert [h.sighting_id for h in hits] == _brute_force(vectors, all_ids, vectors[7], 10, keep)
    with open_catalog(tmp_path, approx_threshold=2000) as catalog:  # the IVF index is persisted
        assert catalog.faces.status().approximate_rows == 6000
        assert catalog.search_faces(vectors[42], 1)[0].sighting_id == ids[42]


def test_disk_full_during_compaction_leaves_the_old_partition_serving(tmp_path, monkeypatch):
    vectors, _ = clustered_embeddings(1000, identities=50, seed=7)
    with open_catalog(tmp_path) as catalog:
        ids = _fill(catalog, vectors)

        def full(self, rows):
            raise StorageFullError("no space left on the index disk")

        monkeypatch.setattr(VectorFile, "append", full)
        catalog.delete_before(500.0)  # due a compaction, which cannot write
        with pytest.raises(StoreError, match="no space left"):
            catalog.faces.wait_for_build()
        assert catalog.search_faces(vectors[700], 1)[0].sighting_id == ids[700]
        assert catalog.faces.status().deleted_rows == 500
        monkeypatch.undo()
    with open_catalog(tmp_path) as catalog:
        np.testing.assert_array_equal(catalog.faces.ids(), ids[500:])


def test_searches_and_ingestion_run_concurrently(tmp_path):
    vectors, _ = clustered_embeddings(4000, identities=100, seed=4)
    errors: list[BaseException] = []
    with open_catalog(tmp_path, approx_threshold=1500, partition_s=2500) as catalog:
        _fill(catalog, vectors[:1000])
        stop = threading.Event()

        def searcher():
            try:
                while not stop.is_set():
                    hits = catalog.search_faces(vectors[5], 5, since=0)
                    assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)
            except BaseException as error:  # noqa: BLE001 (reported below)
                errors.append(error)

        threads = [threading.Thread(target=searcher) for _ in range(2)]
        for thread in threads:
            thread.start()
        _fill(catalog, vectors[1000:], batch=100, first=1000)
        stop.set()
        for thread in threads:
            thread.join()
        catalog.faces.wait_for_build()
        assert catalog.faces.status().vectors == 4000
        assert catalog.faces.status().approximate_rows >= 1500
    assert errors == []


def test_partitions_searched_side_by_side_and_reranked_once(tmp_path, monkeypatch):
    """Several IVF partitions searched on the thread pool: their code-scored candidates are narrowed to the best
    ``refine * k`` of all, re-ranked with exact vectors (similarities exact), recall as a brute force's."""
    from skynet.index import face_search

    monkeypatch.setattr(face_search, "PARALLEL_ROWS", 0)
    vectors, _ = clustered_embeddings(6000, identities=300, seed=5)
    with open_catalog(tmp_path, approx_threshold=1000, exact_subset=100, partition_s=1500) as catalog:
        ids = _fill(catalog, vectors, batch=1000)
        catalog.faces.settle()
        state = catalog.faces.status()
        assert state.partitions == 4 and state.approximate_rows == 6000
        recall = []
        for row in np.random.default_rng(1).choice(len(vectors), 40, replace=False):
            hits = catalog.search_faces(vectors[row], 10)
            assert hits[0].sighting_id == ids[row]
            for hit in hits:
                assert hit.similarity == pytest.approx(
                    float(vectors[row] @ vectors[hit.sighting_id - ids[0]]), abs=1e-5
                )
            truth = _brute_force(vectors, ids, vectors[row], 10)
            recall.append(len({h.sighting_id for h in hits} & set(truth)) / 10)
        assert np.mean(recall) >= 0.95


def test_vector_file_reads_rows_appended_after_an_earlier_read(tmp_path):
    """Reads gather from a memory map; rows appended after a read are read back too (the map grows)."""
    vectors = np.random.default_rng(3).standard_normal((300, 8)).astype(np.float32)
    file = VectorFile(tmp_path / "v.f32", 8)
    file.append(vectors[:100])
    assert np.array_equal(file.read(np.array([99, 0, 50])), vectors[[99, 0, 50]])
    file.append(vectors[100:])
    assert np.array_equal(file.read(np.array([299, 5, 150, 5])), vectors[[299, 5, 150, 5]])
    assert file.read(np.array([], np.int64)).shape == (0, 8)
    file.close()
    again = VectorFile(tmp_path / "v.f32", 8, rows=300)
    assert np.array_equal(again.read(np.arange(300)[::-7]), vectors[::-7])
    again.close()


def test_time_filter_bitmap_matches_comparing_every_row():
    """Rows in time order up to ``ordered``, then out of order: the bitmap of a time filter is that of comparing
    every row, for ranges cutting the run, the tail, byte boundaries, or nothing."""
    from skynet.index.row_selection import ordered_prefix, selected_count, selected_positions, time_bits

    rng = np.random.default_rng(7)
    for n, ordered in ((1, 1), (8, 8), (37, 0), (1000, 1000), (1003, 517), (1003, 8)):
        times = np.round(np.concatenate([np.sort(rng.uniform(0, 100, ordered)), rng.uniform(0, 100, n - ordered)]))
        assert ordered_prefix(times) >= ordered
        for since, until in ((None, 50.0), (20.0, None), (33.0, 33.0), (10.5, 90.5), (200.0, None), (None, -1.0)):
            bits = time_bits(times, ordered, since, until)
            expected = np.flatnonzero(
                (times >= (since if since is not None else -np.inf))
                & (times <= (until if until is not None else np.inf))
            )
            assert np.array_equal(selected_positions(bits, n), expected)
            assert selected_count(bits) == len(expected)


def test_rows_added_out_of_time_order_are_searched_and_built_in_order(tmp_path):
    """Rows added out of time order end the partition's ordered run (time filters still exact); its build sorts
    them by time, so a filter over the built partition needs no comparison of every row."""
    vectors, _ = clustered_embeddings(1200, identities=60, seed=9)
    times = np.random.default_rng(2).permutation(1200).astype(float)
    with open_catalog(tmp_path, approx_threshold=1000, exact_subset=100) as catalog:
        ids = np.array(catalog.add_sightings([face(times[i], vectors[i], CAMERAS[i % 3]) for i in range(900)]))
        (part,) = catalog.faces.partitions()
        assert not part.ivf and part.rows.ordered < 900  # under the threshold: no build yet
        keep = (times[:900] >= 300) & (times[:900] <= 600)
        hits = catalog.search_faces(vectors[5], 10, since=300.0, until=600.0)
        assert [h.sighting_id for h in hits] == _brute_force(vectors[:900], ids, vectors[5], 10, keep=keep)
        catalog.add_sightings([face(times[i], vectors[i], CAMERAS[i % 3]) for i in range(900, 1200)])
        catalog.faces.settle()
        (part,) = catalog.faces.partitions()
        assert part.ivf and part.rows.ordered == part.rows.n == 1200
        assert np.all(np.diff(part.rows.times[:1200]) >= 0)
        for row in (5, 1100):
            hits = catalog.search_faces(vectors[row], 10, since=300.0, until=600.0)
            assert hits and all(300 <= times[h.sighting_id - ids[0]] <= 600 for h in hits)
            if 300 <= times[row] <= 600:
                assert hits[0].sighting_id == ids[0] + row


def test_partitions_searched_in_the_calling_thread_while_another_search_runs(tmp_path, monkeypatch):
    """Concurrent searches keep the cores busy: a search that is not alone searches its partitions itself."""
    from skynet.index import face_search

    monkeypatch.setattr(face_search, "PARALLEL_ROWS", 0)
    vectors, _ = clustered_embeddings(600, identities=30, seed=4)
    with open_catalog(tmp_path, partition_s=200) as catalog:
        ids = _fill(catalog, vectors)
        assert catalog.faces.status().partitions == 3
        used = []
        real = face_search._threads
        monkeypatch.setattr(face_search, "_threads", lambda: used.append(1) or real())
        alone = [h.sighting_id for h in catalog.search_faces(vectors[3], 5)]
        assert used == [1]
        monkeypatch.setattr(face_search, "_running", 1)  # another search in flight
        assert (
            [h.sighting_id for h in catalog.search_faces(vectors[3], 5)]
            == alone
            == _brute_force(vectors, ids, vectors[3], 5)
        )
        assert used == [1]
