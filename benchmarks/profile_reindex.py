"""Where a re-index spends its time: py-spy samples of the camera threads, summed per stage.

    .venv/bin/pip install py-spy
    .venv/bin/python benchmarks/profile_reindex.py [--repeats 8] [--rate 250] [--raw PATH] [--py-spy PATH]
    .venv/bin/python benchmarks/profile_reindex.py --thread-cpu [--repeats 2]

Re-indexes ``bench_ingest.py --quick``'s two busy-street clips (1080p25, 8 s each, through the
same camera workers, analyser pool and store) ``--repeats`` times under ``py-spy record`` and
prints the share of busy samples of the workers' threads per stage, stages being found by the
innermost matching function of each stack (``STAGES``, first match wins). Samples of threads
that wait (hand-over slots, queues, sleeps) are counted apart; FFmpeg's own decoding threads are
native and not sampled (their work shows in ``decode_cpu_ms_per_frame`` of ``bench_ingest.py``).

``--thread-cpu`` runs no sampler: each stage's calls (``CPU_STAGES``) are timed by their thread's CPU
time, nested stages taken out of the stage around them, and printed as ms of CPU per video frame
beside the process CPU per video frame (after one warm-up re-index); what no stage holds is FFmpeg's
decoding threads, onnxruntime's and OpenCV's own threads and the rest of the Python code.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stage_clock import StageClock

# stage -> functions whose presence in a stack puts a sample there (checked in this order)
STAGES = (
    ("plate reading: CTC beam search (Python)", ("beam_decode", "greedy_decode")),
    ("plate reading: recogniser (onnxruntime)", ("CtcPlateReader.read",)),
    ("face embedding (alignment + network)", ("DlibResNetEmbedder.embed",)),
    ("plate detector clp_det (onnxruntime + decoding)", ("ClpDetector.detect",)),
    ("face detector CenterFace (onnxruntime + decoding)", ("CenterFace.detect",)),
    ("region crops scaled for the detectors", ("_views",)),
    ("region planning (motion thumbnail, boxes)", ("RegionPlanner.plan",)),
    ("tracking (norfair, track bookkeeping)", ("CameraTracker.update", "CameraTracker.live_boxes")),
    ("sightings made (thumbnails, best faces)", ("TrackAccumulator.sighting",)),
    ("store: rows, media files", ("CatalogWriter._store",)),
    ("decoding (grab)", ("VideoSource.grab",)),
    ("BGR conversion of analysed frames (retrieve)", ("VideoSource.retrieve",)),
    ("opening files (probe, decoder)", ("open_source",)),
)
# a sample waits when one of its frames hands over (the first three) or its innermost frame blocks
WAITING = (
    "LatestSlot.take",
    "LatestSlot.put",
    "Queue.get",
    "Condition.wait",
    "select",
    "_wait_for_tstate_lock",
    "_worker",
)
THREADS = ("CameraWorker._", "CatalogWriter._run", "_worker (")
# --thread-cpu: stage, module, attribute path of the calls timed; clp_det's looks at a view are told apart
CPU_STAGES = (
    ("clp_det (the rest of a view)", "skynet.detectors.clp_det", "ClpDetector.detect"),
    ("clp_det (network, decoding)", "skynet.detectors.clp_det", "ClpDetector._detect"),
    ("clp_det input (resize, mean, padding)", "skynet.detectors.clp_det", "ClpDetector._blob"),
    ("CenterFace", "skynet.detectors.centerface", "CenterFace.detect"),
    ("plate reading: recogniser", "skynet.detectors.plate_readers", "CtcPlateReader.read"),
    ("plate reading: CTC beam search", "skynet.detectors.plate_readers", "beam_decode"),
    ("face embedding", "skynet.detectors.dlib_resnet", "DlibResNetEmbedder.embed_each"),
    ("region crops scaled", "skynet.detectors.analyzer", "_views"),
    ("region planning", "skynet.ingest.regions", "RegionPlanner.plan"),
    ("tracking", "skynet.tracking.tracker", "CameraTracker.update"),
    ("sightings made", "skynet.tracking.track", "TrackAccumulator.sighting"),
    ("store", "skynet.index.writer", "CatalogWriter._store"),
    ("decoding (grab, Python side)", "skynet.ingest.sources", "VideoSource.grab"),
    ("BGR conversion (retrieve)", "skynet.ingest.sources", "VideoSource.retrieve"),
    ("opening files", "skynet.ingest.worker", "open_source"),
)


class ReindexClock(StageClock):
    """The stage clock with clp_det's looks told apart, installed on :data:`CPU_STAGES`."""

    def enter(self, stage: str, call, args: tuple, stack: list) -> tuple[str, object]:
        """A ``_detect`` call is named after which of its ``detect`` call's looks it is: the first, a zoom-out (the
        whole view again) or a zoom-in (a crop of it); a ``detect`` call keeps its view's shape and looks."""
        if call.__name__ == "detect":
            return stage, {"shape": args[1].shape, "looks": 0}
        if call.__name__ != "_detect":
            return stage, None
        detect = stack[-1][1] if stack and stack[-1][1] is not None else None
        if detect is None:
            return f"{stage}: first look", None
        detect["looks"] += 1
        if detect["looks"] == 1:
            return f"{stage}: first look", None
        return f"{stage}: {'zoom-out' if args[1].shape == detect['shape'] else 'zoom-in'}", None

    def install(self) -> None:
        """Wrap every call of :data:`CPU_STAGES`."""
        for stage, module_name, path in CPU_STAGES:
            owner = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            self.patch(owner, name, stage)


def reindex_clips(repeats: int, clock: ReindexClock | None = None) -> None:
    """Make the quick clips and re-index them ``repeats`` times (the profiled part); with ``clock``, once more
    first as a warm-up, then print the thread CPU per stage of the ``repeats``."""
    import bench_ingest as bench

    from skynet.config import Settings
    from skynet.detectors.pool import AnalyzerPool
    from skynet.index.catalog import Catalog
    from skynet.index.writer import CatalogWriter
    from skynet.records import Camera

    with tempfile.TemporaryDirectory(prefix="profile_reindex_") as tmp:
        work, faces = Path(tmp), bench.sample_faces()
        painters = [bench.street_painter(1920, 1080, i, faces) for i in range(2)]
        files = [
            bench.make_clip(work / f"archive{i}.mp4", bench.CYCLE_S, 1920, 1080, bench.FPS, painter, preset="veryfast")
            for i, painter in enumerate(painters)
        ]
        cores = os.cpu_count() or 1
        pool = AnalyzerPool.from_settings(Settings(intra_op_threads=1), cores, lazy_embedding=True, lazy_reading=True)
        catalog = Catalog.open(work / "data")
        for i in range(len(files)):
            catalog.store.cameras.save(Camera(f"file{i}", f"file{i}", ""))
        writer = CatalogWriter(catalog)
        if clock is not None:
            bench.reindex(files, pool, writer)
            clock.install()
        frames = cpu = 0.0
        for _ in range(repeats):
            result = bench.reindex(files, pool, writer)
            frames, cpu = frames + result["frames"], cpu + result["cpu_per_frame"] * result["frames"]
        print(f"last run: {result['frames']} frames, {result['cpu_per_frame'] * 1000:.2f} ms CPU per frame")
        if clock is not None:
            print(f"process CPU {cpu * 1000 / frames:.3f} ms per video frame ({frames:.0f} frames); thread CPU:")
            for stage, ms in clock.ms.most_common():
                print(f"{ms / frames:7.3f} ms  {clock.calls[stage]:6d} calls  {stage}")
            print(f"{sum(clock.ms.values()) / frames:7.3f} ms  in all stages")
        writer.close()
        catalog.close()


def summarise(raw: Path) -> list[tuple[str, float]]:
    """Share of the camera threads' busy samples per stage (and the share of waiting samples)."""
    stages: collections.Counter[str] = collections.Counter()
    busy = waiting = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r" \([^()]*\)$", "", frame) for frame in stack.split(";")]
        if not any(frame.startswith(THREADS) for frame in stack.split(";")):
            continue
        if frames[-1].endswith(WAITING) or any(frame.endswith(WAITING[:3]) for frame in frames):
            waiting += int(count)
            continue
        busy += int(count)
        stage = next((name for name, marks in STAGES if any(frame.endswith(marks) for frame in frames)), "other")
        stages[stage] += int(count)
    rows = [(name, 100.0 * n / busy) for name, n in stages.most_common()]
    return [*rows, ("(waiting samples, share of all)", 100.0 * waiting / max(1, busy + waiting))]


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=_at_least_one, default=8, help="re-indexes profiled (at least 1)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw samples here")
    parser.add_argument("--py-spy", type=Path, help="the py-spy program (default: beside this Python)")
    parser.add_argument("--thread-cpu", action="store_true", help="thread CPU per stage instead of py-spy")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child or args.thread_cpu:
        reindex_clips(args.repeats, ReindexClock() if args.thread_cpu else None)
        return 0
    spy = args.py_spy or Path(sys.executable).with_name("py-spy")
    if not spy.is_file():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.raw or Path(tmp) / "raw.txt"
        command = [str(spy), "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw), "--"]
        command += [sys.executable, __file__, "--child", "--repeats", str(args.repeats)]
        subprocess.run(command, check=True)
        for name, share in summarise(raw):
            print(f"{share:5.1f} %  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
