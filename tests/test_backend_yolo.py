"""YOLO back-ends: letterbox, decoding + NMS, batching, vehicle regions, the yolo pack by name."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from onnx_builders import yolo_model

from skynet.config import Settings
from skynet.detectors import registry, vehicle_regions, yolo
from skynet.detectors.runtime import create_session
from skynet.errors import ConfigError, ModelFileError
from skynet.models import ModelStore, get_pack
from skynet.models.install import install_pack
from skynet.records import Box


def _rows(*detections: tuple[float, float, float, float, list[float]]) -> np.ndarray:
    """``[4 + classes, anchors]`` from (cx, cy, w, h, class scores) per anchor."""
    return np.array([[cx, cy, w, h, *scores] for cx, cy, w, h, scores in detections], np.float32).T


def test_letterbox_centres_the_scaled_image_on_grey_and_maps_boxes_back():
    image = np.full((100, 200, 3), 255, np.uint8)
    square, box = yolo.letterbox(image, 64)
    assert square.shape == (64, 64, 3)
    assert (box.scale, box.pad_x, box.pad_y) == (0.32, 0, 16)
    assert (square[:16] == yolo.PAD_VALUE).all() and (square[48:] == yolo.PAD_VALUE).all()
    assert (square[16:48] == 255).all()
    np.testing.assert_allclose(box.to_image(np.array([[0, 16, 64, 48]], np.float32)), [[0, 0, 200, 100]])


def test_decode_keeps_best_class_drops_low_scores_and_suppresses_overlaps():
    rows = _rows(
        (50, 50, 20, 10, [0.9, 0.1]),  # class 0
        (51, 50, 20, 10, [0.8, 0.0]),  # overlaps the first: suppressed
        (52, 50, 20, 10, [0.0, 0.7]),  # overlaps too, but of class 1: kept
        (200, 200, 40, 40, [0.2, 0.3]),  # under the threshold
    )
    found = yolo.decode(rows, min_score=0.5)
    np.testing.assert_allclose(found.scores, [0.9, 0.7])
    assert found.classes.tolist() == [0, 1]
    np.testing.assert_allclose(found.boxes[0], [40, 45, 60, 55])
    only_one = yolo.decode(rows, min_score=0.5, classes={1})
    assert only_one.classes.tolist() == [1]
    with pytest.raises(ModelFileError, match="expected"):
        yolo.decode(np.zeros((3, 10), np.float32), 0.5)


@pytest.mark.parametrize("dynamic", [True, False])
def test_onnx_predictor_preprocesses_rgb_and_runs_batches(tmp_path, dynamic):
    rows = _rows((320, 320, 64, 32, [0.0]), (100, 100, 20, 20, [0.6]))
    red_rows = np.zeros_like(rows)
    red_rows[4, 0] = 0.95  # the first anchor scores the mean red of the input
    path = yolo_model(tmp_path / "m.onnx", rows, red_rows, dynamic=dynamic)
    predictor = yolo.OnnxYolo(create_session(path, ["CPUExecutionProvider"]), size=640)
    assert predictor.batched is dynamic and predictor.size == 640
    red = np.zeros((1280, 1280, 3), np.uint8)
    red[..., 2] = 255  # BGR: pure red
    blue = np.zeros((1280, 1280, 3), np.uint8)
    blue[..., 0] = 255
    on_red, on_blue = predictor.predict([red, blue], min_score=0.5)
    np.testing.assert_allclose(sorted(on_red.scores), [0.6, 0.95], atol=1e-5)
    assert on_blue.scores.tolist() == pytest.approx([0.6])
    # input pixels -> image pixels: the 1280 px images were halved into the 640 square
    np.testing.assert_allclose(on_red.boxes[np.argmax(on_red.scores)], [576, 608, 704, 672], atol=1e-3)
    np.testing.assert_allclose(on_blue.boxes[0], [180, 180, 220, 220], atol=1e-3)


def _car_and_plate_models(tmp_path):
    vehicles = yolo_model(
        tmp_path / "yolov8n.onnx",
        _rows(
            (320, 320, 200, 100, [0.0, 0.0, 0.9]),  # a car (COCO class 2)
            (100, 500, 40, 80, [0.9, 0.0, 0.0]),  # a person: not a vehicle
        ),
    )
    plates = yolo_model(tmp_path / "best.onnx", _rows((320, 400, 160, 40, [0.8])))
    return vehicles, plates


def test_vehicle_boxes_narrow_the_plate_search(tmp_path):
    vehicles_path, plates_path = _car_and_plate_models(tmp_path)
    session = create_session(plates_path, ["CPUExecutionProvider"])
    plates = yolo.OnnxYolo(session, 640)
    vehicles = yolo.OnnxYolo(create_session(vehicles_path, ["CPUExecutionProvider"]), 640)
    image = np.zeros((640, 640, 3), np.uint8)

    whole = yolo.YoloPlateDetector(plates, 0.5).detect(image)
    assert [p.box.as_list() for p in whole] == [pytest.approx([240, 380, 400, 420])]

    narrowed = yolo.YoloPlateDetector(plates, 0.5, vehicles).detect(image)
    # the car (220..420 x 270..370) grown by 10 % each side is the region searched
    region = vehicle_regions.search_regions(image, np.array([[220, 270, 420, 370]], np.float32))[0]
    assert region.as_list() == [200, 260, 440, 380]
    # the 240 x 120 crop is letterboxed into 640 (scale 8/3, padded 160 above): the plate the model
    # reports at (240..400, 380..420) in its input lies at x 90..150, y 82.5..97.5 of the crop
    expected = [200 + 240 * 3 / 8, 260 + (380 - 160) * 3 / 8, 200 + 400 * 3 / 8, 260 + (420 - 160) * 3 / 8]
    assert [p.box.as_list() for p in narrowed] == [pytest.approx(expected)]
    corners = narrowed[0].corners
    np.testing.assert_allclose(corners[0], expected[:2], rtol=1e-5)
    np.testing.assert_allclose(corners[2], expected[2:], rtol=1e-5)


def test_no_vehicle_means_the_whole_image_is_searched():
    image = np.zeros((50, 80, 3), np.uint8)
    assert [r.as_list() for r in vehicle_regions.search_regions(image, np.zeros((0, 4)))] == [[0, 0, 80, 50]]


def test_plates_seen_in_two_overlapping_vehicles_are_kept_once():
    found = yolo.ScoredBoxes(
        np.array([[10, 10, 30, 20]], np.float32), np.array([0.9], np.float32), np.array([0], np.int64)
    )
    shifted = yolo.ScoredBoxes(
        np.array([[0, 0, 20, 10]], np.float32), np.array([0.7], np.float32), np.array([0], np.int64)
    )
    regions = [vehicle_regions.whole(np.zeros((100, 100, 3))), Box(10.0, 10.0, 60.0, 60.0)]
    merged = vehicle_regions.merge([found, shifted], regions)
    assert merged.scores.tolist() == pytest.approx([0.9])


def test_yolo_pack_installs_from_a_zip_and_builds_by_name(tmp_path):
    vehicles, plates = _car_and_plate_models(tmp_path)
    archive = tmp_path / "weights.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.write(plates, "export/best.onnx")
        bundle.write(vehicles, "export/yolov8n.onnx")
    pack = get_pack("yolo")
    store = ModelStore(tmp_path / "models")
    install_pack(store, pack, source=archive, report=lambda _: None)
    assert (store.pack_dir(pack) / "yolo_plate.onnx").is_file() and store.ready(pack)
    settings = Settings(model_dir=tmp_path / "models", execution_providers=["CPUExecutionProvider"])
    detector = registry.create("plate_detector", "yolo", registry.BackendContext(settings, store, pack))
    assert detector.vehicles is not None
    images = [np.zeros((640, 640, 3), np.uint8)] * 3
    assert [len(found) for found in detector.detect_batch(images)] == [1, 1, 1]


def test_optional_vehicle_model_may_be_left_out_but_the_plate_model_may_not(tmp_path):
    _, plates = _car_and_plate_models(tmp_path)
    source = tmp_path / "src"
    source.mkdir()
    pack = get_pack("yolo")
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelFileError, match="no file named yolo_plate.onnx or best.onnx"):
        install_pack(store, pack, source=source, report=lambda _: None)
    (source / "best.onnx").write_bytes(plates.read_bytes())
    install_pack(store, pack, source=source, report=lambda _: None)
    assert store.ready(pack) and store.optional(pack, "yolo_vehicle.onnx") is None
    settings = Settings(model_dir=tmp_path / "models", execution_providers=["CPUExecutionProvider"])
    detector = registry.create("plate_detector", "yolo", registry.BackendContext(settings, store, pack))
    assert detector.vehicles is None


def test_missing_plate_model_names_the_file_and_the_fix(tmp_path):
    pack = get_pack("yolo")
    context = registry.BackendContext(Settings(model_dir=tmp_path), ModelStore(tmp_path), pack)
    with pytest.raises(ModelFileError) as error:
        registry.create("plate_detector", "yolo", context)
    assert "yolo_plate.onnx" in error.value.message and str(tmp_path / "yolo") in error.value.message
    assert "--from" in error.value.hint


def test_pt_models_without_ultralytics_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    with pytest.raises(ConfigError, match="needs ultralytics") as error:
        yolo.UltralyticsYolo(tmp_path / "yolo_plate.pt", 640)
    assert "skynet[yolo]" in error.value.hint


def test_pt_models_run_through_ultralytics(tmp_path):
    ultralytics = pytest.importorskip("ultralytics", reason="ultralytics not installed (pip install 'skynet[yolo]')")
    model = ultralytics.YOLO("yolov8n.yaml")  # random weights, built locally: nothing is downloaded
    path = tmp_path / "yolo_plate.pt"
    model.save(str(path))
    predictor = yolo.UltralyticsYolo(path, 320, device="cpu")
    found = predictor.predict([np.zeros((240, 320, 3), np.uint8)] * 2, min_score=0.0)
    assert len(found) == 2 and all(f.boxes.shape[1] == 4 and len(f.scores) == len(f.boxes) for f in found)


@pytest.fixture(scope="module")
def eval_plates():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_plates.py"
    spec = importlib.util.spec_from_file_location("eval_plates_backends", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_eval_subset_keeps_only_the_rows_of_that_region(eval_plates, tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels.csv").write_text(
        "filename,region,plate_text,x1,y1,x2,y2\na.jpg,eu,AB123CD,1,2,3,4\nb.jpg,us,7ABC123,1,2,3,4\n", encoding="utf-8"
    )
    images, has_boxes = eval_plates.read_labels(tmp_path, None, "us")
    assert has_boxes and list(images) == ["b.jpg"] and images["b.jpg"][0].text == "7ABC123"


@pytest.mark.slow
@pytest.mark.models
def test_real_yolo_plate_model_finds_openalpr_plates(eval_plates, shared_data):
    """Accuracy on real weights: runs only where the user installed the yolo pack (e.g. the
    ONNX export of fastanpr's detector) and the default pack, with ../shared/data present."""
    settings = Settings(model_pack="yolo", plate_region="custom", plate_patterns=["[A-Z0-9]{4,8}"])
    store = ModelStore(settings.models_path)
    for name in ("yolo", "default"):
        if not store.ready(get_pack(name)):
            pytest.skip(f"{name} pack not installed in {store.root} (skynet models install {name} ...)")
    tally, has_boxes = eval_plates.evaluate(shared_data("plates_openalpr"), settings, limit=20, subset="eu")
    figures = tally.summary(has_boxes)
    assert figures["detection_recall"] >= 0.95 and figures["exact_accuracy"] >= 0.6, figures
