"""The real plate models: clp_det + PP-OCRv4 (default) and clp_rec, on real and synthetic plates."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest

from skynet.detectors import clp_det, registry
from skynet.detectors.plate_format import normalize_plate
from skynet.images import load_image
from skynet.models import ModelStore, get_pack
from skynet.records import Box
from skynet.synthetic import paste_plate, render_plate, street_scene

pytestmark = pytest.mark.models


@pytest.fixture(scope="session")
def clp_rec(model_settings):
    context = registry.BackendContext(model_settings, ModelStore(model_settings.models_path), get_pack("default"))
    return registry.create("plate_reader", "clp_rec", context)


def scene_with(text: str, corners: list[list[float]], seed: int = 0) -> np.ndarray:
    return paste_plate(street_scene(seed=seed), render_plate(text), np.float32(corners))


def labelled_rows(path, count: int) -> list[dict[str, str]]:
    with (path / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))[:count]


def load(path, settings) -> np.ndarray:
    return load_image(path, settings.max_image_pixels, settings.max_image_bytes)


@pytest.mark.parametrize(
    ("text", "corners", "kind"),
    [
        ("桂B12345", [[500, 400], [720, 380], [725, 450], [505, 472]], "blue"),  # tilted blue plate
        ("粤BD12345", [[300, 300], [520, 310], [515, 380], [296, 368]], "new_energy"),  # green 8-character plate
    ],
)
def test_synthetic_plates_are_found_and_read(analyzer, cjk_font, text, corners, kind):
    result = analyzer.analyze(scene_with(text, corners), faces=False)
    assert len(result.plates) == 1
    plate = result.plates[0]
    assert plate.read.text == text
    assert plate.read.format.valid and plate.read.format.kind == kind
    assert len(plate.read.char_confidences) == len(text)
    # corners come back in canonical order, close to where the plate was pasted
    assert np.abs(plate.corners - np.float32(corners)).max() < 20
    assert plate.box.x1 < plate.box.x2 and plate.box.y1 < plate.box.y2


@pytest.mark.parametrize(
    ("text", "corners"),
    [
        ("桂B12345", [[-8, 500], [224, 492], [228, 566], [-6, 574]]),  # rim cut by the left edge
        ("粤BD12345", [[1070, 40], [1290, 36], [1292, 110], [1072, 114]]),  # across the right edge
        ("川A9X7Q2", [[400, -20], [640, -18], [642, 56], [402, 54]]),  # top quarter cut off
    ],
)
def test_plates_crossing_the_image_edge(analyzer, cjk_font, text, corners):
    scene = scene_with(text, corners, seed=3)
    result = analyzer.analyze(scene, faces=False)
    assert [p.read.text for p in result.plates] == [text]
    box = result.plates[0].box
    assert 0 <= box.x1 < box.x2 <= scene.shape[1] and 0 <= box.y1 < box.y2 <= scene.shape[0]


def test_fast_reader_reads_synthetic_plates(analyzer, clp_rec, cjk_font):
    scene = scene_with("粤BD12345", [[300, 300], [520, 310], [515, 380], [296, 368]])
    plates = clp_rec.read(scene, analyzer.plate_detector.detect(scene))
    assert [p.read.text for p in plates] == ["粤BD12345"]


def test_scene_without_plates_and_tiny_images(analyzer):
    assert analyzer.analyze(street_scene(seed=5), faces=False).plates == []
    for shape in ((2, 2, 3), (3, 4000, 3)):
        assert analyzer.plate_detector.detect(np.zeros(shape, np.uint8)) == []
    assert analyzer.plate_reader.read(np.zeros((4, 4, 3), np.uint8), []) == []


def test_ccpd_plates_read_exactly(analyzer, shared_data, model_settings):
    data = shared_data("cn_plate_ccpd")
    rows = labelled_rows(data, 8)
    exact = 0
    for row in rows:
        result = analyzer.analyze(load(data / "images" / row["filename"], model_settings), faces=False)
        exact += any(normalize_plate(p.read.text) == normalize_plate(row["plate_text"]) for p in result.plates)
    assert exact >= 7, f"only {exact} of {len(rows)} CCPD plates read exactly"


def test_multi_plate_street_photo(analyzer, shared_data, model_settings):
    data = shared_data("cn_plate_easypr")
    rows = [r for r in labelled_rows(data, 200) if r["filename"] == "easypr_0001.jpg"]
    result = analyzer.analyze(load(data / "images" / "easypr_0001.jpg", model_settings), faces=False)
    assert {p.read.text for p in result.plates} >= {r["plate_text"] for r in rows}


@pytest.mark.parametrize("reader", ["ppocr", "clp_rec"])
def test_plate_crops_are_read(analyzer, clp_rec, shared_data, model_settings, reader):
    data = shared_data("cn_plate_crops")
    rows = labelled_rows(data, 20)
    backend = analyzer.plate_reader if reader == "ppocr" else clp_rec
    reads = backend.read_crops([load(data / "images" / r["filename"], model_settings) for r in rows])
    exact = sum(normalize_plate(t.text) == normalize_plate(r["plate_text"]) for t, r in zip(reads, rows))
    assert exact >= 18, f"{reader}: only {exact} of 20 crops read exactly"


def _found(detector, data, settings, names: list[str], close_ups: bool = True) -> int:
    """How many of the labelled plates of ``names`` (images of ``data``) a detection overlaps (IoU >= 0.3)."""
    with (data / "labels.csv").open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["filename"] in names]
    hits = 0
    for row in rows:
        truth = Box(*(float(row[c]) for c in ("x1", "y1", "x2", "y2")))
        plates = detector.detect(load(data / "images" / row["filename"], settings), close_ups=close_ups)
        hits += any(truth.iou(p.box) >= 0.3 for p in plates)
    return hits


@pytest.fixture(scope="module")
def fp32_plate_detector(model_settings):
    """clp_det in fp32: the DEV images of the second-look tests are where its first look fails (the int8
    detector, the CPU default, finds one of the close-ups at once)."""
    settings = model_settings.model_copy(update={"fp32_models": ["clp_det.onnx"]})
    context = registry.BackendContext(settings, ModelStore(settings.models_path), get_pack("default"))
    return registry.create("plate_detector", "clp_det", context)


@pytest.fixture
def second_look(fp32_plate_detector):
    """The fp32 clp_det with its second look switched by the test, restored afterwards."""
    detector = fp32_plate_detector
    before = detector.second_look
    yield detector
    detector.second_look = before


def test_second_look_finds_plates_filling_the_view(second_look, shared_data, model_settings):
    # DEV CCPD close-ups whose plates span 60-85 % of the image width: no detection at the first scale
    data = shared_data("cn_plate_ccpd")
    names = [f"ccpd_{n}.jpg" for n in ("0004", "0030", "0059", "0077", "0139")]
    second_look.second_look = False
    assert _found(second_look, data, model_settings, names) == 0
    second_look.second_look = True
    assert _found(second_look, data, model_settings, names) >= 4


def test_camera_views_are_not_zoomed_out_for_plates_filling_them(second_look, shared_data, model_settings):
    # the same close-ups given as a camera's view: a plate filling a camera's view does not occur, no zoom-out
    data = shared_data("cn_plate_ccpd")
    names = [f"ccpd_{n}.jpg" for n in ("0004", "0030", "0059", "0077", "0139")]
    second_look.second_look = True
    assert _found(second_look, data, model_settings, names, close_ups=False) == 0


def test_camera_frames_get_one_look_where_photos_are_zoomed_out(analyzer, monkeypatch):
    """A photo without plates is looked at again at half scale; a camera's frame (the pool's camera calls) is not,
    and its zoom-ins on weak candidates are kept."""
    from skynet.detectors.pool import AnalyzerPool

    detector = analyzer.plate_detector
    assert detector.second_look
    scales: list[float] = []
    look = detector._detect
    monkeypatch.setattr(detector, "_detect", lambda image, scale: scales.append(scale) or look(image, scale))
    scene = street_scene(seed=0)
    assert analyzer.analyze(scene, faces=False).plates == []
    assert scales == [0.75, 0.375]
    scales.clear()
    assert AnalyzerPool([analyzer])(scene).plates == []
    assert scales == [0.75]


def test_second_look_confirms_small_plates_scored_low_at_their_own_size(second_look, shared_data, model_settings):
    # DEV EasyPR plates 18-21 px tall: candidates scoring 0.3-0.45 where they are
    data = shared_data("cn_plate_easypr")
    names = ["easypr_0036.jpg", "easypr_0092.jpg", "easypr_0052.jpg"]
    second_look.second_look = False
    assert _found(second_look, data, model_settings, names) == 0
    second_look.second_look = True
    assert _found(second_look, data, model_settings, names) >= 2


def test_second_look_adds_no_plate_to_scenes_without_plates(second_look):
    second_look.second_look = True
    for seed in range(4):
        assert second_look.detect(street_scene(seed=seed)) == []


def test_clp_det_runs_int8_in_its_fpn_and_ssh_only_and_finds_the_fp32_plates(model_settings, shared_data):
    """The int8 plate detector (default on the CPU) keeps its backbone and heads in float and finds the plates
    the fp32 one finds, at nearly the same places; ``SKYNET_FP32_MODELS`` keeps it in fp32."""
    import onnx

    from skynet.detectors.clp_det import MODEL_FILE

    data = shared_data("cn_plate_easypr")
    settings = model_settings.model_copy(update={"precision": "int8", "intra_op_threads": 1})
    store, pack = ModelStore(settings.models_path), get_pack("default")
    int8 = registry.create("plate_detector", "clp_det", registry.BackendContext(settings, store, pack))
    fp32_settings = settings.model_copy(update={"fp32_models": [MODEL_FILE]})
    fp32 = registry.create("plate_detector", "clp_det", registry.BackendContext(fp32_settings, store, pack))
    graph = onnx.load(str(registry.BackendContext(settings, store, pack).precision_model_path(MODEL_FILE)))
    quantised = {n.output[0] for n in graph.graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.graph.node if n.op_type == "Conv"]
    float_convs = [n.name for n in convs if n.input[0] not in quantised]
    assert "Conv_0" in float_convs and "Conv_197" in float_convs and "Conv_80" not in float_convs
    assert not any(n.op_type == "DequantizeLinear" for n in onnx.load(str(store.require(pack, MODEL_FILE))).graph.node)
    found = 0
    for row in labelled_rows(data, 12):
        image = load(data / "images" / row["filename"], settings)
        expected, got = fp32.detect(image), int8.detect(image)
        assert len(got) == len(expected)
        for plate in expected:
            assert max(plate.box.iou(other.box) for other in got) > 0.6
        found += len(expected)
    assert found >= 10


@pytest.mark.models
def test_second_look_confirms_candidates_scoring_from_0_1(analyzer, shared_data, model_settings, monkeypatch):
    """A DEV crop of a tilted plate cut at its left end (``crop_0127.jpg``), 130 px wide on a car as the
    scenario draws it: at its own size the detector scores it 0.1-0.2, enlarged 0.8-0.96."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from scenario_render import car_sprite, place

    crop = load(shared_data("cn_plate_crops") / "images" / "crop_0127.jpg", model_settings)
    views = []
    for seed in (1, 2):
        view = np.full((260, 420, 3), 100, np.uint8)
        place(view, car_sprite(crop, 130, (90, 200, 90), np.random.default_rng(seed)), (210, 130), 1.0, 0.0)
        views.append(view)
    detector = analyzer.plate_detector
    monkeypatch.setattr(clp_det, "WEAK_SCORE", 0.2)
    assert all(detector.detect(view) == [] for view in views)
    monkeypatch.undo()
    for view in views:
        (plate,) = detector.detect(view)
        assert plate.score >= 0.5 and plate.box.iou(Box(145, 150, 275, 195)) > 0.3, plate.box
