"""Measure the activation ranges of the int8 models on real images; write them where skynet ships them.

    python benchmarks/calibrate_int8.py [--data ../shared/data] [--models NAME ...] [--method minmax]
        [--check-dir DIR] [--feeds-dir DIR]

Static int8 needs every activation's range. They are measured here once, on DEV data, and saved
in ``skynet/models/calibration/<model>.json``; ``skynet models install`` quantises with those
files on machines without any data (:mod:`skynet.models.quantize`). The inputs are the very
tensors the fp32 detectors feed their models in the skynet pipeline (each onnxruntime session
is wrapped by a recorder while the pipeline analyses the calibration images), so crops, scales
and padding are those of production. The ranges come from onnxruntime's own calibrator on the
graph ``quant_pre_process`` makes, the one installation quantises.

Calibration images (``../shared/data``), kept apart from the evaluation sets where one exists:

* faces (CenterFace, the dlib ResNet): the ``faces_groups`` photos, each face found also shown
  twice as a camera shows it (``eval_faces.py --video``'s renderer), frames of ``vtest.avi``
  and MOT17; ``faces_identities`` (the face evaluation set) is not used;
* plates (clp_det, PP-OCRv4 rec, clp_rec): ``plates_openalpr`` photos (EU / US plates), synthetic
  Chinese plates on cars in generated streets and as small, blurred, JPEG-compressed crops,
  frames of the traffic clips; the Chinese plate
  evaluation sets (CCPD, EasyPR, crops) are not used.

Ranges are onnxruntime's min-max, or (``METHOD``) the central 99.99 % of each activation's values
(histograms, one feed at a time). With ``--check-dir DIR`` the int8 models are then built into
``DIR/default/`` as installation builds them, and their checksums printed (to record in
``skynet/models/packs.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationMethod
from onnxruntime.quantization.calibrate import CalibrationDataReader, create_calibrator
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_faces import camera_view
from scenario_plan import synthetic_plate
from scenario_render import car_sprite, generated_street, place

from skynet.config import Settings
from skynet.detectors import registry
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.models import ModelStore, get_pack
from skynet.models.quantize import calibration_path, int8_name, load_calibration, prepared_graph, preprocess, quantize
from skynet.synthetic import find_cjk_font, render_plate

FACE_MODELS = ("centerface.onnx", "dlib_face_recognition_resnet_model_v1.onnx")
PLATE_MODELS = ("clp_det.onnx", "ch_PP-OCRv4_rec_infer.onnx", "clp_v2_c_rec.onnx")
METHODS = ("minmax", "percentile99.9", "percentile99.99", "percentile99.999")
# How each model is calibrated and what it quantises, found by quantising parts of it and reading
# cn_plate_crops (fp32: PP-OCRv4 98.2 %, clp_rec 91.7 %): both readers' first convolutions lose 3-90 points
# in int8 (clp_rec, a MobileNetV3 whose folded depthwise weights reach 100, is hit hardest), the rest next to
# nothing; only Conv and MatMul are quantised in them (the hard-swish and layer-norm arithmetic stays float),
# and PP-OCRv4 keeps the central 99.99 % of each activation (min-max: 95.8 %, 99.99 %: 98.5 %) while clp_rec
# loses with it (86.8 % against 93.7 % with min-max).
METHOD = {"ch_PP-OCRv4_rec_infer.onnx": "percentile99.99"}
# clp_det (RetinaFace on MobileNet-0.25) loses 7-9 points of EasyPR when quantised whole, in its backbone alone or
# with its heads; quantising only its FPN and SSH convolutions (the 3x3 ones at stride 8, most of its time) loses
# nothing (EasyPR exact 93.2 -> 93.9 %, CCPD 99.3 -> 99.3 %) and is 28 % faster.
CLP_DET_BACKBONE = [f"Conv_{i}" for i in range(0, 53, 2)]  # Conv_0 ... Conv_52
CLP_DET_HEADS = [f"Conv_{i}" for i in (131, 139, 147, 156, 164, 172, 181, 189, 197)]
EXCLUDE: dict[str, list[str]] = {
    "ch_PP-OCRv4_rec_infer.onnx": ["p2o.Conv.0", "p2o.Conv.1"],
    "clp_v2_c_rec.onnx": [f"Conv_{i}" for i in range(12)],
    "clp_det.onnx": CLP_DET_BACKBONE + CLP_DET_HEADS,
}
OP_TYPES: dict[str, list[str]] = {
    "ch_PP-OCRv4_rec_infer.onnx": ["Conv", "MatMul"],
    "clp_v2_c_rec.onnx": ["Conv", "MatMul"],
    "clp_det.onnx": ["Conv"],
}
# 7-bit weights where 8-bit ones lose accuracy to the 16-bit saturation of x86 CPUs without VNNI (see
# skynet.models.quantize.quantize): the face embedder (AVX2: TAR at FAR 1e-4 96.8 % in fp32, 87.2 % with 8-bit
# weights, 96.5 % with 7-bit ones); the plate models keep 8 bits (the same reads on AVX2 as with VNNI; 7 bits cost
# EasyPR 4.7 points)
WEIGHT_BITS: dict[str, int] = {"dlib_face_recognition_resnet_model_v1.onnx": 7}
VIEWS_PER_FACE = 2
SYNTHETIC_STREETS = 40
SYNTHETIC_CROPS = 300
SEED = 0


class Recorder:
    """Stands in for an onnxruntime session: runs it and saves every input feed to ``directory``."""

    def __init__(self, session, directory: Path) -> None:
        self.session = session
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def run(self, outputs, feed, *args, **kwargs):
        np.savez(self.directory / f"{self.count:05d}.npz", **feed)
        self.count += 1
        return self.session.run(outputs, feed, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.session, name)


class SavedFeeds(CalibrationDataReader):
    """Saved input feeds, one at a time."""

    def __init__(self, files: list[Path]) -> None:
        self.files = iter(files)

    def get_next(self) -> dict | None:
        path = next(self.files, None)
        if path is None:
            return None
        with np.load(path) as saved:
            return {key: saved[key] for key in saved.files}


def frames(video: Path, step: int, limit: int) -> list[np.ndarray]:
    """Every ``step``-th frame of ``video``, at most ``limit``."""
    capture = cv2.VideoCapture(str(video))
    found, index = [], 0
    while len(found) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            found.append(frame)
        index += 1
    capture.release()
    return found


def images(folder: Path) -> list[np.ndarray]:
    return [image for path in sorted(folder.glob("*.jpg")) if (image := cv2.imread(str(path))) is not None]


def synthetic_streets(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """1280 x 720 generated streets, each with one or two cars carrying synthetic Chinese plates."""
    font = find_cjk_font()
    streets = []
    for index in range(count):
        frame = generated_street(1280, 720, SEED + index)
        for _ in range(int(rng.integers(1, 3))):
            plate = render_plate(synthetic_plate(rng), font, style=str(rng.choice(["blue", "yellow", "green"])))
            colour = tuple(int(c) for c in rng.integers(30, 220, 3))
            sprite = car_sprite(plate, float(rng.uniform(80, 220)), colour, rng)
            centre = (float(rng.uniform(250, 1030)), float(rng.uniform(250, 560)))
            place(frame, sprite, centre, 1.0, float(rng.uniform(0.0, 1.0)))
        streets.append(frame)
    return streets


def synthetic_plate_crops(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Character bands of synthetic Chinese plates as cameras show them: small (60-200 px wide),
    a little blurred, darker or brighter, JPEG-compressed."""
    font = find_cjk_font()
    crops = []
    for _ in range(count):
        plate = render_plate(synthetic_plate(rng), font, style=str(rng.choice(["blue", "yellow", "green"])))
        height, width = plate.shape[:2]
        band = plate[round(0.12 * height) : round(0.88 * height), round(0.03 * width) : round(0.97 * width)]
        new_width = int(rng.integers(60, 200))
        band = cv2.resize(band, (new_width, max(8, round(new_width * band.shape[0] / band.shape[1]))), cv2.INTER_AREA)
        band = cv2.GaussianBlur(band, (0, 0), float(rng.uniform(0.3, 1.2)))
        band = cv2.convertScaleAbs(band, alpha=float(rng.uniform(0.6, 1.3)), beta=float(rng.uniform(-30, 30)))
        ok, encoded = cv2.imencode(".jpg", band, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 90))])
        crops.append(cv2.imdecode(encoded, cv2.IMREAD_COLOR))
    return crops


def record(data: Path, settings: Settings, into: Path) -> dict[str, Counter]:
    """Run the fp32 pipeline over the calibration images with every model session recorded into ``into/<model>``."""
    analyzer = ImageAnalyzer.from_settings(settings)
    context = registry.BackendContext(settings, ModelStore(settings.models_path), get_pack(settings.model_pack))
    clp_rec = registry.create("plate_reader", "clp_rec", context)
    analyzer.face_detector.session = Recorder(analyzer.face_detector.session, into / FACE_MODELS[0])
    analyzer.face_embedder.session = Recorder(analyzer.face_embedder.session, into / FACE_MODELS[1])
    analyzer.plate_detector.session = Recorder(analyzer.plate_detector.session, into / PLATE_MODELS[0])
    analyzer.plate_reader.session = Recorder(analyzer.plate_reader.session, into / PLATE_MODELS[1])
    clp_rec.session = Recorder(clp_rec.session, into / PLATE_MODELS[2])
    sources: dict[str, Counter] = {}
    rng = np.random.default_rng(SEED)

    def analyse(source: str, image: np.ndarray, faces: bool, plates: bool) -> list:
        before = {name: r.count for name, r in _recorders(analyzer, clp_rec).items()}
        result = analyzer.analyze(image, faces=faces, plates=plates)
        if result.plates:
            clp_rec.read(image, result.plates)
        for name, recorder in _recorders(analyzer, clp_rec).items():
            sources.setdefault(name, Counter())[source] += recorder.count - before[name]
        return result.faces

    for photo in tqdm(images(data / "faces_groups" / "images"), desc="faces_groups", file=sys.stderr):
        for face in analyse("faces_groups", photo, faces=True, plates=False):
            for _ in range(VIEWS_PER_FACE):
                analyse("faces_groups camera views", camera_view(photo, face, rng), faces=True, plates=False)
    clips = data / "videos_surveillance" / "videos"
    for frame in tqdm(frames(clips / "vtest.avi", 50, 16), desc="vtest.avi", file=sys.stderr):
        analyse("vtest.avi", frame, faces=True, plates=True)
    for frame in images(data / "mot17_mini" / "MOT17-04-FRCNN" / "img1"):
        analyse("MOT17", frame, faces=True, plates=True)
    for photo in tqdm(images(data / "plates_openalpr" / "images"), desc="plates_openalpr", file=sys.stderr):
        analyse("plates_openalpr", photo, faces=False, plates=True)
    for street in tqdm(synthetic_streets(SYNTHETIC_STREETS, rng), desc="synthetic plates", file=sys.stderr):
        analyse("synthetic plates", street, faces=True, plates=True)
    for clip, step in (("road.mp4", 4), ("car-detection.mp4", 30)):
        for frame in frames(clips / clip, step, 12):
            analyse(clip, frame, faces=False, plates=True)
    for crop in synthetic_plate_crops(SYNTHETIC_CROPS, rng):
        for name, reader in ((PLATE_MODELS[1], analyzer.plate_reader), (PLATE_MODELS[2], clp_rec)):
            reader.read_crops([crop])
            sources.setdefault(name, Counter())["synthetic plate crops"] += 1
    return sources


def _recorders(analyzer: ImageAnalyzer, clp_rec) -> dict[str, Recorder]:
    sessions = (
        analyzer.face_detector.session,
        analyzer.face_embedder.session,
        analyzer.plate_detector.session,
        analyzer.plate_reader.session,
        clp_rec.session,
    )
    return dict(zip(FACE_MODELS + PLATE_MODELS, sessions, strict=True))


def measure_ranges(name: str, model: Path, feeds: Path, method: str) -> dict[str, list[float]]:
    """Activation ranges of model file ``name`` over the saved ``feeds``, on the graph installation quantises:
    onnxruntime's min-max calibrator, then for ``percentileP`` the central P % of each tensor's values."""
    files = sorted(feeds.glob("*.npz"))
    with tempfile.TemporaryDirectory(prefix="skynet-calibrate-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        preprocess(prepared_graph(name, model), pre)
        calibrator = create_calibrator(
            pre,
            list(set(QLinearOpsRegistry) | set(QDQRegistry)),
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=CalibrationMethod.MinMax,
        )
        # one feed per call: the calibrator merges each call's ranges into the last (its own
        # max_intermediate_outputs drops all but the last chunk in onnxruntime 1.32)
        for feed in files:
            calibrator.collect_data(SavedFeeds([feed]))
        measured = calibrator.compute_data()
        ranges = {
            tensor: [float(np.asarray(v).reshape(-1)[0]) for v in measured.data[tensor].range_value]
            for tensor in sorted(measured.data)
        }
        if method.startswith("percentile"):
            ranges = central_ranges(pre, files, ranges, float(method.removeprefix("percentile")))
    return ranges


def central_ranges(
    model: Path, files: list[Path], extremes: dict[str, list[float]], percent: float, bins: int = 4096
) -> dict[str, list[float]]:
    """The range of the central ``percent`` % of each tensor's values over all feeds: histograms over
    the min-max ``extremes``, accumulated one feed at a time."""
    graph = onnx.load(str(model))
    names = sorted(extremes)
    del graph.graph.output[:]
    graph.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in names)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    counts = {name: np.zeros(bins, np.int64) for name in names}
    for path in files:
        for name, value in zip(names, session.run(names, SavedFeeds([path]).get_next()), strict=True):
            low, high = extremes[name]
            if high > low:
                counts[name] += np.histogram(value, bins, range=(low, high))[0]
    cut = (100.0 - percent) / 200.0
    ranges = {}
    for name in names:
        low, high = extremes[name]
        if not counts[name].any():  # a constant tensor
            ranges[name] = [low, high]
            continue
        cdf = np.cumsum(counts[name]) / counts[name].sum()
        edges = np.linspace(low, high, bins + 1)
        left = min(int(np.searchsorted(cdf, cut)), bins - 1)
        right = min(int(np.searchsorted(cdf, 1.0 - cut)) + 1, bins)
        ranges[name] = [float(edges[left]), float(edges[right])]
    return ranges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    shipped = [m for m in FACE_MODELS + PLATE_MODELS if get_pack("default").int8_variant(m)]
    parser.add_argument(
        "--models", nargs="+", default=shipped, help="default: the models the pack has int8 variants of"
    )
    parser.add_argument("--method", choices=METHODS, help="calibration method for every model (default: METHOD)")
    parser.add_argument("--check-dir", type=Path, help="build the int8 models into DIR/default/ and print checksums")
    parser.add_argument("--feeds-dir", type=Path, help="keep the recorded model inputs here (and reuse them)")
    args = parser.parse_args(argv)
    settings = Settings(precision="fp32", intra_op_threads=0)
    store = ModelStore(settings.models_path)
    pack = get_pack("default")
    with tempfile.TemporaryDirectory(prefix="skynet-feeds-") as tmp:
        feeds = args.feeds_dir or Path(tmp)
        if (feeds / "sources.json").is_file():
            sources = {k: Counter(v) for k, v in json.loads((feeds / "sources.json").read_text("utf-8")).items()}
        else:
            sources = record(args.data, settings, feeds)
            (feeds / "sources.json").write_text(json.dumps(sources), "utf-8")
        for name in args.models:
            model = store.require(pack, name)
            print(f"{name}: {sum(sources[name].values())} calibration runs {dict(sources[name])}", file=sys.stderr)
            method = args.method or METHOD.get(name, "minmax")
            ranges = measure_ranges(name, model, feeds / name, method)
            calibration = {
                "model": name,
                "model_sha256": pack.file(name).sha256,
                "method": method,
                "runs": dict(sorted(sources[name].items())),
                "exclude": EXCLUDE.get(name, []),
                "op_types": OP_TYPES.get(name, []),
                "weight_bits": WEIGHT_BITS.get(name, 8),
                "ranges": ranges,
            }
            calibration_path(name).parent.mkdir(parents=True, exist_ok=True)
            calibration_path(name).write_text(json.dumps(calibration, indent=1, ensure_ascii=False) + "\n", "utf-8")
            print(f"{name}: {len(ranges)} tensor ranges -> {calibration_path(name)}", file=sys.stderr)
    if args.check_dir:
        target = args.check_dir / "default"
        target.mkdir(parents=True, exist_ok=True)
        for name in args.models:
            data = quantize(name, store.require(pack, name), **load_calibration(name))
            (target / int8_name(name)).write_bytes(data)
            print(f"{int8_name(name)}  sha256 {hashlib.sha256(data).hexdigest()}  {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
