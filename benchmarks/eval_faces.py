"""Evaluate face detection and recognition on a labelled image set.

    python benchmarks/eval_faces.py --data ../shared/data/faces_identities [--json out.json] [--limit N]

``DIR/labels.csv`` lies beside ``DIR/images/``. The layout is told by its columns:

* ``filename, identity`` (identities): detection rate; 1-NN identification accuracy, leave-one-out
  over the images whose identity has at least two images (an image with no face found counts as
  an error); TAR at FAR 1e-3 over all pairs of labelled images (a pair with an undetected image
  counts as rejected) and the embedding distance that FAR implies. The largest face of an image
  is its face.
* ``filename, face_boxes_xywh, n_boxes`` (groups): how many labelled boxes (``[x, y, w, h]``;
  rows with no boxes are not annotated) a detection overlaps with IoU >= 0.3, one detection per
  box.

``ms_per_image`` is model time (detection, plus embedding the chosen face for identities), not
image decoding. Thread count and detector scale come from the usual settings
(``SKYNET_INTRA_OP_THREADS``, ``SKYNET_FACE_DETECT_LONG_SIDE``) or ``--threads``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from skynet.config import Settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.errors import BadImageError, SkynetError
from skynet.ingest.images import load_image
from skynet.records import Box, FaceDetection

FAR_TARGET = 1e-3
MATCH_IOU = 0.3


@dataclass
class Timer:
    """Accumulated model time in milliseconds."""

    ms: float = 0.0

    def run(self, function, *args):
        start = time.perf_counter()
        try:
            return function(*args)
        finally:
            self.ms += (time.perf_counter() - start) * 1000.0


def read_labels(data: Path, limit: int | None) -> list[dict[str, str]]:
    """Rows of ``DIR/labels.csv`` (the first ``limit`` images when given)."""
    labels = data / "labels.csv"
    if not labels.is_file() or not (data / "images").is_dir():
        raise SystemExit(f"{data}: expected labels.csv beside an images/ folder.")
    with labels.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return rows[:limit] if limit else rows


def load(data: Path, row: dict[str, str], settings: Settings) -> np.ndarray | None:
    """The row's image, or None (reported on stderr) when it cannot be read: it then has no faces."""
    try:
        return load_image(data / "images" / row["filename"], settings.max_image_pixels, settings.max_image_bytes)
    except BadImageError as error:
        tqdm.write(f"skipped: {error}", file=sys.stderr)
        return None


def largest(faces: list[FaceDetection]) -> FaceDetection | None:
    return max(faces, key=lambda face: face.box.area, default=None)


def embed_images(analyzer: ImageAnalyzer, settings: Settings, data: Path, rows: list[dict[str, str]]):
    """The largest face's embedding per image (None where no face was found), and model time."""
    timer = Timer()
    embeddings: list[np.ndarray | None] = []
    for row in tqdm(rows, desc="faces", unit="img", file=sys.stderr):
        image = load(data, row, settings)
        face = None if image is None else largest(timer.run(analyzer.face_detector.detect, image))
        if face is not None:
            face = timer.run(analyzer.face_embedder.embed, image, [face])[0]
        embeddings.append(None if face is None else face.embedding)
    return embeddings, timer.ms


def identity_metrics(identities: list[str], embeddings: list[np.ndarray | None]) -> dict[str, float | int]:
    """Detection rate, leave-one-out 1-NN accuracy, and TAR at FAR 1e-3 with its distance threshold."""
    labels = np.asarray(identities)
    found = np.array([e is not None for e in embeddings])
    counts = Counter(identities)
    eligible = np.array([counts[i] >= 2 for i in identities])
    dim = next((e.shape[0] for e in embeddings if e is not None), 1)
    vectors = np.stack([e if e is not None else np.zeros(dim, np.float32) for e in embeddings])
    distances = np.sqrt(np.clip(2.0 - 2.0 * vectors @ vectors.T, 0.0, None))  # unit vectors
    usable = found[:, None] & found[None, :]
    np.fill_diagonal(usable, False)
    masked = np.where(usable, distances, np.inf)
    nearest = masked.argmin(axis=1)
    correct = found & np.isfinite(masked.min(axis=1)) & (labels[nearest] == labels)
    upper = np.triu(np.ones_like(usable), k=1)
    same = (labels[:, None] == labels[None, :]) & upper
    different = (labels[:, None] != labels[None, :]) & upper
    impostor = np.sort(distances[different & usable])
    allowed = int(np.floor(FAR_TARGET * different.sum()))
    threshold = float(impostor[allowed]) if allowed < len(impostor) else 2.0  # 2 = the largest distance
    accepted = same & usable & (distances < threshold)
    return {
        "images": len(identities),
        "detected": int(found.sum()),
        "detection_rate": float(found.mean()),
        "eligible": int(eligible.sum()),
        "identification_accuracy": float(correct[eligible].mean()) if eligible.any() else 0.0,
        "genuine_pairs": int(same.sum()),
        "impostor_pairs": int(different.sum()),
        "tar_at_far_1e-3": float(accepted.sum() / same.sum()) if same.any() else 0.0,
        "far": float((different & usable & (distances < threshold)).sum() / max(1, different.sum())),
        "threshold": threshold,
    }


def evaluate_identities(analyzer, settings, data, rows) -> dict:
    embeddings, model_ms = embed_images(analyzer, settings, data, rows)
    metrics = identity_metrics([row["identity"] for row in rows], embeddings)
    metrics["ms_per_image"] = model_ms / max(1, len(rows))
    print(f"images: {metrics['images']}, identities: {len(set(r['identity'] for r in rows))}")
    print(f"detection rate: {metrics['detection_rate']:.1%} ({metrics['detected']}/{metrics['images']})")
    print(
        f"1-NN identification accuracy: {metrics['identification_accuracy']:.1%} (leave-one-out over the "
        f"{metrics['eligible']} images whose identity has >= 2 images; undetected = wrong)"
    )
    print(
        f"TAR at FAR 1e-3: {metrics['tar_at_far_1e-3']:.1%} at distance < {metrics['threshold']:.3f} "
        f"(L2 between unit embeddings; {metrics['genuine_pairs']} genuine, {metrics['impostor_pairs']} impostor "
        f"pairs; measured FAR {metrics['far']:.2%})"
    )
    if metrics["impostor_pairs"] < 1 / FAR_TARGET:
        print("  (fewer than 1000 impostor pairs: FAR 1e-3 is not resolved; the threshold is the closest impostor)")
    print(f"model time: {metrics['ms_per_image']:.1f} ms per image (detect + embed the largest face)")
    return metrics


def labelled_boxes(row: dict[str, str]) -> list[Box] | None:
    """The row's ``[x, y, w, h]`` face boxes, or None when the image is not annotated."""
    if not row.get("face_boxes_xywh", "").strip():
        return None
    return [Box(x, y, x + w, y + h) for x, y, w, h in json.loads(row["face_boxes_xywh"])]


def matched(truth: list[Box], found: list[Box], min_iou: float = MATCH_IOU) -> int:
    """How many ``truth`` boxes get a distinct ``found`` box with IoU >= ``min_iou`` (greedy, best first)."""
    pairs = sorted(((t.iou(f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    used_truth: set[int] = set()
    used_found: set[int] = set()
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i not in used_truth and j not in used_found:
            used_truth.add(i)
            used_found.add(j)
    return len(used_truth)


def evaluate_groups(analyzer, settings, data, rows) -> dict:
    timer = Timer()
    labelled = hits = faces_total = 0
    for row in tqdm(rows, desc="groups", unit="img", file=sys.stderr):
        image = load(data, row, settings)
        faces = [] if image is None else timer.run(analyzer.face_detector.detect, image)
        faces_total += len(faces)
        truth = labelled_boxes(row)
        if truth is not None:
            labelled += len(truth)
            hits += matched(truth, [face.box for face in faces])
    recall = hits / labelled if labelled else 0.0
    metrics = {
        "images": len(rows),
        "faces_found": faces_total,
        "boxes_labelled": labelled,
        "boxes_detected": hits,
        "box_recall": recall,
        "ms_per_image": timer.ms / max(1, len(rows)),
    }
    print(f"images: {len(rows)}, faces found: {faces_total}")
    print(f"labelled face boxes detected (IoU >= {MATCH_IOU}): {hits}/{labelled} = {recall:.1%}")
    print(f"model time: {metrics['ms_per_image']:.1f} ms per image (detection)")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with labels.csv and images/")
    parser.add_argument("--json", type=Path, help="write the figures as one JSON object here")
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--threads", type=int, help="threads per model (0 = all cores)")
    args = parser.parse_args(argv)
    rows = read_labels(args.data, args.limit)
    columns = set(rows[0]) if rows else set()
    if "identity" in columns:
        evaluate = evaluate_identities
    elif {"face_boxes_xywh", "n_boxes"} <= columns:
        evaluate = evaluate_groups
    else:
        raise SystemExit(f"{args.data}/labels.csv: need columns filename+identity or filename+face_boxes_xywh.")
    try:
        settings = Settings() if args.threads is None else Settings(intra_op_threads=args.threads)
        metrics = evaluate(ImageAnalyzer.from_settings(settings), settings, args.data, rows)
    except SkynetError as error:
        raise SystemExit(str(error)) from None
    if args.json:
        args.json.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
