"""Driver of test_ray_failover.py, run inside a private network namespace (cluster_support.run_in_namespace).

A head and two worker nodes (a, b) with 2 camera slots each, and PostgreSQL. A stand-in camera (cluster_probe.
Beating: a named detached actor, ``max_restarts=-1``, one camera slot) is placed on node b; node b is SIGKILLed
(raylet, agents, workers at once); the camera must beat again on node a. A replacement node b then joins, and a
placement group spreads one camera slot on each worker node. Prints one JSON line: where the camera ran, how long
each step took, whether two instances ever ran at once.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import cluster_probe
import ray
from cluster_support import FAILOVER_HEALTH_CHECKS, Node, RayCluster, alive_nodes, node_name, wait_for_nodes
from ray.util.placement_group import placement_group, placement_group_table
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from waiting import wait_for

WORKERS = [Node("a", resources={"camera": 2}), Node("b", resources={"camera": 2})]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ray-failover-") as scratch:
        cluster = RayCluster(Path(scratch), WORKERS, system_config=FAILOVER_HEALTH_CHECKS, postgres=True)
        with cluster:
            ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
            nodes = wait_for_nodes(ray, ["a", "b"])
            names = {node_id: name for name, node_id in nodes.items()}
            cluster_probe.create_schema(cluster.database_url)
            camera = cluster_probe.Beating.options(
                name="camera-1",
                lifetime="detached",
                resources={"camera": 1},
                scheduling_strategy=NodeAffinitySchedulingStrategy(nodes["b"], soft=True),
            ).remote("camera-1", cluster.database_url)
            first_node, _ = ray.get(camera.where.remote(), timeout=60)
            time.sleep(0.5)  # a few heartbeats from node b

            killed = time.time()
            cluster.kill_node("b")
            moved = wait_for(
                lambda: cluster_probe.first_beat_after(cluster.database_url, "camera-1", killed, nodes["b"]),
                60,
                "camera-1 to beat on another node",
            )
            dead_in_gcs = "b" not in alive_nodes(ray)
            answering_node, _ = ray.get(camera.where.remote(), timeout=30)

            replaced = time.time()
            cluster.start_node(WORKERS[1])
            replacement = wait_for_nodes(ray, ["b"])["b"]
            replacement_s = time.time() - replaced
            overlap_s, overlap_beats = cluster_probe.overlap(cluster.database_url, "camera-1")
            ray.kill(camera)
            spread = placement_group([{"camera": 1}, {"camera": 1}], strategy="STRICT_SPREAD")
            ray.get(spread.ready(), timeout=60)
            bundle_nodes = placement_group_table(spread)["bundles_to_node_id"].values()
            names[replacement] = "b"
            report = {
                "first_node": names.get(first_node),
                "moved_to": names.get(moved.node),
                "answering_node": names.get(answering_node),
                "running_again_s": round(moved.first - killed, 2),
                "b_dead_in_gcs": dead_in_gcs,
                "replacement_is_new_node": replacement != nodes["b"],
                "replacement_s": round(replacement_s, 2),
                "overlap_beats": overlap_beats,
                "overlap_s": round(overlap_s, 2),
                "instances": len(cluster_probe.instances(cluster.database_url, "camera-1")),
                "placement_group_nodes": sorted(names.get(node_id, node_id) for node_id in bundle_nodes),
                "node_names": sorted(filter(None, (node_name(node) for node in ray.nodes() if node["Alive"]))),
            }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    sys.exit(main())
