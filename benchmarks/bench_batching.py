"""Throughput of camera analysis with batching across cameras against one frame at a time.

    python benchmarks/bench_batching.py [--cameras 4] [--frames 6] [--analysers N] [--repeat 2]
                                        [--wait-ms 10] [--tiny] [--json PATH]

``--cameras`` threads (one per camera, as the camera workers) each analyse ``--frames``
1280x720 street frames (skynet.synthetic, two plates each, a different street per camera) as
fast as they can through the analysers the workers share, as ``skynet run`` sets them up (one
session thread each, faces left unembedded and plates unread): first a plain AnalyzerPool (one
frame per detector call), then a BatchingAnalyzer of the same analysers (batches of up to one
frame per camera). The two alternate ``--repeat`` times and the best run of each counts; the
ratio is batched over unbatched frames per second, measured in the same run. A second table
times the plate detector alone: one ``detect_batch`` over one frame per camera against one
``detect`` per frame.

Models: the ``yolo`` pack (YOLOv8 plates, CenterFace faces) when it is installed, else (or with
``--tiny``) the tiny SCRFD and YOLO look-alikes of tests/onnx_builders.py, which time the
batching machinery rather than the models.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from skynet.config import Settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.detectors.batching import BatchingAnalyzer
from skynet.detectors.pool import AnalyzerPool
from skynet.detectors.runtime import resolve_providers
from skynet.models import ModelStore, get_pack
from skynet.synthetic import paste_demo_plates, street_scene

ROOT = Path(__file__).resolve().parents[1]


def pack_analysers(settings: Settings, count: int) -> list[ImageAnalyzer]:
    """``count`` analysers of the installed yolo pack, one session thread each (as the CLI)."""
    single = settings.model_copy(update={"model_pack": "yolo", "intra_op_threads": 1})
    return [ImageAnalyzer.from_settings(single) for _ in range(count)]


def tiny_analysers(folder: Path, count: int) -> list[ImageAnalyzer]:
    """``count`` analysers of the tests' tiny SCRFD (batched) and YOLO (dynamic batch) models."""
    sys.path.insert(0, str(ROOT / "tests"))
    from onnx_builders import scrfd_model, yolo_model

    from skynet.detectors import scrfd, yolo
    from skynet.detectors.runtime import create_session

    faces = scrfd_model(folder / "det.onnx", batched=True)
    plates = yolo_model(folder / "plates.onnx", np.array([[320, 320, 64, 32, 0.6]], np.float32).T)
    cpu = ["CPUExecutionProvider"]
    return [
        ImageAnalyzer(
            scrfd.Scrfd(create_session(faces, cpu, 1), 640, 0.5),
            None,
            yolo.YoloPlateDetector(yolo.OnnxYolo(create_session(plates, cpu, 1), 640), 0.25),
            None,
            face_long_side=640,
            plate_long_side=960,
        )
        for _ in range(count)
    ]


def cameras_fps(analyze: Callable[[np.ndarray], object], frames: Sequence[Sequence[np.ndarray]]) -> float:
    """Frames per second over all cameras, each camera's frames analysed in order on its own thread."""
    start = threading.Barrier(len(frames) + 1)

    def camera(own: Sequence[np.ndarray]) -> None:
        start.wait()
        for frame in own:
            analyze(frame)

    threads = [threading.Thread(target=camera, args=(own,)) for own in frames]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(map(len, frames)) / (time.perf_counter() - began)


def detector_fps(detector, frames: Sequence[np.ndarray], repeat: int) -> tuple[float, float]:
    """Frames per second of one ``detect_batch`` over ``frames`` and of one ``detect`` per frame (best runs)."""
    batched, single = [], []
    for _ in range(repeat):
        began = time.perf_counter()
        detector.detect_batch(frames)
        batched.append(len(frames) / (time.perf_counter() - began))
        began = time.perf_counter()
        for frame in frames:
            detector.detect(frame)
        single.append(len(frames) / (time.perf_counter() - began))
    return max(batched), max(single)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--frames", type=int, default=6, help="frames per camera and run")
    parser.add_argument("--analysers", type=int, default=0, help="analysers shared by the cameras (0: one per core)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--wait-ms", type=float, default=10.0, help="how long a batch waits for more frames")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny models even if the yolo pack is there")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    settings = Settings()
    count = args.analysers or os.cpu_count() or 1
    use_pack = not args.tiny and ModelStore(settings.models_path).ready(get_pack("yolo"))
    with tempfile.TemporaryDirectory(prefix="bench_batching_") as tmp:
        analysers = pack_analysers(settings, count) if use_pack else tiny_analysers(Path(tmp), count)
        models = "yolo pack (YOLOv8 plates, CenterFace faces)" if use_pack else "tiny test models"
        if not use_pack and not args.tiny:
            print(f"note: the yolo pack is not installed in {settings.models_path}; tiny models used", file=sys.stderr)
        frames = [
            [paste_demo_plates(street_scene(1280, 720, seed=c * 100 + i)) for i in range(args.frames)]
            for c in range(args.cameras)
        ]
        plain = AnalyzerPool(analysers, lazy_embedding=True, lazy_reading=True)
        batching = BatchingAnalyzer(
            analysers, lazy_embedding=True, lazy_reading=True, max_batch=args.cameras, max_wait_ms=args.wait_ms
        )
        cameras_fps(plain, [own[:1] for own in frames])  # warm-up: first runs allocate
        cameras_fps(batching, [own[:1] for own in frames])
        unbatched_runs, batched_runs = [], []
        for _ in range(args.repeat):
            unbatched_runs.append(cameras_fps(plain, frames))
            batched_runs.append(cameras_fps(batching, frames))
        first = [own[0] for own in frames]
        alone_batched, alone_single = detector_fps(analysers[0].plate_detector, first, args.repeat + 1)

    providers = resolve_providers(settings.execution_providers) if use_pack else ["CPUExecutionProvider"]
    unbatched, batched = max(unbatched_runs), max(batched_runs)
    report = {
        "models": models,
        "providers": providers,
        "cpu_cores": os.cpu_count(),
        "cameras": args.cameras,
        "frames_per_camera": args.frames,
        "frame_size": "1280x720",
        "analysers": count,
        "max_batch": args.cameras,
        "wait_ms": args.wait_ms,
        "unbatched_fps": round(unbatched, 2),
        "batched_fps": round(batched, 2),
        "ratio": round(batched / unbatched, 3),
        "unbatched_runs_fps": [round(v, 2) for v in unbatched_runs],
        "batched_runs_fps": [round(v, 2) for v in batched_runs],
        "plate_detector_single_fps": round(alone_single, 2),
        "plate_detector_batch_fps": round(alone_batched, 2),
        "plate_detector_ratio": round(alone_batched / alone_single, 3),
    }
    print(
        f"{models} on {', '.join(providers)}; {args.cameras} cameras x {args.frames} frames 1280x720, "
        f"{count} analyser(s), batches of up to {args.cameras}, wait {args.wait_ms:g} ms"
    )
    print(f"{'camera analysis':28s} {'frames/s':>9s}")
    print(f"{'one frame at a time':28s} {unbatched:9.2f}")
    print(f"{'batched across cameras':28s} {batched:9.2f}")
    print(f"{'ratio batched / unbatched':28s} {report['ratio']:9.3f}")
    print(f"{'plate detector alone':28s} {'frames/s':>9s}")
    print(f"{'detect, one per frame':28s} {alone_single:9.2f}")
    print(f"{f'detect_batch of {args.cameras}':28s} {alone_batched:9.2f}")
    print(f"{'ratio batch / single':28s} {report['plate_detector_ratio']:9.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
