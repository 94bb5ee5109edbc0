"""Where a plate read's CPU time goes, and every read's output (to compare two versions of the code).

    python benchmarks/bench_plate_reads.py --data ../shared/data/cn_plate_{crops,ccpd,easypr} \\
        [--video CLIP ...] [--reads reads.jsonl] [--check-network] [--rounds 2] [--json out.json]

Reads the plates of labelled DEV sets as the service reads them (one model thread): a crop set's images whole
(``read_crops``), a scene set's plates where the configured plate detector finds them (``read``: the wide
character band, read again from the usual band when unsure); ``--video`` clips the same way, every 5th frame
whole (5 fps of a 25 fps clip, e.g. ``bench_ingest.py``'s street clips). Each stage is timed in thread CPU
time per read, the last of ``--rounds`` passes counted (the first warms the caches): cutting the band, the plate
colour, the network's input, the network, the CTC decoding (greedy and beam search, posteriors). ``--reads``
writes one JSON line per read (set, image, text, per-character confidences, format and its confidence,
alternatives): two runs, one with ``PYTHONPATH`` at another checkout, compared line by line say whether the
reads are identical. ``--check-network`` also runs each batch through a plain onnxruntime session of
PP-OCRv4's model file (no graph rewrites; the default ``ppocr`` reader) and counts outputs that are not
bit-identical.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stage_clock import StageClock

from skynet.config import Settings
from skynet.detectors import plate_readers, registry
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.errors import BadImageError
from skynet.images import load_image
from skynet.models import ModelStore, get_pack

STAGES = ("band", "colour", "input", "network", "decode")
VIDEO_STEP = 5


class NetworkCheck:
    """Runs every batch also through a plain session of the model file and counts differing outputs."""

    def __init__(self, session, plain: ort.InferenceSession) -> None:
        self.inner = session.run
        self.plain = plain
        self.batches = self.differing = 0
        self.max_difference = 0.0
        session.run = self.run

    def run(self, outputs, feeds):
        result = self.inner(outputs, feeds)
        expected = self.plain.run(outputs, feeds)
        self.batches += 1
        if not np.array_equal(result[0], expected[0]):
            self.differing += 1
            self.max_difference = max(self.max_difference, float(np.abs(result[0] - expected[0]).max()))
        return result


def plain_session(settings: Settings) -> ort.InferenceSession:
    """An unmodified session of the PP-OCRv4 file the reader's session is made from (int8 or fp32)."""
    context = registry.BackendContext(settings, ModelStore(settings.models_path), get_pack(settings.model_pack))
    path = context.precision_model_path(plate_readers.PPOCR_MODEL)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def labelled_images(data: Path) -> tuple[list[str], bool]:
    with (data / "labels.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return sorted({row["filename"] for row in rows}), bool(rows) and "x1" in rows[0]


def set_images(data: Path, settings: Settings) -> Iterator[tuple[str, np.ndarray, bool]]:
    """(name, image, whether it is a scene) of a labelled set, or of every 5th frame of a clip."""
    if data.is_file():
        capture = cv2.VideoCapture(str(data))
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % VIDEO_STEP == 0:
                yield f"frame{index}", frame, True
            index += 1
        capture.release()
        return
    names, scenes = labelled_images(data)
    for name in names:
        try:
            yield name, load_image(data / "images" / name, settings.max_image_pixels, settings.max_image_bytes), scenes
        except BadImageError:
            continue


def read_set(analyzer: ImageAnalyzer, settings: Settings, data: Path, reads: list[dict] | None) -> int:
    """Reads every plate of the set; returns how many reads were made."""
    count = 0
    for name, image, scene in set_images(data, settings):
        if scene:
            texts = [plate.read for plate in analyzer.analyze(image, faces=False, plates=True).plates]
        else:
            texts = analyzer.plate_reader.read_crops([image])
        for index, text in enumerate(texts):
            count += 1
            if reads is not None and text is not None:
                reads.append(
                    {
                        "set": data.name,
                        "image": name,
                        "plate": index,
                        "text": text.text,
                        "char_confidences": list(text.char_confidences),
                        "format": [text.format.kind, text.format.valid, text.format.confidence],
                        "alternatives": [list(item) for item in text.alternatives],
                    }
                )
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="*", default=[], help="DEV sets (DIR with labels.csv, images/)")
    parser.add_argument("--video", type=Path, nargs="*", default=[], help="clips whose every 5th frame is read")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the sets; the last one is timed")
    parser.add_argument("--reads", type=Path, help="write every read of the last pass here (JSON lines)")
    parser.add_argument("--check-network", action="store_true", help="compare the network with a plain session")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    settings = Settings(intra_op_threads=1)
    analyzer = ImageAnalyzer.from_settings(settings)
    reader = analyzer.plate_reader
    clock = StageClock()
    clock.patch(plate_readers, "plate_band", "band")
    clock.patch(plate_readers, "plate_colour", "colour")
    clock.patch(reader, "_batch", "input")
    clock.patch(reader, "_decode", "decode")
    clock.patch(reader.session, "run", "network")  # the check's own run (below) is not timed
    check = NetworkCheck(reader.session, plain_session(settings)) if args.check_network else None
    figures: dict[str, dict] = {}
    for round_ in range(args.rounds):
        last = round_ == args.rounds - 1
        reads: list[dict] | None = [] if last and args.reads else None
        for data in [*args.data, *args.video]:
            clock.reset()
            cpu = time.thread_time()
            count = read_set(analyzer, settings, data, reads)
            if last:
                decodes = max(1, clock.calls["decode"])
                figures[data.name] = {
                    "plates_read": count,
                    "decodes": clock.calls["decode"],
                    "network_runs": clock.calls["network"],
                    **{f"{stage}_ms_per_decode": clock.ms[stage] / decodes for stage in STAGES},
                    "reading_ms_per_decode": sum(clock.ms[s] for s in STAGES) / decodes,
                    "thread_cpu_s": time.thread_time() - cpu,
                }
        if reads is not None and args.reads:
            args.reads.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reads), encoding="utf-8")
    print(f"{'set':<18} {'decodes':>7} " + " ".join(f"{s:>8}" for s in STAGES) + f" {'reading':>8}  (ms per decode)")
    for name, row in figures.items():
        cells = " ".join(f"{row[f'{s}_ms_per_decode']:8.3f}" for s in STAGES)
        print(f"{name:<18} {row['decodes']:>7} {cells} {row['reading_ms_per_decode']:8.3f}")
    if check is not None:
        figures["network_check"] = {
            "batches": check.batches,
            "differing": check.differing,
            "max_difference": check.max_difference,
        }
        print(f"network outputs not bit-identical to the plain model file's: {check.differing} of {check.batches}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
