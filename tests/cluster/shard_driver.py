"""Face-index shards on a real Ray cluster (test_index_shards.py; runnable alone inside
cluster_support.run_in_namespace): two worker nodes that offer the ``index`` resource, PostgreSQL, faces over
four weeks in the store.

An API node built with ``cluster_index_shards=2`` places two shard actors (one per node: each reserves the node's
one ``index``); once they have built their weeks, searches are answered by both and merged: the same top-k as one
unsharded index over the same store. The node of one shard is SIGKILLed: the next search names that shard's weeks as
incomplete (and its hits are the unsharded top-k of the other weeks, never fewer unannounced); once the lost
shard's leases expire the other claims its weeks and rebuilds them from the store, and searches are complete again.
Then retention deletes half a week: the shard drops those vectors as the change log names them (searches equal the
unsharded index's again).
Prints one JSON line.

With ``--bench N`` (benchmarks/bench_shards.py): N synthetic faces over ``--weeks`` weeks; search latency (p50,
p99, and the searching process's CPU per search) with 1 shard, then with 2 shards on 2 nodes, at the same size.

    python tests/cluster/shard_driver.py [--bench N --weeks W --queries Q]   (inside run_in_namespace)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import ray
from cluster_support import FAILOVER_HEALTH_CHECKS, Node, RayCluster, alive_nodes, wait_for_nodes
from waiting import wait_for

from skynet.app import build
from skynet.cluster.face_shard import PREFIX
from skynet.cluster.sharded_index import remove_shards
from skynet.cluster.status import cluster_view, render
from skynet.config import Settings
from skynet.index.catalog import Catalog
from skynet.index.face_index import WEEK_S
from skynet.index.synthetic import clustered_chunks
from skynet.records import Box, Camera, Sighting, SightingKind
from skynet.store import open_store
from skynet.system import SystemRole

T0 = 2900 * WEEK_S  # a week boundary (2025-07)
LEASE_S = 3.0
K = 10


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--bench", type=int, default=0, help="measure search latency over this many faces")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    workers = [Node(name, num_cpus=1, memory_mb=6144, object_store_mb=200, resources={"index": 1}) for name in "ab"]
    with tempfile.TemporaryDirectory(prefix="skynet-shards-") as scratch:
        with RayCluster(Path(scratch) / "ray", workers, postgres=True, system_config=FAILOVER_HEALTH_CHECKS) as cluster:
            ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False, namespace="skynet")
            wait_for_nodes(ray, [node.name for node in workers])
            settings = Settings(
                data_dir=Path(scratch) / "data",
                database_url=cluster.database_url,
                cluster_address=cluster.address,
                cluster_lease_s=LEASE_S,
                cluster_index_shard_cpus=1,
                cluster_index_shard_memory_mb=1024,
                cluster_index_shard_resources={"index": 1},
                cluster_index_search_timeout_s=2.0,
            )
            n = args.bench or args.faces
            reference, probes = fill_store(settings, n, args.weeks)
            try:
                if args.bench:
                    report = bench(settings, reference, probes[: args.queries], args.weeks)
                else:
                    report = scenario(settings, cluster, reference, probes, args.weeks)
            finally:
                reference.close()
    print(json.dumps(report), flush=True)


def fill_store(settings: Settings, n: int, weeks: int) -> tuple[Catalog, np.ndarray]:
    """``n`` clustered faces spread evenly over ``weeks`` weeks from :data:`T0`, through a catalog that indexes
    them too (the unsharded reference over the same store); returns it and query vectors (stored faces, perturbed)."""
    catalog = Catalog.open(settings.data_dir, settings.database_url, index_root=settings.data_dir / "reference")
    for camera in ("cam-a", "cam-b"):
        catalog.store.cameras.save(Camera(camera, camera.upper(), f"rtsp://10.0.0.1/{camera}"))
    times = T0 + (np.arange(n) + 0.5) * (weeks * WEEK_S / n)
    rng = np.random.default_rng(7)
    probes = []
    for first, vectors, _ in clustered_chunks(n, identities=max(10, n // 200), seed=3, chunk=5000):
        for lo in range(0, len(vectors), 1000):
            rows = range(first + lo, first + min(len(vectors), lo + 1000))
            sightings = [
                Sighting(
                    ("cam-a", "cam-b")[i % 2],
                    SightingKind.FACE,
                    float(times[i]),
                    float(times[i]) + 2,
                    float(times[i]),
                    Box(10, 10, 60, 70),
                    0.8,
                    embedding=vectors[i - first],
                )
                for i in rows
            ]
            catalog.add_sightings(sightings)
        picked = vectors[rng.integers(0, len(vectors), 10)]
        probes.append(picked + rng.standard_normal(picked.shape).astype(np.float32) * 0.02)
    catalog.faces.settle()
    return catalog, np.concatenate(probes)


def shard_status() -> dict[str, dict]:
    """Each shard actor's status, by name (those that answer within 2 s)."""
    found = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["name"].startswith(PREFIX):
            try:
                actor = ray.get_actor(entry["name"], namespace=entry["namespace"])
                found[entry["name"]] = ray.get(actor.status.remote(), timeout=2)
            except (ray.exceptions.RayError, ValueError):
                continue
    return found


def loaded_weeks(shards: int) -> dict[str, list[int]] | None:
    status = shard_status()
    return {name: s["loaded"] for name, s in status.items()} if len(status) == shards else None


def answer(hits) -> list[tuple[int, float]]:
    return [(h.sighting_id, round(h.similarity, 4)) for h in hits]


def scenario(settings: Settings, cluster: RayCluster, reference: Catalog, probes: np.ndarray, weeks: int) -> dict:
    all_weeks = list(range(int(T0 // WEEK_S), int(T0 // WEEK_S) + weeks))
    api = build(settings.model_copy(update={"cluster_index_shards": 2}), SystemRole.API_NODE, analysers=0)
    report: dict = {"weeks": all_weeks}
    try:
        started = time.monotonic()
        held = wait_for(
            lambda: (h := loaded_weeks(2)) and sorted(w for ws in h.values() for w in ws) == all_weeks and h,
            60,
            "both shards to build their weeks",
            interval_s=0.5,
        )
        report["built_s"] = round(time.monotonic() - started, 1)
        report["held"] = held
        nodes = {node_id: name for name, node_id in alive_nodes(ray).items()}
        report["shard_nodes"] = {name: nodes.get(s["node_id"]) for name, s in shard_status().items()}
        report["status_before"] = index_status(settings, nodes)

        sharded = [api.catalog.search_faces(q, K) for q in probes]
        unsharded = [reference.search_faces(q, K) for q in probes]
        report["complete"] = {
            "same_top_k": sum(answer(a) == answer(b) for a, b in zip(sharded, unsharded, strict=True)),
            "queries": len(probes),
            "incomplete": sorted({r for hits in sharded for r in hits.incomplete}),
            "hits": sum(len(h) for h in sharded),
        }
        # a time-filtered search touches the shard of that week only
        week = all_weeks[1]
        window = {"since": week * WEEK_S, "until": (week + 1) * WEEK_S - 1}
        filtered = api.catalog.search_faces(probes[0], K, **window)
        report["filtered_same"] = answer(filtered) == answer(reference.search_faces(probes[0], K, **window))

        lost_shard = f"{PREFIX}1"
        lost_node = report["shard_nodes"][lost_shard]
        lost_weeks = held[lost_shard]
        cluster.kill_node(lost_node)
        killed = time.monotonic()
        status_after_kill: dict = {}  # `skynet cluster status` meanwhile, beside the searches (waits for the lost one)
        asking = threading.Thread(target=lambda: status_after_kill.update(index_status(settings, nodes, killed)))
        asking.start()
        first = api.catalog.search_faces(probes[0], K)
        report["after_kill"] = {
            "answered_s": round(time.monotonic() - killed, 2),
            "incomplete_weeks": sorted(int(a // WEEK_S) for a, _ in first.incomplete),
            "lost_weeks": lost_weeks,
            "hits_are_other_weeks_top_k": answer(first) == answer(top_k_outside(reference, probes[0], lost_weeks)),
        }
        # until complete again: every answer either complete and equal to the reference, or saying what it lacks
        silent_fewer, partial_answers, rounds = 0, 0, 0
        while True:
            rounds += 1
            hits = api.catalog.search_faces(probes[rounds % len(probes)], K)
            if hits.incomplete:
                partial_answers += 1
            elif answer(hits) != answer(reference.search_faces(probes[rounds % len(probes)], K)):
                silent_fewer += 1
            else:
                break
            if time.monotonic() - killed > 90:
                raise AssertionError(f"searches not complete 90 s after the kill: {hits.incomplete}")
            time.sleep(0.2)
        report["complete_again_s"] = round(time.monotonic() - killed, 1)
        report["between"] = {"partial": partial_answers, "silent_fewer": silent_fewer, "rounds": rounds}
        asking.join(30)
        report["status_after_kill"] = status_after_kill
        report["status_after_recovery"] = index_status(settings, nodes)
        again = [api.catalog.search_faces(q, K) for q in probes]
        report["after_recovery"] = {
            "same_top_k": sum(
                answer(a) == answer(reference.search_faces(q, K)) for a, q in zip(again, probes, strict=True)
            ),
            "incomplete": sorted({r for hits in again for r in hits.incomplete}),
            "held": {name: s["loaded"] for name, s in shard_status().items()},
        }
        # retention deletes the older half of the first week: the shard holding it drops those vectors
        deleted = reference.delete_before(T0 + WEEK_S / 2)
        cut = time.monotonic()
        wait_for(
            lambda: all(answer(api.catalog.search_faces(q, K)) == answer(reference.search_faces(q, K)) for q in probes),
            60,
            "the shards to drop the deleted sightings",
            interval_s=0.5,
        )
        report["deleted"] = {"faces": len(deleted.face_ids), "gone_s": round(time.monotonic() - cut, 1)}
    finally:
        remove_shards(settings.model_copy(update={"cluster_index_shards": 2}))
        api.close()
    return report


def index_status(settings: Settings, nodes: dict[str, str], since: float | None = None) -> dict:
    """What ``skynet cluster status`` says of the index shards (its view, from a store of its own): each shard's
    harness node, reachability and weeks held, the weeks not held, the text, and (``since``) when it answered."""
    sharded = settings.model_copy(update={"cluster_index_shards": 2})
    store = open_store(settings.data_dir, settings.database_url, sweep_orphans=False)
    try:
        view = cluster_view(sharded, store)
    finally:
        store.close()
    index = view.as_dict()
    return {
        "shards": {
            s["name"]: {"node": nodes.get(s["node_id"]), "reachable": s["reachable"], "held": s["held"]}
            for s in index["shards"]
        },
        "not_held": index["weeks_not_held"],
        "text": render(view),
        **({"answered_s": round(time.monotonic() - since, 2)} if since is not None else {}),
    }


def top_k_outside(reference: Catalog, query: np.ndarray, weeks: list[int]):
    """The unsharded top-k over every week but ``weeks``."""
    hits, lost = reference.search_faces(query, 10_000), set(week_ids(reference, weeks))
    return [h for h in hits if h.sighting_id not in lost][:K]


def week_ids(reference: Catalog, weeks: list[int]) -> list[int]:
    ids = []
    for week in weeks:
        for batch in reference.store.faces.batches(between=(week * WEEK_S, (week + 1) * WEEK_S)):
            ids.extend(batch.ids.tolist())
    return ids


def bench(settings: Settings, reference: Catalog, probes: np.ndarray, weeks: int) -> dict:
    """Search latency through the API node's sharded index with 1 shard, then 2 (same store), and unsharded."""
    report: dict = {"faces": reference.faces.status().vectors, "weeks": weeks, "queries": len(probes)}
    report["local"] = timed(lambda q: reference.search_faces(q, K), probes)
    all_weeks = list(range(int(T0 // WEEK_S), int(T0 // WEEK_S) + weeks))
    for shards in (1, 2):
        report[f"shards_{shards}"] = bench_shards(settings, shards, reference, probes, all_weeks)
    return report


def bench_shards(settings: Settings, shards: int, reference: Catalog, probes: np.ndarray, all_weeks: list[int]) -> dict:
    """Latency of searches through an API node over ``shards`` shards, once they have built every week."""
    sharded = settings.model_copy(update={"cluster_index_shards": shards, "cluster_index_search_timeout_s": 30.0})
    api = build(sharded, SystemRole.API_NODE, analysers=0)
    try:
        started = time.monotonic()
        wait_for(lambda: built(shards, all_weeks), 1200, f"{shards} shard(s) to build", interval_s=1.0)
        built_s = round(time.monotonic() - started, 1)
        for q in probes[:20]:  # warm up: Ray connections, caches
            api.catalog.search_faces(q, K)
        figures = timed(lambda q: api.catalog.search_faces(q, K), probes)
        same = sum(answer(api.catalog.search_faces(q, K)) == answer(reference.search_faces(q, K)) for q in probes[:50])
        placed = {name: s["node_id"][:8] for name, s in shard_status().items()}
    finally:
        remove_shards(sharded)
        api.close()
    wait_for(lambda: not shard_status(), 60, "the shards to end")
    return {**figures, "built_s": built_s, "same_top_k_of_50": same, "nodes": placed}


def built(shards: int, weeks: list[int]) -> bool:
    """Whether ``shards`` shards hold every week, loaded, and none is training a partition (settled)."""
    status = shard_status()
    held = sorted(w for s in status.values() for w in s["loaded"])
    return len(status) == shards and held == weeks and not any(s["building"] for s in status.values())


def timed(search, probes: np.ndarray) -> dict:
    """p50/p99 wall ms and mean CPU ms (this process) per search."""
    samples, cpu = [], time.process_time()
    for q in probes:
        start = time.perf_counter()
        hits = search(q)
        samples.append((time.perf_counter() - start) * 1000)
        assert not hits.incomplete, hits.incomplete
    return {
        "p50_ms": round(float(np.percentile(samples, 50)), 2),
        "p99_ms": round(float(np.percentile(samples, 99)), 2),
        "cpu_ms_per_search": round((time.process_time() - cpu) * 1000 / len(probes), 2),
    }


if __name__ == "__main__":
    sys.exit(main())
