"""Skynet's cameras on a real multi-node Ray cluster (head + 2 worker nodes, real processes) over a real PostgreSQL, in
a private network namespace on loopback (tests/cluster_support.py; the driver: camera_failover_driver.py).

``skynet cluster up`` places two demo cameras, each with a standby (``cluster_standby``: the two instances of a camera
on the two nodes); both store sightings and raise alerts; the node that runs one is SIGKILLed: its standby on the other
node takes the lease (the next token) and stores, nothing is stored twice or lost, and once a replacement node joins Ray
restarts the killed instances there as standbys. ``skynet cluster status`` shows each node, its cameras, their load and
state, and the dead node; a third camera asks for a GPU no node has, and the status says so. Then PostgreSQL goes away
for longer than a lease and comes back: ``skynet cluster status`` says the store does not answer and shows what the
actors say, and both cameras store again with nothing lost. Then, on the same cluster, an API node's re-index job fans
two archive files out as Ray tasks (one per node) and, asked again, skips them (done). The full measurement over many
kills is benchmarks/bench_cluster.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cluster_support import require_cluster, run_in_namespace

pytestmark = [pytest.mark.slow, pytest.mark.models]

DRIVER = Path(__file__).with_name("camera_failover_driver.py")


def test_cameras_spread_over_nodes_and_a_killed_nodes_camera_runs_again_elsewhere(model_settings):
    require_cluster()
    run = run_in_namespace(
        [sys.executable, str(DRIVER), "--kills", "1", "--standby", "--outage", "8", "--reindex"], timeout_s=600
    )
    assert run.returncode == 0, run.output[-5000:]
    report = run.report()
    assert report["instances_before"] == {"demo": ["a", "b"], "demo-2": ["a", "b"]}, "each camera and its standby apart"
    assert sorted(report["placement"]) == ["demo", "demo-2"]
    (failover,) = report["failovers"]
    assert failover["moved_to"] != failover["killed"] and failover["token"] == 2
    # the 30 s target is measured by benchmarks/bench_cluster.py (speed targets live there); this bounds a hang
    assert failover["running_again_s"] <= 120, failover
    store = report["store"]
    assert store["duplicated_keys"] == 0 and store["duplicated_alerts"] == 0 and store["lost"] == 0
    assert all(count > 0 for count in store["sightings"].values()) and store["alerts"] > 0, store
    assert store["lease_tokens"]["demo"] == 2
    before, after = report["status_before"], report["status_after"]
    assert "node a" in before and "node b" in before and "camera demo " in before and "running" in before
    # after the replacement node joined, Ray restarted the killed node's instances there: standbys again
    assert "DEAD" in after and after.count(" running ") == 2 and after.count("waiting for lease") == 2
    live = [(n["name"], c["camera_id"]) for n in report["status_json"]["nodes"] if n["alive"] for c in n["cameras"]]
    assert sorted(camera for _, camera in live) == ["demo", "demo", "demo-2", "demo-2"]
    assert len(set(live)) == 4, f"a camera and its standby never share a node: {live}"
    (gpu,) = report["status_json"]["unplaced"]
    assert gpu["camera_id"] == "gpu-cam" and gpu["state"].startswith("no live node can run it: needs 1 CPU, 1 GPU"), gpu
    assert "camera gpu-cam" in after and "no live node can run it" in after
    assert sorted(report["down"]) == ["demo", "demo-2", "gpu-cam"]

    # PostgreSQL away for 8 s (leases last 5 s), then back
    outage = report["outage"]
    shown = outage["status_output"]  # the store's error, and what Ray and the actors say meanwhile
    assert outage["status_exit"] == 1 and "Traceback" not in shown, outage
    assert "store: NOT ANSWERING: cannot connect to PostgreSQL" in shown and "camera demo " in shown, shown
    assert all(c["error"] or c["state"] != "running" for c in outage["cameras_while_away"]), outage
    assert outage["lost"] == 0 and sorted(outage["storing_again_s"]) == ["demo", "demo-2"], outage
    assert report["store_after_outage"]["duplicated_keys"] == 0, report["store_after_outage"]

    # then a re-index job of an API node on the same cluster: its files fanned out as Ray tasks, one per node
    reindex = report["reindex"]
    first, again = reindex["jobs"]
    assert first["state"] == "done" and first["errors"] == [], first
    assert first["progress"]["files_done"] == 2 and first["progress"]["frames"] > 0
    assert first["nodes"] == ["a", "b"] and first["outcomes"] == ["done", "done"], first
    assert sorted(reindex["sightings_per_file"]) == sorted(reindex["clips"]), "each file's sightings are stored"
    assert reindex["alerts"] >= 2, "each clip's watch-listed plate alerts"
    assert again["state"] == "done" and again["outcomes"] == ["skipped", "skipped"], "asked again: files done"
    # a re-index job cancelled after its first file: its Ray tasks stop, nothing is stored twice when asked again
    cancel = reindex["cancel"]
    assert cancel["state"] == "cancelled" and cancel["progress"]["files_done"] < 4, cancel
    assert "done" in cancel["file_states"] and cancel["file_states"].count("done") < 4, cancel
    assert not any("task failed" in error for error in cancel["errors"]), "a task the cancel stopped is no failure"
    assert cancel["stopped_s"] < 30, cancel
    assert cancel["again"] == "done" and cancel["sightings_per_file"] == [1, 1, 1, 1], cancel
    assert cancel["integrity_problems"] == [], cancel
    assert run.leftover == [], "every process of the namespace ends with its driver"
