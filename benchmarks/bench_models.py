"""Latency of each model of the default pack, fp32 against its static int8 variant, on a given number of threads.

    python benchmarks/bench_models.py [--threads 1] [--rounds 7] [--seconds 0.5] [--int8-dir DIR] [--cpu] [--json PATH]

Each model runs on inputs of the size the detectors feed it (values in the right range; a CNN's
time does not depend on the content). fp32 and int8 alternate round by round, so a machine whose
speed drifts (shared cores) slows both alike; each figure is the median over ``--rounds`` of the
mean time per run within a round. ``face embedding, whole`` is the analyser's
``embed_each()`` (dlib 5-point alignment and chip included) per face, on one and on all four faces of
``bench_detect.py``'s 1080p scene with four people, and on three of them each in its own crop as a track
keeps its best faces until it ends (one batch, as the back-end embeds a track; skipped when ../shared/data
is absent).
``--cpu`` times the CPU of the calling thread instead of the wall clock (with ``--threads 1``
onnxruntime computes on it): on a machine shared with other work it leaves out the waits for a
core. ``--int8-dir`` adds int8 builds of models the pack has none of (``calibrate_int8.py --check-dir``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_detect import scenes

from skynet.config import Settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.detectors.centerface import load_graph
from skynet.detectors.runtime import create_session
from skynet.models import ModelStore, get_pack
from skynet.models.quantize import int8_name
from skynet.tracking.track import face_to_keep

PROVIDERS = ["CPUExecutionProvider"]
# model file, what the input stands for, its input name and shape, value range (uint8 where the range is 0-255
# and the model takes bytes: the dlib ResNet's chips, 2x2 blocks of BGR pixels as 12 channels)
CASES = (
    ("centerface.onnx", "640x480 frame", "input.1", (1, 3, 480, 640), (0, 255)),
    ("centerface.onnx", "1080p frame at 640 px", "input.1", (1, 3, 384, 640), (0, 255)),
    ("dlib_face_recognition_resnet_model_v1.onnx", "1 face", "chips", (1, 12, 75, 75), (0, 255)),
    ("dlib_face_recognition_resnet_model_v1.onnx", "4 faces (per face)", "chips", (4, 12, 75, 75), (0, 255)),
    ("clp_det.onnx", "640x480 frame", "image", (1, 3, 480, 640), (-123, 151)),
    ("clp_det.onnx", "1080p frame at 960 px", "image", (1, 3, 544, 960), (-123, 151)),
    ("ch_PP-OCRv4_rec_infer.onnx", "1 plate", "x", (1, 3, 48, 320), (-1, 1)),
    ("clp_v2_c_rec.onnx", "1 plate", "x", (1, 3, 32, 125), (-1, 1)),
)


def session_for(store: ModelStore, name: str, threads: int, path: Path | None = None):
    path = path or store.require(get_pack("default"), name)
    model = load_graph(path) if name.startswith("centerface") else path
    return create_session(model, PROVIDERS, threads, name)


Clock = Callable[[], float]


def timed(run: Callable[[], object], seconds: float, clock: Clock) -> float:
    """Mean milliseconds per call of ``run`` over about ``seconds`` of ``clock``."""
    run()
    count, start = 0, clock()
    while clock() - start < seconds:
        run()
        count += 1
    return (clock() - start) * 1000.0 / count


def paired(
    runs: dict[str, Callable[[], object]], rounds: int, seconds: float, clock: Clock = time.perf_counter
) -> dict[str, float]:
    """Median ms per call of each of ``runs``, measured in alternating rounds."""
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(rounds):
        for label, run in runs.items():
            times[label].append(timed(run, seconds, clock))
    return {label: statistics.median(values) for label, values in times.items()}


def model_rows(
    store: ModelStore, threads: int, rounds: int, seconds: float, int8_dir: Path | None, clock: Clock
) -> list[dict]:
    rng = np.random.default_rng(0)
    pack = get_pack("default")
    rows = []
    for name, what, input_name, shape, (low, high) in CASES:
        runs = {"fp32": session_for(store, name, threads)}
        takes_bytes = runs["fp32"].get_inputs()[0].type == "tensor(uint8)"
        feed = {input_name: rng.uniform(low, high, shape).astype(np.uint8 if takes_bytes else np.float32)}
        variant = pack.int8_variant(name)
        extra = int8_dir / int8_name(name) if int8_dir is not None else None
        if variant is not None:
            runs["int8"] = session_for(store, variant, threads)
        elif extra is not None and extra.is_file():  # an int8 build the pack does not use (accuracy did not hold)
            runs["int8"] = session_for(store, extra.name, threads, extra)
        per = shape[0] if "per face" in what else 1
        ms = paired({k: (lambda s=s, f=feed: s.run(None, f)) for k, s in runs.items()}, rounds, seconds, clock)
        rows.append({"model": name, "input": what, **{k: v / per for k, v in ms.items()}})
    return rows


def embedding_rows(threads: int, rounds: int, seconds: float, clock: Clock) -> list[dict]:
    """The embedder back-end's whole ``embed()`` per face, fp32 and int8, on the faces (about 150 px tall) of
    ``bench_detect.py``'s 1080p scene with four people (skipped without ../shared/data)."""
    scene = scenes().get("2 plates, 4 faces")
    if scene is None:
        print("note: ../shared/data not found; whole-embedding rows skipped", file=sys.stderr)
        return []
    analyzers = {
        p: ImageAnalyzer.from_settings(Settings(precision=p, intra_op_threads=threads)) for p in ("fp32", "int8")
    }
    faces = analyzers["fp32"].face_detector.detect(scene)
    kept = [face_to_keep(face, scene) for face in faces[:3]]  # as a track keeps its best 3 faces: each in a crop
    cases = [
        (f"{count} face{'s' if count > 1 else ''} of a 1080p frame", [(scene, f) for f in faces[:count]])
        for count in (1, len(faces))
    ]
    cases.append(("track: 3 faces in crops", [(crop, face) for face, crop in kept]))
    rows = []
    for what, pairs in cases:
        runs = {p: (lambda a=a, f=pairs: a.embed_each(f)) for p, a in analyzers.items()}
        ms = paired(runs, rounds, seconds, clock)
        rows.append(
            {
                "model": "face embedding, whole (alignment + network)",
                "input": f"{what} (per face)",
                **{k: v / len(pairs) for k, v in ms.items()},
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one round of one model")
    parser.add_argument("--int8-dir", type=Path, help="int8 builds of models the pack has none of (calibrate_int8.py)")
    parser.add_argument(
        "--cpu", action="store_true", help="CPU time of the calling thread instead of wall time (a busy machine)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.cpu:
        if args.threads != 1:
            parser.error("--cpu measures the calling thread: use it with --threads 1")
    store = ModelStore(Settings().models_path)
    clock = time.thread_time if args.cpu else time.perf_counter  # one thread: onnxruntime computes on the caller's
    rows = model_rows(store, args.threads, args.rounds, args.seconds, args.int8_dir, clock)
    rows += embedding_rows(args.threads, args.rounds, args.seconds, clock)
    print(f"{'model':45s} {'input':38s} {'fp32 ms':>8s} {'int8 ms':>8s} {'speed-up':>8s}")
    for row in rows:
        int8 = row.get("int8")
        speedup = f"{row['fp32'] / int8:7.2f}x" if int8 else ""
        int8_text = f"{int8:8.2f}" if int8 else f"{'-':>8s}"
        print(f"{row['model']:45s} {row['input']:38s} {row['fp32']:8.2f} {int8_text} {speedup:>8s}")
    if args.json:
        args.json.write_text(
            json.dumps({"threads": args.threads, "clock": "cpu" if args.cpu else "wall", "rows": rows}, indent=2)
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
