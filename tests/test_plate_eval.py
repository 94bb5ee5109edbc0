"""benchmarks/eval_plates.py on small synthetic sets in the shared-data layout."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from skynet.synthetic import paste_plate, render_plate, street_scene

pytestmark = pytest.mark.models

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_plates.py"


@pytest.fixture(scope="module")
def eval_plates():
    spec = importlib.util.spec_from_file_location("eval_plates", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_set(root: Path, columns: list[str], rows: list[dict], images: dict[str, np.ndarray]) -> Path:
    (root / "images").mkdir(parents=True)
    for name, image in images.items():
        cv2.imwrite(str(root / "images" / name), image)
    with (root / "labels.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_scene_set_with_two_plates_in_one_image(eval_plates, model_settings, cjk_font, tmp_path):
    plates = {
        "桂B12345": [[200, 300], [420, 290], [424, 360], [204, 370]],
        "粤BD12345": [[800, 420], [1020, 425], [1018, 495], [798, 490]],
    }
    scene = street_scene(seed=2)
    rows = []
    for text, corners in plates.items():
        scene = paste_plate(scene, render_plate(text), np.float32(corners))
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        rows.append(
            {"filename": "a.jpg", "plate_text": text, "x1": min(xs), "y1": min(ys), "x2": max(xs), "y2": max(ys)}
        )
    rows.append(
        {"filename": "b.jpg", "plate_text": "京A00000", "x1": 10, "y1": 10, "x2": 200, "y2": 70}
    )  # no plate there
    data = write_set(
        tmp_path / "scenes",
        ["filename", "plate_text", "x1", "y1", "x2", "y2"],
        rows,
        {"a.jpg": scene, "b.jpg": street_scene(seed=4)},
    )
    out = tmp_path / "scenes.json"
    assert eval_plates.main(["--data", str(data), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["detection_recall"] == pytest.approx(2 / 3)
    assert figures["exact_accuracy"] == pytest.approx(2 / 3)
    assert figures["char_accuracy"] == pytest.approx(2 / 3)
    assert figures["ms_per_image"] > 0


def test_crop_set_is_read_directly(eval_plates, model_settings, cjk_font, tmp_path):
    texts = ["桂B12345", "京A00000"]
    crops = {f"{i}.png": render_plate(t)[17:123, :427] for i, t in enumerate(texts)}
    rows = [{"filename": f"{i}.png", "plate_text": t} for i, t in enumerate(texts)]
    data = write_set(tmp_path / "crops", ["filename", "plate_text"], rows, crops)
    out = tmp_path / "crops.json"
    assert eval_plates.main(["--data", str(data), "--json", str(out), "--reader", "clp_rec"]) == 0
    figures = json.loads(out.read_text())
    assert figures["detection_recall"] is None and figures["exact_accuracy"] == 1.0


def test_not_a_data_set_is_a_clear_error(eval_plates, tmp_path, capsys):
    assert eval_plates.main(["--data", str(tmp_path)]) == 1
    assert "not a plate data set" in capsys.readouterr().err


def test_calibration_figures_compare_confidence_with_the_share_right(eval_plates):
    from skynet.records import PlateText

    tally = eval_plates.Tally()
    tally.add("a.jpg", "京A12345", PlateText("京A12345", (1.0,) * 7))  # sure and right
    tally.add("b.jpg", "京A12345", PlateText("京A12845", (0.5,) * 7))  # unsure and wrong
    tally.add("c.jpg", "京A12345", None)  # not detected: no confidence to judge
    figures = tally.summary(has_boxes=True)
    assert figures["sure_share"] == 0.5 and figures["sure_exact"] == 1.0
    assert figures["calibration_error"] == pytest.approx(0.5 * 0.0 + 0.5 * 0.5)
