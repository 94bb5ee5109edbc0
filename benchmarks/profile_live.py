"""Where live cameras spend their CPU: per-thread CPU time and py-spy samples of N live RTSP streams.

    .venv/bin/python benchmarks/profile_live.py [--streams 3] [--seconds 20] [--spy PATH-TO-PY-SPY]

Runs ``bench_ingest.py``'s live step (its 720p25 busy-street clip served by the real GStreamer RTSP
test server on 127.0.0.1, ``--streams`` cameras analysed at 5 fps through the same analyser pool and
store) and, over ``--seconds`` after a warm-up, reads every thread's CPU time from
``/proc/self/task/*/stat``. Python threads are grouped by their name (reader, analyser, sightings,
store writer); the others are native (FFmpeg's decoder and network threads, OpenCV's and
onnxruntime's pools), told apart from Python's by their thread ids. With ``--spy`` the run is sampled
by ``py-spy record`` (no native frames, idle threads left out) and the busy samples of the camera
threads are summed per stage as ``profile_reindex.py`` does.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

LIVE_STAGES = (("live reader: grab (decode, RTSP)", ("VideoSource.grab",)),)


def thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by thread id."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        result[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return result


def group_of(name: str) -> str:
    """A Python thread's group: its name without the camera id."""
    for prefix in ("read-", "analyse-", "sightings-"):
        if name.startswith(prefix):
            return prefix.rstrip("-")
    return name.split("-")[0].split("_")[0]


def live_run(streams: int, warmup_s: float, seconds: float) -> dict:
    """Run ``streams`` live cameras and measure CPU per thread group over ``seconds``."""
    import bench_ingest as bench
    from ingest_support import RtspServer, make_clip

    from skynet.config import Settings
    from skynet.detectors.pool import AnalyzerPool
    from skynet.index.catalog import Catalog
    from skynet.index.writer import CatalogWriter
    from skynet.ingest.cameras import CameraSet
    from skynet.ingest.source_spec import SourceSpec
    from skynet.ingest.worker import WorkerOptions
    from skynet.records import Camera

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="profile_live_") as tmp:
        work, faces = Path(tmp), bench.sample_faces()
        painter = bench.street_painter(1280, 720, 99, faces)
        clip = make_clip(work / "live720.mp4", 2 * bench.CYCLE_S, 1280, 720, bench.FPS, painter)
        pool = AnalyzerPool.from_settings(Settings(intra_op_threads=1), cores, lazy_embedding=True, lazy_reading=True)
        catalog = Catalog.open(work / "data")
        for i in range(streams):
            catalog.store.cameras.save(Camera(f"live{i}", f"live{i}", ""))
        writer = CatalogWriter(catalog)
        with RtspServer({f"cam{i}": clip for i in range(streams)}) as server:
            cameras = CameraSet(
                pool, writer, WorkerOptions(analysis_fps=bench.ANALYSIS_FPS), embed=pool.embed, read=pool.read
            )
            for i in range(streams):
                cameras.start(SourceSpec(f"live{i}", server.url(f"cam{i}"), open_timeout_s=10.0))
            try:
                time.sleep(warmup_s)
                before, cpu_before, wall = cameras.statuses(), thread_cpu(), time.perf_counter()
                process = time.process_time()
                time.sleep(seconds)
                after, cpu_after = cameras.statuses(), thread_cpu()
                process, wall = time.process_time() - process, time.perf_counter() - wall
                names = {t.native_id: group_of(t.name) for t in threading.enumerate()}
            finally:
                cameras.stop_all()
                writer.close()
                catalog.close()
    groups: collections.Counter[str] = collections.Counter()
    native_threads = 0
    for tid, cpu in cpu_after.items():
        used = cpu - cpu_before.get(tid, 0.0)
        name = names.get(tid)
        if name is None:
            native_threads += 1
            name = "native (FFmpeg, OpenCV, onnxruntime pools)"
        groups[name] += used
    pairs = list(zip(after, before, strict=True))
    counts = {
        key: sum(getattr(a, key) - getattr(b, key) for a, b in pairs)
        for key in ("frames_read", "frames_analysed", "frames_dropped", "frames_static", "reconnects")
    }
    due = counts["frames_analysed"] + counts["frames_dropped"]
    return {
        "streams": streams,
        "seconds": round(wall, 2),
        "cores_per_stream": round(process / wall / streams, 3),
        "cpu_ms_per_analysed_frame": round(1000 * process / max(1, counts["frames_analysed"]), 1),
        "input_fps_per_stream": round(counts["frames_read"] / wall / streams, 1),
        "drop_fraction": round(counts["frames_dropped"] / due, 4) if due else 0.0,
        **counts,
        "threads": len(cpu_after),
        "native_threads": native_threads,
        "cores_by_thread_group": {k: round(v / wall, 3) for k, v in groups.most_common()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--spy", type=Path, help="py-spy executable: sample the run and print stages")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--json", type=Path, help="write the CPU figures here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.spy is None or args.child:
        result = live_run(args.streams, args.warmup, args.seconds)
        print(json.dumps(result, indent=1), flush=True)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    import profile_reindex

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.txt"
        command = [str(args.spy), "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw), "--"]
        command += [sys.executable, __file__, "--child", "--streams", str(args.streams)]
        command += ["--warmup", str(args.warmup), "--seconds", str(args.seconds)]
        command += ["--json", str(args.json)] if args.json else []
        subprocess.run(command, check=True)
        profile_reindex.STAGES = LIVE_STAGES + profile_reindex.STAGES
        for name, share in profile_reindex.summarise(raw):
            print(f"{share:5.1f} %  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
