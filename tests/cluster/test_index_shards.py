"""Face-index shards on a real multi-node Ray cluster over a real PostgreSQL (the driver: shard_driver.py, in a
private network namespace: tests/cluster_support.py).

Two shard actors on two nodes hold the face index's weeks; a search merges both: the same top-k as one unsharded
index over the same store. The node of one shard is SIGKILLed: the next search is partial and names that shard's
weeks; after the leases expire the other shard rebuilds them from the store and searches are complete again, with
no answer in between that had fewer results without saying so. ``skynet cluster status`` lists both shards, their
node and weeks, the lost one as unreachable and its weeks as not held or held by the other shard. Retention's
deletions leave the shards too. Latency with 1 vs 2 shards: benchmarks/bench_shards.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cluster_support import require_cluster, run_in_namespace

pytestmark = [pytest.mark.slow]

DRIVER = Path(__file__).with_name("shard_driver.py")


def test_shards_on_two_nodes_merge_and_a_lost_shard_is_partial_until_rebuilt_elsewhere():
    require_cluster()
    run = run_in_namespace([sys.executable, str(DRIVER)], timeout_s=300)
    assert run.returncode == 0, run.output[-5000:]
    report = run.report()
    weeks = report["weeks"]
    held = report["held"]
    assert sorted(held) == ["face-shard:0", "face-shard:1"] and all(held.values()), held
    assert sorted(w for ws in held.values() for w in ws) == weeks, "each week held by one shard"
    assert sorted(report["shard_nodes"].values()) == ["a", "b"], "one shard per node (one 'index' each)"
    complete = report["complete"]
    assert complete["same_top_k"] == complete["queries"] and complete["incomplete"] == [], complete
    assert complete["hits"] == 10 * complete["queries"]
    assert report["filtered_same"]
    before = report["status_before"]  # `skynet cluster status`: both shards, their node and weeks; every week held
    assert {name: (s["node"], s["held"], s["reachable"]) for name, s in before["shards"].items()} == {
        name: (report["shard_nodes"][name], weeks, True) for name, weeks in held.items()
    }, before
    assert before["not_held"] == [] and "index shard face-shard:1" in before["text"], before

    lost = report["after_kill"]
    assert lost["incomplete_weeks"] == lost["lost_weeks"], "the partial answer names exactly the lost weeks"
    assert lost["hits_are_other_weeks_top_k"], lost
    assert lost["answered_s"] <= 5, "answered within the search deadline (2 s), not hung on the lost node"
    between = report["between"]
    assert between["silent_fewer"] == 0 and between["partial"] > 0, between
    assert report["complete_again_s"] < 60, report
    killed = report["status_after_kill"]  # the lost shard unreachable (not waited for); its weeks accounted for
    assert not killed["shards"]["face-shard:1"]["reachable"] and killed["answered_s"] < 10, killed
    shown = set(killed["not_held"]) | {w for s in killed["shards"].values() for w in s["held"]}
    assert set(lost["lost_weeks"]) <= shown, killed
    assert "UNREACHABLE" in killed["text"], killed["text"]
    back = report["status_after_recovery"]  # the lost weeks held by the other shard, none left unheld
    assert back["shards"]["face-shard:0"]["held"] == weeks and back["not_held"] == [], back
    assert not back["shards"]["face-shard:1"]["reachable"] and back["shards"]["face-shard:1"]["held"] == [], back
    recovered = report["after_recovery"]
    assert recovered["same_top_k"] == complete["queries"] and recovered["incomplete"] == [], recovered
    assert sorted(w for ws in recovered["held"].values() for w in ws) == weeks, recovered
    deleted = report["deleted"]
    # the store's change log names them: gone at the shard's next look (each second), not its count check (9 s)
    print(f"{deleted['faces']} deleted faces left the shards in {deleted['gone_s']} s")
    assert deleted["faces"] > 0 and deleted["gone_s"] < 5, deleted
    assert run.leftover == []
