"""Driver of test_cluster_cameras.py and benchmarks/bench_cluster_failover.py, run inside a private network namespace
(cluster_support.run_in_namespace): real Skynet cameras as Ray actors on a real cluster over a real PostgreSQL.

A head and two worker nodes (a, b), PostgreSQL, one shared data directory. Two cameras play the demo clip (plates
on the watch-list); ``skynet cluster up`` places them, one per node (each node has room for both: SPREAD puts them
apart); with ``--standby`` each camera also has a standby, the two in a placement group spread over both nodes.
Once both store sightings, ``kills`` times: SIGKILL the node that runs camera ``demo``, time until its lease
is taken again on the other node and until it stores again, then start a replacement node. Prints one JSON line:
placements, failover times, ``skynet cluster status`` before and after, and the store's counts of sightings,
duplicated idempotency keys, alerts and lease tokens, and committed sightings lost across the kills. A third camera
asks for a GPU that no node has: it runs nowhere, and ``skynet cluster status`` says why. With ``--outage S``,
PostgreSQL then goes away for S seconds and comes back: what ``skynet cluster status`` and the camera actors say
meanwhile, and how long until both cameras store again. With ``--reindex``, then the re-index job of
reindex_driver.py on the same cluster.

    python tests/cluster/camera_failover_driver.py [--kills N] [--standby] [--outage S] [--reindex]
    (inside run_in_namespace)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray
from cluster_support import FAILOVER_HEALTH_CHECKS, Node, RayCluster, alive_nodes, wait_for_nodes
from reindex_driver import reindex_scenario
from waiting import wait_for

from skynet.cluster.placement import camera_actors, placed_cameras, remove
from skynet.cluster.status import cluster_view, render
from skynet.config import Settings
from skynet.records import Camera
from skynet.services.demo import set_up_demo
from skynet.store import open_store

CAMERAS = ("demo", "demo-2")
GPU_CAMERA = "gpu-cam"  # asks for a GPU: no node has one
WORKERS = [Node("a", num_cpus=2, memory_mb=4096), Node("b", num_cpus=2, memory_mb=4096)]
LEASE_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=1)
    parser.add_argument("--reindex", action="store_true", help="then a re-index job over the cluster")
    parser.add_argument("--standby", action="store_true", help="each camera with a standby (cluster_standby)")
    parser.add_argument("--outage", type=float, default=0.0, help="then PostgreSQL away for this many seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="skynet-cluster-") as scratch:
        cluster = RayCluster(Path(scratch) / "ray", WORKERS, system_config=FAILOVER_HEALTH_CHECKS, postgres=True)
        with cluster:
            report = _scenario(cluster, Path(scratch) / "data", args.kills, args.standby, args.outage)
            if args.reindex:
                report["reindex"] = reindex_scenario(Settings())
    print(json.dumps(report), flush=True)


def _scenario(cluster: RayCluster, data_dir: Path, kills: int, standby: bool, outage_s: float) -> dict:
    env = {
        "SKYNET_DATA_DIR": str(data_dir),
        "SKYNET_MODEL_DIR": str(Settings().models_path),
        "SKYNET_DATABASE_URL": cluster.database_url,
        "SKYNET_CLUSTER_ADDRESS": cluster.address,
        "SKYNET_CLUSTER_LEASE_S": str(LEASE_S),
        "SKYNET_CLUSTER_CAMERA_MEMORY_MB": "900",
        "SKYNET_INTRA_OP_THREADS": "1",
        "SKYNET_CLUSTER_STANDBY": "true" if standby else "false",
        "SKYNET_CLUSTER_CAMERA_RESOURCES": json.dumps({GPU_CAMERA: {"gpus": 1}}),
    }
    os.environ.update(env)
    settings = Settings()
    store = open_store(settings.data_dir, settings.database_url)
    demo = set_up_demo(settings, store)
    store.cameras.save(Camera("demo-2", "Demo street, second", demo.source_url))
    store.cameras.save(Camera(GPU_CAMERA, "Needs a GPU", demo.source_url))

    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False, namespace="skynet")
    names = {node_id: name for name, node_id in wait_for_nodes(ray, ["a", "b"]).items()}
    placed = _cli("cluster", "up")
    report: dict = {"up": placed.strip()}

    per_camera = 2 if standby else 1

    def running() -> list[dict] | None:
        """Every instance, once each camera runs once and every other instance is a ready standby."""
        status = cluster_view(settings, store).as_dict()
        found = [c for node in status["nodes"] if node["alive"] for c in node["cameras"]]
        live = sorted(c["camera_id"] for c in found if c["state"] == "running")
        ready = all(c["state"] in ("running", "waiting for lease") for c in found)
        return found if live == sorted(CAMERAS) and ready and len(found) == per_camera * len(CAMERAS) else None

    instances = wait_for(running, 240, "the cameras running", interval_s=1.0)
    report["placement"] = {c["camera_id"]: names.get(c["node_id"]) for c in instances if c["state"] == "running"}
    report["instances_before"] = {
        cid: sorted(names.get(c["node_id"], "?") for c in instances if c["camera_id"] == cid) for cid in CAMERAS
    }
    wait_for(lambda: all(_stored(store, cid) > 0 for cid in CAMERAS), 180, "sightings from both cameras", interval_s=1)
    report["status_before"] = _cli("cluster", "status")

    runs, lost = [], 0
    for _ in range(kills):
        committed = _ids(store)
        victim_id = _lease(store, "demo").node
        victim = names[victim_id]
        token = _lease(store, "demo").token
        killed = time.time()
        cluster.kill_node(victim)
        wait_for(lambda v=victim: v not in alive_nodes(ray), 60, "the killed node dead", interval_s=0.2)
        dead_s = time.time() - killed
        lease = wait_for(
            lambda t=token: (lease := _lease(store, "demo")) is not None and lease.token > t and lease,
            60,
            "a new lease",
        )
        leased_s = time.time() - killed
        before = _stored(store, "demo")
        wait_for(lambda b=before: _stored(store, "demo") > b, 90, "demo to store again", interval_s=0.5)
        lost += len(committed - _ids(store))
        phases = _phases(settings, store, killed)
        runs.append(
            {
                **phases,
                "killed": victim,
                "moved_to": names.get(lease.node, lease.node),
                "node_dead_s": round(dead_s, 2),
                "running_again_s": round(leased_s, 2),
                "storing_again_s": round(time.time() - killed, 2),
                "token": lease.token,
            }
        )
        cluster.start_node(next(node for node in WORKERS if node.name == victim))  # a replacement
        names[wait_for_nodes(ray, [victim])[victim]] = victim
        wait_for(running, 240, "every instance back (Ray restarts the killed node's)", interval_s=1.0)
    report["failovers"] = runs
    view = cluster_view(settings, store)
    report["status_after"], report["status_json"] = render(view), view.as_dict()
    report["store"] = {**_counts(store), "lost": lost}
    if outage_s:
        store.close()
        report["outage"] = _database_outage(cluster, settings, outage_s)
        store = open_store(settings.data_dir, settings.database_url)
        report["store_after_outage"] = _counts(store)
    report["down"] = remove(settings, placed_cameras(settings))
    store.close()
    return report


def _database_outage(cluster: RayCluster, settings: Settings, seconds: float) -> dict:
    """PostgreSQL away for ``seconds``, then back: ``skynet cluster status`` and the camera actors' own status
    meanwhile; seconds until each camera stores again; committed sightings lost (none may be)."""
    assert cluster.postgres is not None
    store = open_store(settings.data_dir, settings.database_url)
    committed, before = _ids(store), {cid: _stored(store, cid) for cid in CAMERAS}
    store.close()
    cluster.postgres.halt()
    halted = time.monotonic()
    status = subprocess.run(
        [str(Path(sys.executable).parent / "skynet"), "cluster", "status"], capture_output=True, text=True, timeout=120
    )
    time.sleep(max(0.0, seconds - (time.monotonic() - halted)))
    actors = [actor for cid in CAMERAS for actor in camera_actors(settings, cid)]
    away = [ray.get(actor.status.remote(), timeout=30) for actor in actors]
    cluster.postgres.resume()
    resumed = time.monotonic()
    store = open_store(settings.data_dir, settings.database_url)
    try:
        again = {}
        for cid in CAMERAS:
            wait_for(lambda c=cid: _stored(store, c) > before[c], 180, f"{cid} to store again", interval_s=0.5)
            again[cid] = round(time.monotonic() - resumed, 1)
        lost = len(committed - _ids(store))
    finally:
        store.close()
    return {
        "status_exit": status.returncode,
        "status_output": (status.stdout + status.stderr)[:6000],
        "cameras_while_away": [{k: a[k] for k in ("camera_id", "state", "error")} for a in away],
        "storing_again_s": again,
        "lost": lost,
    }


def _phases(settings: Settings, store, killed: float) -> dict:
    """When, after the kill, the instance now running ``demo`` had its process started, its code imported, its
    parts built (model pack loaded) and the lease taken (seconds; from its status)."""
    status = cluster_view(settings, store).as_dict()
    running = [c for n in status["nodes"] for c in n["cameras"] if c["camera_id"] == "demo" and c["state"] == "running"]
    timings = running[0].get("timings", {}) if running else {}
    return {f"{phase}_s": round(at - killed, 2) for phase, at in timings.items() if at is not None}


def _cli(*args: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "skynet"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    if done.returncode != 0:
        raise RuntimeError(f"skynet {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _lease(store, camera_id: str):
    return store.leases.get(camera_id)


def _stored(store, camera_id: str) -> int:
    return store.db.execute("SELECT count(*) FROM sightings WHERE camera_id = ?", (camera_id,)).fetchone()[0]


def _ids(store) -> set[int]:
    """Ids of every stored sighting: each committed before a kill must still be there after it."""
    return {row[0] for row in store.db.execute("SELECT id FROM sightings")}


def _counts(store) -> dict:
    db = store.db
    duplicated = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM sightings WHERE track_id IS NOT NULL GROUP BY camera_id, kind, track_id,"
        " first_seen HAVING count(*) > 1) d"
    ).fetchone()[0]
    return {
        "sightings": {cid: _stored(store, cid) for cid in CAMERAS},
        "duplicated_keys": duplicated,
        "alerts": db.execute("SELECT count(*) FROM alerts").fetchone()[0],
        "duplicated_alerts": db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM alerts GROUP BY entry_id, sighting_id HAVING count(*) > 1) d"
        ).fetchone()[0],
        "lease_tokens": {lease.key: lease.token for lease in store.leases.all()},
    }


if __name__ == "__main__":
    sys.exit(main())
