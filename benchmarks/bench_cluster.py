"""Scale-out measurements (docs/cluster.md): sighting streams through the real writer, matcher, PostgreSQL and an
API node that follows the store; and camera failover on a real Ray cluster.

    python benchmarks/bench_cluster.py [--only streams,reindex,failover] [--cameras 1000] [--seconds 60]
                                       [--clips 8] [--kills 10] [--json PATH]

- streams: ``--cameras`` simulated cameras, one sighting each per ``--period`` seconds (default 5; every 10 s a
  1 s burst at 5x the rate), faces with their vectors and plates, 1 in 50 plates on the watch-list. A camera node's
  writer (the composition root's ``CatalogWriter`` with the watch-list matcher and a fence-free batch write, the
  one PostgreSQL store of a throw-away server) stores them; an API node (``build(settings, API_NODE)``: the store
  follower) indexes the faces and puts sightings and alerts on its live stream. Both run in this process (one
  machine: they share its cores). Measured from each sighting's creation: when the API node's live stream carries
  it (its face already in the API node's index: the index catch-up lag) and when its alert arrives there. The media
  files go to tmpfs unless ``--media-on-disk``: each is fsynced, and one machine's disk cannot stand in for the
  disks of a cluster's nodes (the fsync cost per file on this disk is reported, for sizing).
- reindex: tests/cluster/reindex_driver.py --throughput N, for N = 1 and 2 worker nodes of one CPU each (each
  file a Ray task reserving one CPU): one re-index job of ``--clips`` demo clips of 10 s (640x360, 10 fps), timed
  from its request to its end (the first file of each Ray worker process includes loading the model pack).
- failover: tests/cluster/camera_failover_driver.py with ``--kills`` in a private network namespace: real demo
  cameras as Ray actors on two worker nodes; each kill SIGKILLs the node that runs camera ``demo`` and times until
  its lease is taken on the other node (running again) and until it stores again; a replacement node then joins.
  Counts duplicated idempotency keys and alerts. Sightings that were committed are never deleted by a failover, so
  ``lost`` counts committed rows that went missing (the count read before each kill must still be there after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SCENARIOS = ("streams", "reindex", "failover")
STANDBY = {True: " (standby)", False: ""}


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def streams(cameras: int, seconds: float, period_s: float, media_on_disk: bool) -> dict:
    from servers import PostgresServer

    server = PostgresServer().start()
    parent = None if media_on_disk or not Path("/dev/shm").is_dir() else "/dev/shm"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-", dir=parent) as scratch:
            report = asyncio.run(_streams(server.url, Path(scratch), cameras, seconds, period_s))
            report["media_dir"] = "tmpfs" if parent else "disk"
            report["media_fsync_ms"] = _fsync_ms(Path(tempfile.gettempdir()))
            return report
    finally:
        server.stop()


def _fsync_ms(directory: Path, files: int = 50) -> float:
    """Median time to write and fsync one small file on ``directory``'s disk (what each media file costs)."""
    times = []
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        for number in range(files):
            start = time.perf_counter()
            with open(Path(scratch) / str(number), "wb") as handle:
                handle.write(b"\xff" * 4096)
                handle.flush()
                os.fsync(handle.fileno())
            times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 2)


async def _streams(url: str, data_dir: Path, cameras: int, seconds: float, period_s: float) -> dict:
    from skynet.alerts import EventType
    from skynet.app import build
    from skynet.config import Settings
    from skynet.index.catalog import Catalog
    from skynet.index.writer import CatalogWriter
    from skynet.records import Box, Camera, PlateText, Sighting, SightingKind, WatchlistEntry
    from skynet.system import SystemRole
    from skynet.watchlist import WatchlistMatcher

    settings = Settings(data_dir=data_dir, database_url=url)
    camera_node = Catalog.from_settings(settings, indexing=False)
    store = camera_node.store
    for number in range(cameras):
        store.cameras.save(Camera(f"cam-{number}", f"camera {number}", f"rtsp://10.0.0.1/{number}"))
    store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "wanted", "bench", "bench", 0.0, None, "WANTED*"))
    writer = CatalogWriter(camera_node)
    writer.add_listener(WatchlistMatcher(store, lambda *_: None, 0.9))
    api = build(settings, SystemRole.API_NODE, analysers=0)
    rng = np.random.default_rng(0)
    image = np.zeros((16, 16, 3), np.uint8)
    seen: list[float] = []
    alerted: list[float] = []
    sent = 0

    def sighting(number: int, now: float) -> Sighting:
        camera = f"cam-{number % cameras}"
        if number % 2:
            text = f"WANTED{number}" if number % 100 == 1 else f"P{number:07d}"
            return Sighting(
                camera,
                SightingKind.PLATE,
                now,
                now,
                now,
                Box(1, 1, 9, 9),
                0.8,
                plate=PlateText(text, (0.9,) * len(text)),
                track_id=number,
            )
        vector = rng.normal(size=128).astype(np.float32)
        return Sighting(
            camera,
            SightingKind.FACE,
            now,
            now,
            now,
            Box(1, 1, 9, 9),
            0.8,
            embedding=vector / np.linalg.norm(vector),
            track_id=number,
        )

    async with api.running():
        with api.hub.subscribe({EventType.SIGHTING, EventType.ALERT}) as events:

            async def listen() -> None:
                while True:
                    event = await events.get()
                    lag = time.time() - event.data.get("sighting", event.data)["best_time"]
                    (alerted if event.type == EventType.ALERT else seen).append(lag)

            listener = asyncio.create_task(listen())
            rate = cameras / period_s
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                burst = 5.0 if int(elapsed) % 10 == 0 else 1.0
                due = int((elapsed + 0.05) * rate * burst) if burst > 1 else int(elapsed * rate)
                for _ in range(max(0, min(due - sent, int(rate * burst * 0.05) + 1))):
                    writer.publish(sighting(sent, time.time()), image, image)
                    sent += 1
                await asyncio.sleep(0.05)
            writer.flush(60)
            wall = time.monotonic() - start
            await asyncio.sleep(2.0)
            listener.cancel()
    writer.close()
    indexed = len(api.catalog.faces.ids())
    api.close()
    camera_node.close()
    return {
        "cameras": cameras,
        "period_s": period_s,
        "seconds": round(wall, 1),
        "sent": sent,
        "stored": writer.stored,
        "failed": writer.failed,
        "sightings_per_s": round(writer.stored / wall, 1),
        "followed": len(seen),
        "faces_indexed_on_api_node": indexed,
        "index_lag_p50_s": _percentile(seen, 50),
        "index_lag_p99_s": _percentile(seen, 99),
        "alerts": len(alerted),
        "alert_p50_s": _percentile(alerted, 50),
        "alert_p99_s": _percentile(alerted, 99),
    }


def reindex(clips: int, nodes: tuple[int, ...] = (1, 2)) -> dict:
    from cluster_support import run_in_namespace

    driver = ROOT / "tests" / "cluster" / "reindex_driver.py"
    runs = {}
    for count in nodes:
        argv = [sys.executable, str(driver), "--throughput", str(count), "--clips", str(clips)]
        run = run_in_namespace(argv, timeout_s=1800)
        if run.returncode != 0:
            raise SystemExit(f"bench_cluster: the re-index run failed ({run.returncode}):\n{run.output[-5000:]}")
        runs[f"{count}_nodes"] = run.report()
    one, two = runs.get("1_nodes"), runs.get("2_nodes")
    if one and two:
        runs["speedup_2_nodes"] = round(two["frames_per_s"] / one["frames_per_s"], 2)
    return runs


def failover(kills: int, standby: bool) -> dict:
    from cluster_support import run_in_namespace

    driver = ROOT / "tests" / "cluster" / "camera_failover_driver.py"
    argv = [sys.executable, str(driver), "--kills", str(kills), *(["--standby"] if standby else [])]
    run = run_in_namespace(argv, timeout_s=600 + 240 * kills)
    if run.returncode != 0:
        raise SystemExit(f"bench_cluster: the failover run failed ({run.returncode}):\n{run.output[-5000:]}")
    report = run.report()
    runs = report["failovers"]
    again = [r["running_again_s"] for r in runs]
    storing = [r["storing_again_s"] for r in runs]
    return {
        "standby": standby,
        "kills": len(runs),
        "failover_s_max": max(again),
        "failover_s_p50": _percentile(again, 50),
        "storing_again_s_max": max(storing),
        "node_dead_s_max": max(r["node_dead_s"] for r in runs),
        # where a failover's time goes: after the kill, the new instance's process start, its code imported, its
        # parts built (the model pack loaded), the lease taken (p50 over the kills)
        "phases_p50_s": {
            phase: _percentile([r[f"{phase}_s"] for r in runs if f"{phase}_s" in r], 50)
            for phase in ("node_dead", "process", "imported", "built", "leased")
        },
        "lost": report["store"].get("lost", 0),
        "duplicated": report["store"]["duplicated_keys"],
        "duplicated_alerts": report["store"]["duplicated_alerts"],
        "runs": runs,
        # what each camera instance used at the end (sizing: docs/scale.md): CPU (100 = one core), memory
        "instances": [
            {key: camera.get(key) for key in ("camera_id", "state", "cpu_percent", "rss_mb")}
            for node in report["status_json"]["nodes"]
            if node["alive"]
            for camera in node["cameras"]
        ],
        "store": report["store"],
        "leftover_processes": run.leftover,
    }


def table(report: dict) -> str:
    lines = []
    if s := report.get("streams"):
        lines.append(
            f"streams   {s['cameras']} cameras / {s['period_s']} s: {s['sightings_per_s']} sightings/s stored "
            f"({s['stored']} of {s['sent']}, {s['failed']} failed); API node index lag p50 {s['index_lag_p50_s']} s "
            f"p99 {s['index_lag_p99_s']} s; alerts {s['alerts']}, p50 {s['alert_p50_s']} s p99 {s['alert_p99_s']} s; "
            f"media on {s['media_dir']} (disk fsync {s['media_fsync_ms']} ms per file)"
        )
    if r := report.get("reindex"):
        for run in r.values():
            if isinstance(run, dict):
                lines.append(
                    f"reindex   {run['nodes']} node(s): {run['files']} files of {run['clip_s']} s "
                    f"in {run['wall_s']} s, "
                    f"{run['frames_per_s']} frames/s ({run['video_s_per_s']} s of video per s), files per node "
                    f"{run['files_per_node']}, {run['state']}"
                )
        if "speedup_2_nodes" in r:
            lines.append(f"reindex   2 nodes / 1 node: {r['speedup_2_nodes']}x")
    if f := report.get("failover"):
        lines.append(
            f"failover  {f['kills']} kills{STANDBY[f['standby']]}: running again max {f['failover_s_max']} s "
            f"(p50 {f['failover_s_p50']}), "
            f"storing again max {f['storing_again_s_max']} s, node dead max {f['node_dead_s_max']} s; "
            f"lost {f['lost']}, duplicated {f['duplicated']}, duplicated alerts {f['duplicated_alerts']}\n"
            f"          after the kill (p50): "
            + ", ".join(f"{phase} {at} s" for phase, at in f["phases_p50_s"].items())
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--period", type=float, default=5.0, help="seconds between a camera's sightings")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clips", type=int, default=8, help="archive clips of the re-index job")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--standby", action="store_true", help="failover with a standby per camera (cluster_standby)")
    parser.add_argument(
        "--media-on-disk",
        action="store_true",
        help="keep the media files on disk (default: tmpfs, so that one machine's disk, where 1,000 cameras' media "
        "files are fsynced one by one, does not stand in for a cluster's many nodes; its fsync cost is reported)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    chosen = args.only.split(",")
    if unknown := set(chosen) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    report: dict = {}
    if "streams" in chosen:
        report["streams"] = streams(args.cameras, args.seconds, args.period, args.media_on_disk)
    if "reindex" in chosen:
        report["reindex"] = reindex(args.clips)
    if "failover" in chosen:
        report["failover"] = failover(args.kills, args.standby)
    flat = {**report.get("streams", {}), **{k: v for k, v in report.get("failover", {}).items() if k != "runs"}}
    report["summary"] = {
        key: flat.get(key)
        for key in ("sightings_per_s", "alert_p99_s", "index_lag_p99_s", "failover_s_max", "lost", "duplicated")
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))


if __name__ == "__main__":
    main()
