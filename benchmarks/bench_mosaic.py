"""Detector calls: what one costs against its input pixels, and one call over a mosaic of a frame's region
crops against one call per crop (issue 15, README "Sixth round").

    .venv/bin/python benchmarks/bench_mosaic.py [--clips A.mp4 B.mp4] [--frames 150] [--json out.json]

1. **Cost per call**: thread CPU time of CenterFace's ``detect`` and clp_det's first look (``_detect`` at scale 1:
   no second look) on inputs of growing size (multiples of 32, so no padding), one thread, int8 and fp32; a
   straight line fitted to them gives each detector's fixed cost per call and its cost per input pixel.
2. **The views of a re-index**: ``--clips`` (default: ``bench_ingest.py --quick``'s two busy-street clips) are
   re-indexed through the camera workers with one analyser, and the sizes of the region views each detector got
   per frame are logged (:func:`skynet.detectors.analyzer._views`).
3. **Mosaic against separate calls**: for up to ``--frames`` frames per detector whose regions gave two or more
   views, the views (crops of the clips' frames at those sizes) are packed on shelves into one canvas with a gap
   of 0, 8, 16 or 32 pixels of the detector's padding value between them (sides multiples of 32) and the canvas
   is analysed once, against one call per view; both timed as above (the detections are not compared here).

Prints the tables and, with ``--json``, writes the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIDES = ((32, 32), (64, 64), (96, 96), (128, 128), (160, 160), (128, 256), (192, 256), (256, 320), (320, 320))
GAPS = (0, 8, 16, 32)
ALIGN = 32
PADDING = {"centerface": (0, 0, 0), "clp_det": (104, 117, 123)}  # what each pads its input with, in BGR pixels


def detectors(precision: str) -> dict[str, Callable[[np.ndarray], object]]:
    """Each detector's one network pass on an image as it is (no scaling, no second look)."""
    from skynet.config import Settings
    from skynet.detectors.analyzer import ImageAnalyzer

    analyzer = ImageAnalyzer.from_settings(Settings(intra_op_threads=1, precision=precision))
    face, plate = analyzer.face_detector, analyzer.plate_detector
    face.long_side = 1 << 20  # type: ignore[attr-defined]
    return {"centerface": face.detect, "clp_det": lambda image: plate._detect(image, 1.0)}  # type: ignore[attr-defined]


def cpu_ms(detect: Callable[[np.ndarray], object], images: Sequence[np.ndarray], repeats: int = 1) -> float:
    """Thread CPU time of ``detect`` on each of ``images``, in milliseconds (the lower half's median over
    ``repeats``)."""
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        for image in images:
            detect(image)
        times.append((time.thread_time() - start) * 1000.0)
    return float(np.median(sorted(times)[: max(1, (repeats + 1) // 2)]))


def per_call_costs(frames: list[np.ndarray]) -> dict:
    """Part 1: ms per call for each size, detector and precision, and the fitted fixed and per-pixel costs."""
    image = frames[0]
    out: dict = {}
    for precision in ("int8", "fp32"):
        for name, detect in detectors(precision).items():
            rows = []
            for h, w in SIDES:
                crop = np.ascontiguousarray(image[:h, :w])
                detect(crop)
                rows.append((h * w, cpu_ms(detect, [crop], 15)))
            slope, intercept = np.polyfit([px for px, _ in rows], [ms for _, ms in rows], 1)
            out[f"{name} {precision}"] = {
                "ms_per_call": {f"{h}x{w}": ms for (h, w), (_, ms) in zip(SIDES, rows, strict=True)},
                "fixed_ms": float(intercept),
                "us_per_kpx": float(slope * 1e6),
            }
    return out


def logged_views(clips: Sequence[Path]) -> list[list[tuple[int, int]]]:
    """Part 2: per detector call of a re-index of ``clips`` (one analyser), the (height, width) of its region views."""
    import bench_ingest as bench

    from skynet.config import Settings
    from skynet.detectors import analyzer as analysis
    from skynet.records import Camera

    log: list[list[tuple[int, int]]] = []
    views = analysis._views

    def logging_views(image, regions, long_side, fine, needed):
        made = views(image, regions, long_side, fine, needed)
        log.append([view.pixels.shape[:2] for view in made if view.rect is not None])
        return made

    analysis._views = logging_views
    pool = bench.AnalyzerPool.from_settings(Settings(intra_op_threads=1), 1, lazy_embedding=True, lazy_reading=True)
    with tempfile.TemporaryDirectory(prefix="bench_mosaic_") as tmp:
        catalog = bench.Catalog.open(Path(tmp) / "data")
        for i in range(len(clips)):
            catalog.store.cameras.save(Camera(f"file{i}", f"file{i}", ""))
        writer = bench.CatalogWriter(catalog)
        bench.reindex(list(clips), pool, writer)
        writer.close()
        catalog.close()
    analysis._views = views
    return log


def shelf_pack(
    sizes: Sequence[tuple[int, int]], gap: int, row_width: int
) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Top-left corners (y, x) of ``sizes`` (height, width) packed on shelves, tallest first, ``gap`` apart, in
    rows up to ``row_width`` wide; and the canvas (height, width), sides multiples of 32."""
    corners: list[tuple[int, int]] = [(0, 0)] * len(sizes)
    x = y = shelf = 0
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i][0]):
        h, w = sizes[i]
        if x and x + w > row_width:
            x, y, shelf = 0, y + shelf + gap, 0
        corners[i] = (y, x)
        x, shelf = x + w + gap, max(shelf, h)
    height = max(cy + h for (cy, _), (h, _) in zip(corners, sizes, strict=True))
    width = max(cx + w for (_, cx), (_, w) in zip(corners, sizes, strict=True))
    return corners, (height + -height % ALIGN, width + -width % ALIGN)


def tightest_pack(sizes: Sequence[tuple[int, int]], gap: int) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """:func:`shelf_pack` with the row width (every multiple of 32 from the widest view to all in one row) that
    gives the smallest canvas."""
    widest, total = max(w for _, w in sizes), sum(w + gap for _, w in sizes)
    widths = range(widest + -widest % ALIGN, total + -total % ALIGN + ALIGN, ALIGN)
    packs = [shelf_pack(sizes, gap, width) for width in widths]
    return min(packs, key=lambda pack: pack[1][0] * pack[1][1])


def mosaic_vs_separate(log: list[list[tuple[int, int]]], frames: list[np.ndarray], limit: int, costs: dict) -> dict:
    """Part 3: ms per frame of one call per view and of one call per mosaic, on frames with two or more views."""
    rng = random.Random(1)
    out: dict = {}
    for index, (name, detect) in enumerate(detectors("int8").items()):
        calls = [sizes for sizes in log[index::2] if len(sizes) > 1]  # the face detector runs first on each frame
        total = {"separate": 0.0, **{f"gap {g}": 0.0 for g in GAPS}, "ideal": 0.0}
        pixels = {"separate": 0, **{f"gap {g}": 0 for g in GAPS}}
        calls = rng.sample(calls, min(limit, len(calls)))
        for sizes in calls:
            crops = []
            for h, w in sizes:
                frame = frames[rng.randrange(len(frames))]
                y, x = rng.randrange(frame.shape[0] - h + 1), rng.randrange(frame.shape[1] - w + 1)
                crops.append(np.ascontiguousarray(frame[y : y + h, x : x + w]))
            for gap in GAPS:
                corners, shape = tightest_pack(sizes, gap)
                canvas = np.empty((*shape, 3), np.uint8)
                canvas[:] = PADDING[name]
                for crop, (y, x) in zip(crops, corners, strict=True):
                    canvas[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
                detect(canvas)
                total[f"gap {gap}"] += cpu_ms(detect, [canvas])
                pixels[f"gap {gap}"] += shape[0] * shape[1]
            for crop in crops:
                detect(crop)
            total["separate"] += cpu_ms(detect, crops)
            pixels["separate"] += sum((h + -h % ALIGN) * (w + -w % ALIGN) for h, w in sizes)
        line = costs[f"{name} int8"]  # ideal: the separate calls less all fixed costs but one and their padding
        padding = pixels["separate"] - sum(h * w for sizes in calls for h, w in sizes)
        saved = line["fixed_ms"] * sum(len(sizes) - 1 for sizes in calls) + line["us_per_kpx"] * padding / 1e6
        total["ideal"] = total["separate"] - saved
        frames_timed = max(1, len(calls))
        out[name] = {
            "frames_analysed": len(log[index::2]),
            "frames_with_2_or_more_views": sum(len(sizes) > 1 for sizes in log[index::2]),
            "views_per_timed_frame": float(np.mean([len(s) for s in calls])) if calls else 0.0,
            "ms_per_frame": {k: v / frames_timed for k, v in total.items()},
            "pixels_vs_separate": {k: v / max(1, pixels["separate"]) - 1 for k, v in pixels.items()},
        }
    return out


def clip_frames(clips: Sequence[Path], every: int = 50, per_clip: int = 8) -> list[np.ndarray]:
    """A few frames of each clip, as sources of crops."""
    frames = []
    for clip in clips:
        capture = cv2.VideoCapture(str(clip))
        for index in range(every * per_clip):
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                frames.append(frame)
        capture.release()
    return frames


def quick_clips(work: Path) -> list[Path]:
    """``bench_ingest.py --quick``'s two busy-street clips."""
    import bench_ingest as bench

    faces = bench.sample_faces()
    return [
        bench.make_clip(
            work / f"street{i}.mp4",
            bench.CYCLE_S,
            1920,
            1080,
            bench.FPS,
            bench.street_painter(1920, 1080, i, faces),
            preset=bench.CAMERA_PRESET,
        )
        for i in range(2)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, nargs="*", help="clips to re-index (default: the quick street clips)")
    parser.add_argument("--frames", type=int, default=150, help="frames per detector timed as mosaics")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_mosaic_clips_") as tmp:
        clips = args.clips or quick_clips(Path(tmp))
        frames = clip_frames(clips)
        costs = per_call_costs(frames)
        print("detector precision: fixed ms per call, us per 1000 input pixels; ms per call by input size")
        for name, row in costs.items():
            sizes = "  ".join(f"{size} {ms:.2f}" for size, ms in row["ms_per_call"].items())
            print(f"  {name:16s} {row['fixed_ms']:5.2f} ms + {row['us_per_kpx']:5.1f} us/kpx | {sizes}")
        mosaics = mosaic_vs_separate(logged_views(clips), frames, args.frames, costs)
    print("one call per view vs one call per mosaic (frames with >= 2 region views; ms of CPU per such frame)")
    for name, row in mosaics.items():
        separate = row["ms_per_frame"]["separate"]
        cells = "  ".join(
            f"{k} {ms:.2f} ({ms / separate - 1:+.1%}; px {row['pixels_vs_separate'].get(k, 0):+.1%})"
            for k, ms in row["ms_per_frame"].items()
            if k != "separate"
        )
        print(
            f"  {name}: {row['frames_with_2_or_more_views']} of {row['frames_analysed']} frames, "
            f"{row['views_per_timed_frame']:.2f} views each; separate {row['ms_per_frame']['separate']:.2f} | {cells}"
        )
    if args.json:
        args.json.write_text(json.dumps({"per_call": costs, "mosaic": mosaics}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
