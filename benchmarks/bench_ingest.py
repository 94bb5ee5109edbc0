"""Ingest benchmark: decode-only vs analysis throughput on archive files, and live RTSP streams.

    .venv/bin/python benchmarks/bench_ingest.py [--quick] [--json PATH]

Clips are generated with Debian ffmpeg (H.264, no B-frames, GOP 50): a static textured scene
(a street camera's background) crossed by moving objects part of the time. Measured in one run:

* ``decode_fps``: every frame of the 1080p25 files decoded (OpenCV FFmpeg, files in parallel);
* ``reindex_fps``: the same files through camera workers at 5 fps analysis (motion gate on,
  the real model pack, sightings into the store), as video frames per wall second;
  ``reindex_vs_decode_ratio`` and ``reindex_x_realtime`` follow from it;
* ``live_streams_sustained``: the most 720p25 RTSP streams (real GStreamer server on
  127.0.0.1) analysed at 5 fps with < 1 % of the frames due for analysis dropped.
* ``sighting_delay_p50_s`` / ``_p99_s``: from a face or plate appearing in a live stream (its
  track's first frame) to its sighting committed in the store (SQLite in a temporary data
  directory, through the batching writer). A sighting is made when its track ends, so this is
  the time the object stays in view plus the tracker's 2 s "lost" wait; ``sighting_delay_after_
  last_seen_*`` is the part after the object left the view.

Archive and live runs write their sightings to that store, as ``skynet reindex`` / ``skynet run`` do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from ingest_support import RtspServer, make_clip, rtsp_server_available  # noqa: E402

from skynet.config import Settings  # noqa: E402
from skynet.index.catalog import Catalog  # noqa: E402
from skynet.index.writer import CatalogWriter  # noqa: E402
from skynet.ingest.analysis import AnalyzerPool  # noqa: E402
from skynet.ingest.cameras import CameraSet  # noqa: E402
from skynet.ingest.sources import SourceSpec  # noqa: E402
from skynet.ingest.status import CameraState  # noqa: E402
from skynet.ingest.worker import WorkerOptions  # noqa: E402
from skynet.records import Camera  # noqa: E402

FPS = 25
ANALYSIS_FPS = 5.0


def street_painter(width: int, height: int, seed: int, face: np.ndarray | None = None):
    """A fixed textured background; a 'car' and a 'person' (with ``face`` as its head, when
    given) cross it during the first half of every 8 s."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(40, 200, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    background = cv2.GaussianBlur(cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST), (9, 9), 0)
    head = None if face is None else cv2.resize(face, (height // 5, height // 5))

    def paint(index: int, image: np.ndarray) -> None:
        image[:] = background
        phase = (index % (8 * FPS)) / (8 * FPS)
        if phase < 0.5:
            x = int(phase * 2 * (width - width // 6))
            image[height // 2: height // 2 + height // 8, x: x + width // 6] = (30, 30, 220)
            y = int(phase * 2 * (height - 2 * height // 5))
            image[y: y + height // 5, width // 3: width // 3 + width // 20] = (200, 180, 160)
            if head is not None:
                image[y + height // 5: y + 2 * height // 5, width // 3: width // 3 + head.shape[1]] = head

    return paint


def sample_face() -> np.ndarray | None:
    """A real face photo from ../shared/data when that checkout is there (for live sightings)."""
    path = ROOT.parent / "shared" / "data" / "faces_identities" / "images" / "face_0001.jpg"
    return cv2.imread(str(path)) if path.is_file() else None


class StoreDelays:
    """A store listener: for each live sighting committed, (now - first seen, now - last seen)."""

    def __init__(self) -> None:
        self.delays: list[tuple[float, float]] = []

    def __call__(self, sightings) -> None:
        now = time.time()
        self.delays += [(now - s.first_seen, now - s.last_seen) for s in sightings if s.origin.kind == "live"]


def decode_only(files: list[Path]) -> float:
    """Frames per second decoding every frame of ``files``, one thread per file."""
    counts = [0] * len(files)

    def run(i: int, path: Path) -> None:
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        while capture.read()[0]:
            counts[i] += 1
        capture.release()

    wall = _timed_threads([lambda i=i, p=p: run(i, p) for i, p in enumerate(files)])
    return sum(counts) / wall


def reindex(files: list[Path], pool: AnalyzerPool, writer: CatalogWriter) -> dict:
    """Throughput of camera workers on ``files`` (all in parallel) into the store, video frames per wall second."""
    stored_before = writer.stored
    cameras = CameraSet(pool, writer, WorkerOptions(analysis_fps=ANALYSIS_FPS), embed=pool.embed)
    started = time.perf_counter()
    cameras.start(SourceSpec(f"file{i}", str(p), start_time=0.0) for i, p in enumerate(files))
    cameras.wait()
    writer.flush()
    wall = time.perf_counter() - started
    statuses = cameras.statuses()
    bad = [s for s in statuses if s.state is not CameraState.FINISHED]
    if bad:
        raise RuntimeError(f"archive workers failed: {bad}")
    frames = sum(s.frames_read for s in statuses)
    return {"frames": frames, "wall_s": wall, "fps": frames / wall,
            "analysed": sum(s.frames_analysed for s in statuses),
            "static_skipped": sum(s.frames_static for s in statuses), "sightings": writer.stored - stored_before}


def live_step(server: RtspServer, n: int, pool: AnalyzerPool, writer: CatalogWriter, warmup_s: float,
              measure_s: float) -> dict:
    cameras = CameraSet(pool, writer, WorkerOptions(analysis_fps=ANALYSIS_FPS), embed=pool.embed)
    cameras.start(SourceSpec(f"live{i}", server.url(f"cam{i}"), open_timeout_s=10.0) for i in range(n))
    try:
        deadline = time.monotonic() + 20
        while any(s.frames_read == 0 for s in cameras.statuses()) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(warmup_s)
        before = cameras.statuses()
        time.sleep(measure_s)
        after = cameras.statuses()
    finally:
        cameras.stop()
        writer.flush()
    pairs = list(zip(after, before, strict=True))
    read = sum(a.frames_read - b.frames_read for a, b in pairs)
    analysed = sum(a.frames_analysed - b.frames_analysed for a, b in pairs)
    dropped = sum(a.frames_dropped - b.frames_dropped for a, b in pairs)
    static = sum(a.frames_static - b.frames_static for a, b in pairs)
    due = analysed + dropped
    result = {"streams": n, "input_fps_per_stream": read / measure_s / n, "analysed": analysed, "dropped": dropped,
              "static_skipped": static, "drop_fraction": dropped / due if due else 0.0}
    result["sustained"] = result["drop_fraction"] < 0.01 and result["input_fps_per_stream"] >= 0.9 * FPS
    return result


def _timed_threads(jobs) -> float:
    threads = [threading.Thread(target=job) for job in jobs]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description="Ingest throughput benchmark")
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--json", type=Path, help="write the results as one JSON object here")
    parser.add_argument("--analyzers", type=int, default=os.cpu_count() or 1,
                        help="analysers working in parallel, each with cores/analyzers model threads "
                             "(default: one per core, one thread each: best on a busy machine)")
    args = parser.parse_args()
    files_n, seconds, live_seconds = (2, 4.0, 4.0) if args.quick else (4, 16.0, 16.0)
    warmup_s, measure_s, max_streams = (2.0, 4.0, 3) if args.quick else (4.0, 20.0, 12)
    cores = os.cpu_count() or 1
    settings = Settings(intra_op_threads=max(1, cores // args.analyzers))
    pool = AnalyzerPool.from_settings(settings, args.analyzers, lazy_embedding=True)
    results: dict = {"quick": args.quick, "cores": cores, "analysis_fps": ANALYSIS_FPS, "analyzers": args.analyzers}
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        work = Path(tmp)
        print(f"making {files_n} 1080p25 clips of {seconds:g} s ...", flush=True)
        files = [make_clip(work / f"archive{i}.mp4", seconds, 1920, 1080, FPS, street_painter(1920, 1080, i))
                 for i in range(files_n)]
        catalog = Catalog.open(work / "data")
        for i in range(max(files_n, max_streams)):
            catalog.store.add_camera(Camera(f"file{i}", f"file{i}", ""))
            catalog.store.add_camera(Camera(f"live{i}", f"live{i}", ""))
        writer = CatalogWriter(catalog)
        delays = StoreDelays()
        writer.add_listener(delays)
        decode_fps = decode_only(files)
        archive = reindex(files, pool, writer)
        results.update({
            "decode_fps": round(decode_fps, 1),
            "reindex_fps": round(archive["fps"], 1),
            "reindex_vs_decode_ratio": round(archive["fps"] / decode_fps, 3),
            "reindex_x_realtime": round(archive["fps"] / FPS, 2),
            "reindex_analysed_frames": archive["analysed"],
            "reindex_static_skipped": archive["static_skipped"],
            "reindex_sightings": archive["sightings"],
        })
        print(json.dumps(results, indent=1), flush=True)
        missing = rtsp_server_available()
        if missing is None:
            clip = make_clip(work / "live720.mp4", live_seconds, 1280, 720, FPS,
                             street_painter(1280, 720, 99, sample_face()))
            server = RtspServer({f"cam{i}": clip for i in range(max_streams)}).start()
            steps = []
            try:
                for n in range(1, max_streams + 1):
                    step = live_step(server, n, pool, writer, warmup_s, measure_s)
                    steps.append(step)
                    print(json.dumps(step), flush=True)
                    if not step["sustained"]:
                        break
            finally:
                server.kill()
            results["live_streams_sustained"] = max((s["streams"] for s in steps if s["sustained"]), default=0)
            results["live_steps"] = steps
            if delays.delays:
                from_first, from_last = np.array(delays.delays).T
                for key, values in (("sighting_delay", from_first), ("sighting_delay_after_last_seen", from_last)):
                    results[f"{key}_p50_s"] = round(float(np.percentile(values, 50)), 3)
                    results[f"{key}_p99_s"] = round(float(np.percentile(values, 99)), 3)
        else:
            results["live_skipped"] = f"RTSP test server needs {missing}"
        writer.close()
        catalog.close()
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
