"""Ray's own guarantees that Skynet's scale-out relies on, measured on a real local cluster (docs/cluster.md).

    python benchmarks/bench_ray.py [--kills 3] [--only failover,partition,tasks,memory] [--json PATH]

Every scenario runs in a private network namespace of its own (tests/cluster_support.py: as root, loopback only)
with a Ray head (no CPUs) and two worker nodes (1 CPU each), plus PostgreSQL for the heartbeats of the stand-in
camera (tests/cluster_probe.py: a named detached actor with ``max_restarts=-1`` that writes a row every 100 ms).

- failover: for each health-check setting, ``--kills`` times: SIGKILL the node the actor runs on, time until the
  GCS reports that node dead and until a new instance of the actor beats on the other node; then a replacement
  node starts (timed) for the next kill.
- partition: SIGSTOP only the raylet of the actor's node (its worker runs on, as behind a network partition), or
  the whole node (a hung machine); SIGCONT after the actor has restarted elsewhere. Counts heartbeats that the old
  instance wrote after the new one started: Ray's answer to "can a camera run twice?".
- tasks: N file jobs as Ray tasks over both nodes, some failing once (``retry_exceptions``); the same with a node
  SIGKILLed half-way (``max_retries``); then ``ray.cancel`` of queued and running jobs.
- memory: proportional set size of each idle node's processes, of a bare actor and of one that imports the
  camera pipeline's libraries, and the cost of 10 more actors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cluster_support import Node, RayCluster, alive_nodes, run_in_namespace, wait_for_nodes  # noqa: E402
from waiting import wait_for  # noqa: E402

MB = 1024 * 1024
WORKERS = [Node("a", resources={"camera": 100}), Node("b", resources={"camera": 100})]


def _health(period_ms: int, timeout_ms: int, threshold: int) -> dict[str, int]:
    """GCS node health checks (ray start --head --system-config): a node is dead after ``threshold`` failed checks in
    a row, one every ``period_ms``, each given ``timeout_ms``."""
    return {
        "health_check_period_ms": period_ms,
        "health_check_timeout_ms": timeout_ms,
        "health_check_failure_threshold": threshold,
    }


HEALTH = {
    "default": {},
    "1000ms x 5": _health(period_ms=1000, timeout_ms=1000, threshold=5),
    "500ms x 3": _health(period_ms=500, timeout_ms=500, threshold=3),
}
PARTITION_HEALTH = "1000ms x 5"


def _place(ray, name: str, url: str, node_id: str, lease_s: float | None = None):
    """The stand-in camera ``name``, preferring node ``node_id`` (soft: on a restart it goes wherever it fits)."""
    from cluster_probe import Beating
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor = Beating.options(
        name=name,
        namespace="bench",
        lifetime="detached",
        resources={"camera": 1},
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=True),
    ).remote(name, url, lease_s=lease_s)
    return actor, ray.get(actor.where.remote(), timeout=60)


def _wait_failover(ray, cluster: RayCluster, actor: str, victim: str, victim_id: str, t0: float) -> dict:
    """Seconds from ``t0`` until the GCS reports ``victim`` dead and until ``actor`` beats on another node."""
    import cluster_probe

    dead = wait_for(lambda: "dead" if victim not in alive_nodes(ray) else None, 120, f"node {victim} dead")
    dead_s = time.time() - t0 if dead else None
    moved = wait_for(
        lambda: cluster_probe.first_beat_after(cluster.database_url, actor, t0, victim_id), 120, f"{actor} to move"
    )
    return {"node_dead_s": round(dead_s, 2), "actor_running_s": round(moved.first - t0, 2), "new_node": moved.node}


def _cluster(directory: Path, health: dict) -> RayCluster:
    return RayCluster(directory, WORKERS, system_config=health, postgres=True)


def failover(directory: Path, kills: int) -> dict:
    import cluster_probe
    import ray

    results = {}
    for label, health in HEALTH.items():
        with _cluster(directory / label.replace(" ", ""), health) as cluster:
            ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
            nodes = wait_for_nodes(ray, ["a", "b"])
            cluster_probe.create_schema(cluster.database_url)
            actor, _ = _place(ray, "camera-1", cluster.database_url, nodes["b"])
            runs = []
            for _ in range(kills):
                victim_id, _ = ray.get(actor.where.remote(), timeout=60)
                time.sleep(0.5)  # a few heartbeats before the kill
                victim = next(name for name, node_id in alive_nodes(ray).items() if node_id == victim_id)
                t0 = time.time()
                cluster.kill_node(victim)
                run = _wait_failover(ray, cluster, "camera-1", victim, victim_id, t0)
                started = time.time()
                cluster.start_node(next(node for node in WORKERS if node.name == victim))
                wait_for_nodes(ray, [victim])
                run["replacement_node_start_s"] = round(time.time() - started, 2)
                runs.append(run)
            seconds, beats = cluster_probe.overlap(cluster.database_url, "camera-1")
            results[label] = {"config": health, "runs": runs, "overlap_s": round(seconds, 2), "overlap_beats": beats}
    return results


LEASE_S = 2.0


def partition(directory: Path) -> dict:
    results = {}
    cases = [  # label, SIGSTOP only the raylet (else the whole node), health checks, lease
        (f"raylet SIGSTOP, {PARTITION_HEALTH}", True, PARTITION_HEALTH, None),
        (f"node SIGSTOP, {PARTITION_HEALTH}", False, PARTITION_HEALTH, None),
        ("node SIGSTOP, default", False, "default", None),
        (f"raylet SIGSTOP, {PARTITION_HEALTH}, lease {LEASE_S:g} s", True, PARTITION_HEALTH, LEASE_S),
        (f"node SIGSTOP, {PARTITION_HEALTH}, lease {LEASE_S:g} s", False, PARTITION_HEALTH, LEASE_S),
    ]
    for number, (label, raylet_only, health, lease_s) in enumerate(cases):
        results[label] = _partition_case(directory / str(number), raylet_only, health, lease_s)
    return results


def _partition_case(directory: Path, raylet_only: bool, health: str, lease_s: float | None) -> dict:
    """Freeze node b (the actor's) until the actor has restarted on a, 3 s more, then let b go on."""
    import cluster_probe
    import ray

    with _cluster(directory, HEALTH[health]) as cluster:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        nodes = wait_for_nodes(ray, ["a", "b"])
        cluster_probe.create_schema(cluster.database_url)
        actor, _ = _place(ray, "camera-1", cluster.database_url, nodes["b"], lease_s)
        time.sleep(1)
        t0 = time.time()
        cluster.freeze("b", raylet_only=raylet_only)
        wait_for(lambda: "b" not in alive_nodes(ray), 120, "node b dead")
        run = {"node_dead_s": round(time.time() - t0, 2)}
        wait_for(lambda: _answering_node(ray, actor) not in (None, nodes["b"]), 120, "a restart")
        run["actor_restarted_s"] = round(time.time() - t0, 2)
        time.sleep(3)  # both instances may now run; then the partition heals
        thawed = time.time()
        cluster.thaw("b")

        def old_silent() -> bool:
            latest = cluster_probe.instances(cluster.database_url, "camera-1")[0]
            return time.time() - latest.last > 2

        wait_for(old_silent, 60, "the old instance to stop beating", interval_s=0.5)
        new = wait_for(
            lambda: cluster_probe.first_beat_after(cluster.database_url, "camera-1", t0, nodes["b"]),
            60,
            "the new instance to beat",
        )
        old = cluster_probe.instances(cluster.database_url, "camera-1")[0]
        seconds, beats = cluster_probe.overlap(cluster.database_url, "camera-1")
        run.update(
            new_instance_beating_s=round(new.first - t0, 2),
            overlap_s=round(seconds, 2),
            overlap_beats=beats,
            old_beats_after_thaw_s=round(max(0.0, old.last - thawed), 2),
            node_b_processes_after_thaw=[comm for _, comm in cluster.node_processes("b")],
            node_b_alive_in_gcs="b" in alive_nodes(ray),
        )
        return run


def _answering_node(ray, actor) -> str | None:
    """The node of the instance of ``actor`` that answers within a second, or None."""
    try:
        return ray.get(actor.where.remote(), timeout=1)[0]
    except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
        return None


class TransientJobError(Exception):
    """A job failure worth retrying (a file briefly unreadable)."""


def _job(path: str, work_s: float, flaky: bool) -> str:
    """One re-index job: hash the file, as the real job reads and analyses it; a flaky job fails its first try.
    Each try leaves a mark, so the driver can count tries per file."""
    marks = Path(path + ".tries")
    with marks.open("a") as out:
        out.write(f"{os.getpid()}\n")
    if flaky and len(marks.read_text().splitlines()) == 1:
        raise TransientJobError(path)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    deadline = time.monotonic() + work_s
    while time.monotonic() < deadline:  # a Python loop over frames: a cancel interrupts it between two
        time.sleep(0.01)
    return digest


def tasks(directory: Path, jobs: int) -> dict:
    import ray

    results = {}
    with _cluster(directory / "tasks", HEALTH[PARTITION_HEALTH]) as cluster:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        wait_for_nodes(ray, ["a", "b"])
        job = ray.remote(max_retries=3, retry_exceptions=[TransientJobError], num_cpus=1)(_job)
        for label, kill in (("retries", False), ("node killed half-way", True)):
            files = _job_files(directory / label.replace(" ", "-"), jobs)
            started = time.time()
            refs = [job.remote(str(path), 0.05, i % 10 == 0) for i, path in enumerate(files)]
            if kill:
                wait_for(lambda refs=refs: _done(ray, refs) >= jobs // 2, 120, "half the jobs")
                cluster.kill_node("b")
            digests = ray.get(refs, timeout=300)
            elapsed = time.time() - started
            expected = [hashlib.sha256(path.read_bytes()).hexdigest() for path in files]
            tries = [len(Path(str(path) + ".tries").read_text().splitlines()) for path in files]
            results[label] = {
                "jobs": jobs,
                "jobs_per_s": round(jobs / elapsed, 1),
                "all_correct": digests == expected,
                "tries_total": sum(tries),
                "files_tried_more_than_once": sum(t > 1 for t in tries),
                "flaky_files": sum(i % 10 == 0 for i in range(jobs)),
            }
        results["cancel"] = _cancel(ray, job, directory / "cancel")
    return results


def _done(ray, refs: list) -> int:
    return len(ray.wait(refs, num_returns=len(refs), timeout=0)[0])


def _job_files(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True)
    files = [directory / f"clip-{i:04d}.bin" for i in range(count)]
    for path in files:
        path.write_bytes(os.urandom(256 * 1024))
    return files


def _cancel(ray, job, directory: Path) -> dict:
    """20 jobs of 5 s on 1 CPU (one node left): 1 runs, 19 wait; cancel all after 1 s, without and with force."""
    results = {}
    for force in (False, True):
        files = _job_files(directory / f"force-{force}", 20)
        refs = [job.remote(str(path), 5.0, False) for path in files]
        wait_for(lambda files=files: Path(f"{files[0]}.tries").exists(), 60, "the first job to start")
        time.sleep(0.5)
        started = time.time()
        for ref in refs:
            ray.cancel(ref, force=force)
        outcomes = {"cancelled": 0, "finished": 0, "other": 0}
        for ref in refs:
            try:
                ray.get(ref, timeout=30)
                outcomes["finished"] += 1
            except (ray.exceptions.TaskCancelledError, ray.exceptions.WorkerCrashedError):
                outcomes["cancelled"] += 1
            except ray.exceptions.RayError as error:
                outcomes["other"] += 1
                outcomes["other_error"] = type(error).__name__
        outcomes["started"] = sum(Path(f"{path}.tries").exists() for path in files)
        results[f"force={force}"] = {**outcomes, "all_resolved_s": round(time.time() - started, 2)}
    return results


def memory(directory: Path) -> dict:
    import ray

    class Bare:
        def pid(self) -> int:
            return os.getpid()

    class Pipeline(Bare):
        def __init__(self) -> None:
            import cv2  # noqa: F401
            import faiss  # noqa: F401
            import numpy  # noqa: F401
            import onnxruntime  # noqa: F401
            import psycopg  # noqa: F401

    Bare, Pipeline = (ray.remote(num_cpus=0, resources={"camera": 1})(cls) for cls in (Bare, Pipeline))

    with _cluster(directory / "memory", {}) as cluster:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        nodes = wait_for_nodes(ray, ["a", "b"])
        time.sleep(5)  # let the idle workers Ray starts ahead of time settle
        idle = {name: _mb(cluster.memory(name)) for name in ("head", "a", "b")}
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        on_a = NodeAffinitySchedulingStrategy(nodes["a"], soft=False)
        bare = Bare.options(scheduling_strategy=on_a).remote()
        pipeline = Pipeline.options(scheduling_strategy=on_a).remote()
        pids = {"bare actor": ray.get(bare.pid.remote()), "pipeline actor": ray.get(pipeline.pid.remote())}
        per_actor = {label: round(_pss_mb(pid), 1) for label, pid in pids.items()}
        before = cluster.memory("a")["total"]
        started = time.time()
        more = [Bare.options(scheduling_strategy=on_a).remote() for _ in range(10)]
        ray.get([actor.pid.remote() for actor in more], timeout=120)
        per_actor["10 bare actors started_s"] = round(time.time() - started, 2)
        per_actor["10 bare actors total_mb"] = round((cluster.memory("a")["total"] - before) / MB, 1)
        return {"idle_nodes_mb": idle, "actors": per_actor}


def _mb(sizes: dict[str, int]) -> dict[str, float]:
    return {name: round(size / MB, 1) for name, size in sorted(sizes.items(), key=lambda item: -item[1])}


def _pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


SCENARIOS = {"failover": failover, "partition": partition, "tasks": tasks, "memory": memory}


def inside(args: argparse.Namespace) -> None:
    """In the namespace: run the scenarios, print one JSON line."""
    report = {}
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as scratch:
        for name in args.only.split(","):
            started = time.time()
            if name == "failover":
                report[name] = failover(Path(scratch) / name, args.kills)
            elif name == "tasks":
                report[name] = tasks(Path(scratch) / name, args.jobs)
            else:
                report[name] = SCENARIOS[name](Path(scratch) / name)
            report[name]["scenario_s"] = round(time.time() - started, 1)
            print(f"{name}: done in {report[name]['scenario_s']} s", file=sys.stderr, flush=True)
    print(json.dumps(report))


def table(report: dict) -> str:
    lines = []
    for label, result in _cases(report, "failover"):
        for i, run in enumerate(result["runs"]):
            lines.append(
                f"failover  {label:<12} kill {i + 1}: node dead {run['node_dead_s']:>5} s, actor running again "
                f"{run['actor_running_s']:>5} s, replacement node up {run['replacement_node_start_s']} s"
            )
        lines.append(
            f"failover  {label:<12} overlap of two instances: {result['overlap_s']} s, {result['overlap_beats']}"
        )
    for label, run in _cases(report, "partition"):
        lines.append(
            f"partition {label:<36} dead {run['node_dead_s']} s, restarted {run['actor_restarted_s']} s, new "
            f"beating {run['new_instance_beating_s']} s, overlap {run['overlap_s']} s ({run['overlap_beats']} beats), "
            f"old beats {run['old_beats_after_thaw_s']} s after SIGCONT, node b processes left "
            f"{len(run['node_b_processes_after_thaw'])}"
        )
    for label, result in _cases(report, "tasks"):
        lines.append(f"tasks     {label:<22} {json.dumps(result)}")
    if memory_report := report.get("memory"):
        for name, sizes in memory_report["idle_nodes_mb"].items():
            lines.append(f"memory    idle node {name:<5} {json.dumps(sizes)}")
        lines.append(f"memory    actors {json.dumps(memory_report['actors'])}")
    return "\n".join(lines)


def _cases(report: dict, scenario: str) -> list[tuple[str, dict]]:
    return [(label, result) for label, result in report.get(scenario, {}).items() if isinstance(result, dict)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=3, help="node kills per health-check setting")
    parser.add_argument("--jobs", type=int, default=100, help="file jobs in the task fan-out")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := set(args.only.split(",")) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    if args.inside:
        inside(args)
        return
    if reason := _unavailable():
        sys.exit(f"bench_ray: {reason}")
    argv = [sys.executable, __file__, "--inside", "--kills", str(args.kills), "--jobs", str(args.jobs)]
    run = run_in_namespace([*argv, "--only", args.only], timeout_s=3600)
    if run.returncode != 0:
        sys.exit(f"bench_ray: the run in the namespace failed ({run.returncode}):\n{run.output[-5000:]}")
    report = run.report()
    report["leftover_processes"] = run.leftover
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))


def _unavailable() -> str | None:
    from cluster_support import namespace_unavailable, ray_unavailable

    return namespace_unavailable() or ray_unavailable()


if __name__ == "__main__":
    main()
