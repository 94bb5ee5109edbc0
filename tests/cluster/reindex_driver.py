"""Re-indexing over a Ray cluster (camera_failover_driver.py --reindex; runnable alone), inside a private
network namespace (cluster_support.run_in_namespace):
a re-index job of an API node whose settings name a Ray cluster, through the job runner as the jobs API starts it.

A head and two worker nodes (a, b: one CPU each, so the two files' tasks go one to each node), PostgreSQL, one
shared data directory with two archive clips (one watch-listed plate each). The job is asked for, runs to its end,
then is asked for again (every file skipped: done). Prints one JSON line: both jobs' states and progress, the
nodes that ran the files, the archive sightings per file, the alerts they raised; then a job of four more clips
cancelled after its first file and asked for again (:func:`cancel_scenario`).

With ``--throughput N`` (benchmarks/bench_cluster.py, part b): ``--clips`` clips re-indexed by one job on a cluster
of N worker nodes of one CPU each; reports the job's wall time, frames, frames per second and files per node (the
first file of each Ray worker process includes building its parts: the model pack loaded).

    python tests/cluster/reindex_driver.py [--throughput N --clips K --seconds S]   (inside run_in_namespace)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import ray
from cluster_support import Node, RayCluster, alive_nodes, wait_for_nodes
from waiting import wait_for

from skynet.accounts.model import Role, User
from skynet.app import build
from skynet.config import Settings
from skynet.records import Camera, SightingKind, WatchlistEntry
from skynet.synthetic import DEMO_PLATES, write_demo_clip
from skynet.system import System, SystemRole

WORKERS = [Node("a", num_cpus=1, memory_mb=4096), Node("b", num_cpus=1, memory_mb=4096)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--throughput", type=int, default=0, help="measure a job on this many worker nodes")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    args = parser.parse_args()
    workers = (
        [Node(name, num_cpus=1, memory_mb=4096) for name in "ab"[: args.throughput]] if args.throughput else WORKERS
    )
    with tempfile.TemporaryDirectory(prefix="skynet-reindex-") as scratch:
        with RayCluster(Path(scratch) / "ray", workers, postgres=True) as cluster:
            ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False, namespace="skynet")
            wait_for_nodes(ray, [node.name for node in workers])
            settings = Settings(
                data_dir=Path(scratch) / "data",
                model_dir=Settings().models_path,
                database_url=cluster.database_url,
                cluster_address=cluster.address,
                cluster_camera_memory_mb=900,
                intra_op_threads=1,
            )
            if args.throughput:
                report = throughput_scenario(settings, args.clips, args.seconds)
            else:
                report = reindex_scenario(settings)
    print(json.dumps(report), flush=True)


def throughput_scenario(settings: Settings, clips: int, seconds: float) -> dict:
    """One re-index job of ``clips`` archive clips of ``seconds`` each, timed from the request to its end."""
    archive = settings.data_dir / "archive"
    archive.mkdir(parents=True)
    for n in range(clips):
        plates = (DEMO_PLATES[n % len(DEMO_PLATES)],)
        write_demo_clip(archive / f"clip-{n:03d}.avi", seconds=seconds, size=(640, 360), plates=plates)
    names = {node_id: name for name, node_id in alive_nodes(ray).items()}
    system = build(settings, SystemRole.API_NODE, analysers=0)
    try:
        store = system.catalog.store
        store.cameras.save(Camera("archive", "Archive", str(archive)))
        params = {"paths": [str(archive)], "camera": "archive", "start": 1_700_000_000.0}
        started = time.monotonic()
        job = system.runner.request("reindex", "investigator", params)
        system.runner.join(1800)
        wall = time.monotonic() - started
        work = next(run.work for run, _ in system.runner._runs if run.job.id == job.id)
        done = store.jobs.get(job.id)
        per_node: dict[str, int] = {}
        for result in work.reader.results:
            name = names.get(result.node_id, result.node_id)
            per_node[name] = per_node.get(name, 0) + 1
        return {
            "nodes": sum(1 for name in names.values() if name != "head"),  # worker nodes
            "state": done.state.value,
            "errors": list(done.errors),
            "files": clips,
            "clip_s": seconds,
            "wall_s": round(wall, 1),
            "frames": done.progress["frames"],
            "sightings": done.progress["sightings"],
            "frames_per_s": round(done.progress["frames"] / wall, 1),
            "video_s_per_s": round(clips * seconds / wall, 2),
            "files_per_node": per_node,
        }
    finally:
        system.close()


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
            "cancel": cancel_scenario(system, archive / "cancelled"),
        }
    finally:
        system.close()
    return report


def cancel_scenario(system: System, folder: Path) -> dict:
    """A re-index job of four clips cancelled by an admin once its first file is done, then asked for again:
    the states of the job and its files after the cancel, and the sightings per file after the second job."""
    folder.mkdir(parents=True)
    # the first file small, so that it is done while the others (larger: analysis takes seconds, however cheap it
    # gets) still run; the larger ones are copies of one (each file is a file of its own to the job)
    small = write_demo_clip(folder / "late-0.avi", seconds=6, size=(640, 360), plates=(DEMO_PLATES[0],))
    large = write_demo_clip(folder / "late-1.avi", seconds=40, size=(1920, 1080), plates=(DEMO_PLATES[1],))
    clips = [small, large, *(shutil.copyfile(large, folder / f"late-{n}.avi") for n in (2, 3))]
    store = system.catalog.store
    params = {"paths": [str(folder)], "camera": "archive", "start": 1_700_000_000.0}
    job = system.runner.request("reindex", "admin", params)
    wait_for(lambda: store.jobs.get(job.id).progress.get("files_done", 0) >= 1, 300, "the first file re-indexed")
    asked = time.monotonic()
    system.jobs.cancel(User("admin", Role.ADMIN, 0.0), job.id, "cluster test of cancellation")
    system.runner.join(300)
    stopped_s = time.monotonic() - asked
    cancelled = store.jobs.get(job.id)
    states = [getattr(store.jobs.file_state(str(clip)), "status", None) for clip in clips]
    again = system.runner.request("reindex", "admin", params)
    system.runner.join(600)
    rows = store.db.execute(
        "SELECT origin_file, count(*) FROM sightings WHERE origin_file LIKE ? GROUP BY origin_file", (f"{folder}%",)
    ).fetchall()
    return {
        "state": cancelled.state.value,
        "progress": cancelled.progress,
        "errors": list(cancelled.errors),
        "stopped_s": round(stopped_s, 1),
        "file_states": states,
        "again": store.jobs.get(again.id).state.value,
        "sightings_per_file": sorted(count for _, count in rows),
        "integrity_problems": store.integrity_problems(),
    }


if __name__ == "__main__":
    sys.exit(main())
