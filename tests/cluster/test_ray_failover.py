"""Failover on a real multi-node Ray cluster (head + 2 worker nodes, real processes, real PostgreSQL), in a private
network namespace on loopback (tests/cluster_support.py): an actor placed on a chosen node runs again on the other
node within 30 s of that node's SIGKILL, and a replacement node joins (and takes a placement group's bundle)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cluster_support import require_cluster, run_in_namespace

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("ray_failover_driver.py")


def test_an_actor_on_a_killed_node_runs_again_on_the_other_node_within_30_s():
    require_cluster()
    run = run_in_namespace([sys.executable, str(DRIVER)], timeout_s=180)
    assert run.returncode == 0, run.output[-5000:]
    report = run.report()
    assert report["first_node"] == "b"
    assert report["moved_to"] == "a" and report["answering_node"] == "a"
    assert report["running_again_s"] <= 30, report
    assert report["b_dead_in_gcs"] and report["instances"] == 2
    assert report["overlap_beats"] == 0, "a killed node's actor cannot run on: its process is gone"
    assert report["replacement_is_new_node"] and report["node_names"] == ["a", "b", "head"]
    assert report["placement_group_nodes"] == ["a", "b"], "a STRICT_SPREAD group puts one bundle on each worker"
    assert run.leftover == [], "every process of the namespace ends with its driver"
