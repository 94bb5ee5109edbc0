"""Re-indexing over a Ray cluster (camera_failover_driver.py --reindex; runnable alone), inside a private
network namespace (cluster_support.run_in_namespace):
a re-index job of an API node whose settings name a Ray cluster, through the job runner as the jobs API starts it.

A head and two worker nodes (a, b: one CPU each, so the two files' tasks go one to each node), PostgreSQL, one
shared data directory with two archive clips (one watch-listed plate each). The job is asked for, runs to its end,
then is asked for again (every file skipped: done). Prints one JSON line: both jobs' states and progress, the
nodes that ran the files, the archive sightings per file, the alerts they raised.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import ray
from cluster_support import Node, RayCluster, alive_nodes, wait_for_nodes

from skynet.app import SystemRole, build
from skynet.config import Settings
from skynet.records import Camera, SightingKind, WatchlistEntry
from skynet.synthetic import DEMO_PLATES, write_demo_clip

WORKERS = [Node("a", num_cpus=1, memory_mb=4096), Node("b", num_cpus=1, memory_mb=4096)]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="skynet-reindex-") as scratch:
        with RayCluster(Path(scratch) / "ray", WORKERS, postgres=True) as cluster:
            ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False, namespace="skynet")
            wait_for_nodes(ray, ["a", "b"])
            settings = Settings(
                data_dir=Path(scratch) / "data",
                model_dir=Settings().models_path,
                database_url=cluster.database_url,
                cluster_address=cluster.address,
                cluster_camera_memory_mb=900,
                intra_op_threads=1,
            )
            report = reindex_scenario(settings)
    print(json.dumps(report), flush=True)


def reindex_scenario(settings: Settings) -> dict:
    """Two archive clips re-indexed by a job of an API node on the cluster this process is connected to, twice."""
    archive = settings.data_dir / "archive"
    archive.mkdir(parents=True)
    clips = [
        write_demo_clip(archive / f"clip-{n}.avi", seconds=6, size=(640, 360), plates=(DEMO_PLATES[n],))
        for n in range(2)
    ]
    names = {node_id: name for name, node_id in alive_nodes(ray).items()}
    system = build(settings, SystemRole.API_NODE, analysers=0)
    try:
        store = system.catalog.store
        store.cameras.save(Camera("archive", "Archive", str(archive)))
        for text in DEMO_PLATES[:2]:
            store.watchlists.add(WatchlistEntry(SightingKind.PLATE, text, "case", "test", 0.0, None, text))
        params = {"paths": [str(archive)], "camera": "archive", "start": 1_700_000_000.0}
        jobs = []
        for _ in range(2):
            job = system.runner.request("reindex", "investigator", params)
            system.runner.join(600)
            work = next(run.work for run, _ in system.runner._runs if run.job.id == job.id)
            done = store.jobs.get(job.id)
            jobs.append(
                {
                    "state": done.state.value,
                    "progress": done.progress,
                    "errors": list(done.errors),
                    "nodes": sorted(names.get(r.node_id, r.node_id) for r in work.reader.results),
                    "outcomes": sorted(r.outcome.status for r in work.reader.results),
                }
            )
        per_file = dict(
            store.db.execute(
                "SELECT origin_file, count(*) FROM sightings WHERE origin_kind = 'archive' GROUP BY origin_file"
            ).fetchall()
        )
        report = {
            "jobs": jobs,
            "sightings_per_file": {Path(k).name: v for k, v in per_file.items()},
            "clips": [c.name for c in clips],
            "alerts": store.db.execute(
                "SELECT count(*) FROM alerts a JOIN sightings s ON s.id = a.sighting_id WHERE s.origin_kind = 'archive'"
            ).fetchone()[0],
        }
    finally:
        system.close()
    return report


if __name__ == "__main__":
    sys.exit(main())
