"""The parts of face-index shards that need no cluster (the cluster itself: tests/cluster/test_index_shards.py):
the store's partition keys and per-week vectors a shard builds from, a search limited to some partitions, the merge
of shards' answers, and partition leases (the camera lease, over ``index_leases``)."""

from __future__ import annotations

import numpy as np
from store_support import CAMERAS, face, open_catalog

from skynet.index.face_index import WEEK_S
from skynet.index.face_search import merge_hits
from skynet.index.synthetic import clustered_embeddings

T0 = 2900 * WEEK_S


def test_a_shard_builds_weeks_from_the_store_and_merged_shard_answers_equal_one_index(tmp_path):
    vectors, _ = clustered_embeddings(900, identities=30, seed=5)
    times = T0 + np.arange(900) * (3 * WEEK_S / 900)  # three weeks, 300 faces each
    with open_catalog(tmp_path) as catalog:
        ids = np.array(
            catalog.add_sightings(
                [face(float(t), v, CAMERAS[i % 3]) for i, (t, v) in enumerate(zip(times, vectors, strict=True))]
            )
        )
        faces, index = catalog.store.faces, catalog.faces
        assert faces.partition_keys(WEEK_S) == [2900, 2901, 2902]
        week = list(faces.batches(between=(2901 * WEEK_S, 2902 * WEEK_S), batch_size=128))
        assert np.array_equal(np.concatenate([b.ids for b in week]), ids[300:600]), "the week's vectors, paged"

        query = vectors[450] + 0.01
        whole = index.search(query, 10)
        shard_a = index.search(query, 10, keys={2900, 2902})
        shard_b = index.search(query, 10, keys={2901})
        assert all(ids[300] <= h.sighting_id <= ids[599] for h in shard_b)
        assert not {h.sighting_id for h in shard_a} & set(ids[300:600].tolist())
        assert merge_hits([shard_a, shard_b], 10) == list(whole), "merged top-k = one index's top-k"
        assert merge_hits([], 10) == []

        index.drop(2901)  # a shard that no longer holds the week
        assert index.search(query, 10, keys={2901}) == [] and index.status().partitions == 2


def test_partition_leases_are_camera_leases_over_their_own_table(tmp_path):
    with open_catalog(tmp_path) as catalog:
        leases, cameras = catalog.store.index_leases, catalog.store.leases
        held = leases.acquire("default/dlib_resnet/2900", "face-shard:0#a", "node-a", 30.0)
        assert held is not None and held.token == 1 and held.key == "default/dlib_resnet/2900"
        assert leases.acquire("default/dlib_resnet/2900", "face-shard:1#b", "node-b", 30.0) is None, "held"
        assert leases.renew(held, 30.0) and cameras.all() == [], "a partition lease is not a camera's"
        leases.release(held)
        taken = leases.acquire("default/dlib_resnet/2900", "face-shard:1#b", "node-b", 30.0)
        assert taken is not None and taken.token == 1 and not leases.renew(held, 30.0)
