"""Evaluate plate detection and reading on a labelled image set.

    python benchmarks/eval_plates.py --data ../shared/data/cn_plate_ccpd [--json out.json]
        [--reader ppocr|clp_rec|easyocr] [--limit N] [--threads N] [--show-errors]
        [--pack NAME] [--model-dir DIR] [--region custom --pattern REGEX ...] [--subset eu]

``DIR/labels.csv`` lies beside ``DIR/images/`` with columns ``filename, plate_text`` and, for
scene sets, the plate box ``x1, y1, x2, y2`` (one row per plate; several rows per image when it
shows several plates).

* Scene sets run the full pipeline (:class:`ImageAnalyzer`, plates only). A labelled plate is
  detected when a detection overlaps its box with IoU >= 0.3 (one detection per plate, best
  overlap first); its read is the text of that detection, and an undetected plate counts as
  misread. ``detection_recall`` is the fraction of labelled plates detected. The plates of an
  image the library refuses to load (damaged, too large) count as missed.
* Crop sets (no box columns) show one plate per image: the whole image is read by the plate
  reader directly; ``detection_recall`` is then ``null``.

``exact_accuracy`` compares normalised texts (:func:`normalize_plate`: O and 0 equal, separators
ignored); ``char_accuracy`` is ``1 - edit distance / label length`` (at least 0), averaged over
plates. ``ms_per_image`` is the plate model time per image (detection + reading), not decoding;
``cpu_ms_per_image`` the process CPU time of the same calls (with ``--threads 1`` the models' own
cost, unlike wall time not inflated by other work on the machine). ``sure_share`` is the share of
reads whose confidence is at least 0.9, ``sure_exact`` how many of those are right, and
``calibration_error`` the expected calibration error of the read confidences (10 bins).
Detector scale and threads come from the usual settings (``SKYNET_PLATE_DETECT_LONG_SIDE``,
``SKYNET_INTRA_OP_THREADS``) or ``--threads``. ``--pack`` picks the model pack (e.g. ``yolo``),
``--region``/``--pattern`` the plate rules (Latin plates: ``--region custom --pattern
'[A-Z0-9]{4,8}'``), ``--subset`` only the rows whose ``region`` column has that value.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz.distance import Levenshtein
from tqdm import tqdm

from skynet.config import Settings
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.detectors.plate_format import normalize_plate
from skynet.errors import BadImageError, SkynetError
from skynet.images import load_image
from skynet.records import Box, PlateDetection, PlateText

MATCH_IOU = 0.3
SURE = 0.9  # reads at least this confident count as sure (calibration figures)
BOX_COLUMNS = ("x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class LabelledPlate:
    text: str
    box: Box | None


@dataclass
class Tally:
    """Running totals over labelled plates and images."""

    plates: int = 0
    detected: int = 0
    exact: int = 0
    char_score: float = 0.0
    images: int = 0
    model_ms: float = 0.0
    cpu_ms: float = 0.0
    errors: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    confidences: list[tuple[float, bool]] = field(default_factory=list)  # (confidence, right) of each read

    def add(self, name: str, label: str, read: PlateText | None) -> None:
        self.plates += 1
        self.detected += read is not None
        truth, got = normalize_plate(label), normalize_plate(read.text if read is not None else "")
        right = truth == got
        if right:
            self.exact += 1
        else:
            self.errors.append(f"{name}: {label} read as {read.text if read is not None else '(not detected)'}")
        self.char_score += max(0.0, 1.0 - Levenshtein.distance(truth, got) / max(1, len(truth)))
        if read is not None:
            self.confidences.append((read.confidence, right))

    def calibration(self) -> dict[str, float | None]:
        """How far read confidences are from the share of reads that are right: the share of reads at
        least ``SURE`` and how many of those are right, and the expected calibration error (10 bins)."""
        if not self.confidences:
            return {"sure_share": None, "sure_exact": None, "calibration_error": None}
        sure = [right for confidence, right in self.confidences if confidence >= SURE]
        error = 0.0
        for low in (i / 10 for i in range(10)):
            in_bin = [(c, r) for c, r in self.confidences if low <= c < low + 0.1 or (low == 0.9 and c == 1.0)]
            if in_bin:
                gap = sum(c for c, _ in in_bin) / len(in_bin) - sum(r for _, r in in_bin) / len(in_bin)
                error += len(in_bin) / len(self.confidences) * abs(gap)
        return {
            "sure_share": len(sure) / len(self.confidences),
            "sure_exact": sum(sure) / len(sure) if sure else None,
            "calibration_error": error,
        }

    def summary(self, has_boxes: bool) -> dict[str, float | int | None]:
        plates = max(1, self.plates)
        return {
            "detection_recall": self.detected / plates if has_boxes else None,
            "exact_accuracy": self.exact / plates,
            "char_accuracy": self.char_score / plates,
            "ms_per_image": self.model_ms / max(1, self.images),
            "cpu_ms_per_image": self.cpu_ms / max(1, self.images),
            "plates": self.plates,
            "images": self.images,
            **self.calibration(),
        }


def read_labels(
    data: Path, limit: int | None, subset: str | None = None
) -> tuple[dict[str, list[LabelledPlate]], bool]:
    """Labelled plates per image file (first ``limit`` images, only rows whose ``region`` is
    ``subset`` when given) and whether the set has boxes."""
    labels_path = data / "labels.csv"
    if not labels_path.is_file() or not (data / "images").is_dir():
        raise SkynetError(f"{data} is not a plate data set.", hint="expected DIR/labels.csv beside DIR/images/")
    with labels_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        missing = {"filename", "plate_text"} - columns
        if missing:
            raise SkynetError(f"{labels_path} lacks the column(s) {', '.join(sorted(missing))}.")
        has_boxes = set(BOX_COLUMNS) <= columns
        images: dict[str, list[LabelledPlate]] = defaultdict(list)
        for row in reader:
            if subset is not None and row.get("region") != subset:
                continue
            if limit is not None and row["filename"] not in images and len(images) >= limit:
                break
            box = Box(*(float(row[c]) for c in BOX_COLUMNS)) if has_boxes else None
            images[row["filename"]].append(LabelledPlate(row["plate_text"], box))
    return dict(images), has_boxes


def match(labelled: list[LabelledPlate], found: list[PlateDetection]) -> list[PlateText | None]:
    """The read of the detection matched to each labelled plate (None when undetected)."""
    pairs = sorted(
        ((plate.box.iou(det.box), i, j) for i, plate in enumerate(labelled) for j, det in enumerate(found)),
        reverse=True,
    )
    reads: list[PlateText | None] = [None] * len(labelled)
    used: set[int] = set()
    for iou, i, j in pairs:
        if iou < MATCH_IOU or reads[i] is not None or j in used:
            continue
        used.add(j)
        reads[i] = found[j].read if found[j].read is not None else PlateText("", ())
    return reads


def evaluate(data: Path, settings: Settings, limit: int | None, subset: str | None = None) -> tuple[Tally, bool]:
    """Run the plate pipeline over the set."""
    images, has_boxes = read_labels(data, limit, subset)
    analyzer = ImageAnalyzer.from_settings(settings)
    tally = Tally()
    for name, labelled in tqdm(images.items(), desc=data.name, unit="image", file=sys.stderr):
        try:
            image = load_image(data / "images" / name, settings.max_image_pixels, settings.max_image_bytes)
        except BadImageError as error:  # its plates count as missed
            tally.unreadable.append(error.message)
            for plate in labelled:
                tally.add(name, plate.text, None)
            continue
        tally.images += 1
        cpu = time.process_time()
        if has_boxes:
            result = analyzer.analyze(image, faces=False, plates=True)
            tally.model_ms += result.total_model_ms
            reads = match(labelled, result.plates)
        else:
            start = time.perf_counter()
            texts = analyzer.plate_reader.read_crops([image])
            tally.model_ms += (time.perf_counter() - start) * 1000.0
            reads = [texts[0]] * len(labelled)
        tally.cpu_ms += (time.process_time() - cpu) * 1000.0
        for plate, read in zip(labelled, reads, strict=True):
            tally.add(name, plate.text, read)
    return tally, has_boxes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="DIR with labels.csv and images/")
    parser.add_argument("--json", type=Path, help="write the figures as one JSON object here")
    parser.add_argument("--reader", choices=("ppocr", "clp_rec", "easyocr"), help="plate reader (default: the pack's)")
    parser.add_argument("--pack", help="model pack (default: the configured one)")
    parser.add_argument("--model-dir", type=Path, help="model directory (default: the configured one)")
    parser.add_argument("--region", help="plate rules: cn or custom (default: the configured one)")
    parser.add_argument("--pattern", action="append", help="a valid plate (regular expression) for --region custom")
    parser.add_argument("--subset", help="only labels whose region column has this value (e.g. eu, us)")
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--threads", type=int, help="threads per model session (0 = all cores)")
    parser.add_argument("--show-errors", action="store_true", help="list every misread plate")
    args = parser.parse_args(argv)
    overrides = {
        "plate_reader": args.reader,
        "intra_op_threads": args.threads,
        "model_pack": args.pack,
        "model_dir": args.model_dir,
        "plate_region": args.region,
        "plate_patterns": args.pattern,
    }
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        tally, has_boxes = evaluate(args.data, settings, args.limit, args.subset)
    except SkynetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    figures = tally.summary(has_boxes)
    if args.show_errors:
        print("\n".join(tally.errors))
    recall = figures["detection_recall"]
    print(f"{args.data.name}: {tally.plates} plates in {tally.images + len(tally.unreadable)} images")
    for message in tally.unreadable:
        print(f"unreadable (its plates count as missed): {message}")
    print(f"detection recall (IoU >= {MATCH_IOU}): " + (f"{recall:.1%}" if recall is not None else "n/a (crops)"))
    print(f"exact-plate accuracy (O/0 equal): {figures['exact_accuracy']:.1%}")
    print(f"character accuracy: {figures['char_accuracy']:.1%}")
    if figures["sure_share"] is not None:
        sure = figures["sure_exact"]
        print(
            f"reads with confidence >= {SURE}: {figures['sure_share']:.1%}, "
            + (f"{sure:.1%} of them right" if sure is not None else "none")
            + f"; expected calibration error {figures['calibration_error']:.3f}"
        )
    print(
        f"plate model time: {figures['ms_per_image']:.1f} ms per image "
        f"({figures['cpu_ms_per_image']:.1f} ms of CPU: steadier on a shared machine)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
