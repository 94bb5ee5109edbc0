"""Model time of ``skynet detect`` on 1920x1080 images, per stage, on a given number of threads.

    python benchmarks/bench_detect.py [--threads 1] [--repeat 5] [--precision auto|int8|fp32] [--json PATH]

Scenes: a synthetic street with two plates (no faces); the same with one face photo from
../shared/data/faces_identities pasted in, and with four (four people side by side); and a group
photo (faces_groups) scaled to 1080p with two plates. Face scenes are skipped, with a note, when
the shared data is absent. Each figure is the median over ``--repeat`` runs after one warm-up run.
Stage times are wall time; ``cpu ms`` is the CPU time of the whole ``analyze()`` call on its thread
(with ``--threads 1`` onnxruntime computes on that thread): on a machine shared with other work,
where wall time also counts the waits for a core, it is the figure to compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from skynet.config import Settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.synthetic import paste_demo_plates, street_scene

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def scenes() -> dict[str, np.ndarray]:
    """The benchmark images, by name."""
    street = paste_demo_plates(street_scene(1920, 1080))
    found = {"2 plates, 0 faces": street}
    portrait = SHARED / "faces_identities" / "images" / "face_0005.jpg"
    if portrait.is_file():
        face = cv2.resize(cv2.imread(str(portrait)), (450, 311))
        one_face = street.copy()
        one_face[100:411, 800:1250] = face
        found["2 plates, 1 face"] = one_face
    portraits = [SHARED / "faces_identities" / "images" / f"face_{n:04d}.jpg" for n in (5, 21, 50, 85)]
    if all(p.is_file() for p in portraits):
        four_faces = street.copy()
        for i, path in enumerate(portraits):  # four people side by side, faces about 150 px tall
            four_faces[80:380, 120 + 440 * i : 420 + 440 * i] = cv2.resize(cv2.imread(str(path)), (300, 300))
        found["2 plates, 4 faces"] = four_faces
    group = SHARED / "faces_groups" / "images" / "group_010.jpg"
    if group.is_file():
        found["2 plates, group photo"] = paste_demo_plates(cv2.resize(cv2.imread(str(group)), (1920, 1080)))
    if len(found) == 1:
        print(f"note: {SHARED} not found; face scenes skipped", file=sys.stderr)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--precision", choices=("auto", "int8", "fp32"), default="auto")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    analyzer = ImageAnalyzer.from_settings(Settings(intra_op_threads=args.threads, precision=args.precision))
    results = {}
    print(
        f"{'scene (1920x1080)':26s} {'faces':>5s} {'plates':>6s} {'face_det':>8s} {'embed':>7s} "
        f"{'plate_det':>9s} {'read':>6s} {'total ms':>9s} {'cpu ms':>7s}"
    )
    for name, image in scenes().items():
        analyzer.analyze(image)
        runs, cpu = [], []
        for _ in range(args.repeat):
            started = time.thread_time()
            runs.append(analyzer.analyze(image))
            cpu.append((time.thread_time() - started) * 1000.0)
        stages = {stage: statistics.median(r.model_ms[stage] for r in runs) for stage in runs[0].model_ms}
        total = statistics.median(r.total_model_ms for r in runs)
        results[name] = {
            "faces": len(runs[0].faces),
            "plates": len(runs[0].plates),
            "model_ms": stages,
            "total_model_ms": total,
            "cpu_ms": statistics.median(cpu),
        }
        print(
            f"{name:26s} {len(runs[0].faces):5d} {len(runs[0].plates):6d} {stages['face_detect']:8.1f} "
            f"{stages['face_embed']:7.1f} {stages['plate_detect']:9.1f} {stages['plate_read']:6.1f} {total:9.1f} "
            f"{statistics.median(cpu):7.1f}"
        )
    if args.json:
        summary = {"threads": args.threads, "precision": args.precision, "scenes": results}
        args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
