"""Where a re-index spends its time: py-spy samples of the camera threads, summed per stage.

    .venv/bin/pip install py-spy
    .venv/bin/python benchmarks/profile_reindex.py [--repeats 8] [--rate 250] [--raw PATH]

Re-indexes ``bench_ingest.py --quick``'s two busy-street clips (1080p25, 8 s each, through the
same camera workers, analyser pool and store) ``--repeats`` times under ``py-spy record`` and
prints the share of busy samples of the workers' threads per stage, stages being found by the
innermost matching function of each stack (``STAGES``, first match wins). Samples of threads
that wait (hand-over slots, queues, sleeps) are counted apart; FFmpeg's own decoding threads are
native and not sampled (their work shows in ``decode_cpu_ms_per_frame`` of ``bench_ingest.py``).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

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


def reindex_clips(repeats: int) -> None:
    """Make the quick clips and re-index them ``repeats`` times (the profiled part)."""
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
        for _ in range(repeats):
            result = bench.reindex(files, pool, writer)
        print(f"last run: {result['frames']} frames, {result['cpu_per_frame'] * 1000:.2f} ms CPU per frame")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw samples here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        reindex_clips(args.repeats)
        return 0
    spy = Path(sys.executable).with_name("py-spy")
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
