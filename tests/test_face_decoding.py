"""CenterFace output decoding on synthetic heat-maps, and the in-memory graph patch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skynet.detectors.centerface import decode, input_size, load_graph
from skynet.errors import ModelFileError

GRID = (16, 20)  # output cells (h, w) of a 64 x 80 input


def _outputs():
    heatmap = np.zeros(GRID, np.float32)
    scale = np.zeros((2, *GRID), np.float32)
    offset = np.zeros((2, *GRID), np.float32)
    landmarks = np.zeros((10, *GRID), np.float32)
    return heatmap, scale, offset, landmarks


def _put_face(outputs, row, col, score, height, width, dy=0.0, dx=0.0, marks=None):
    heatmap, scale, offset, landmarks = outputs
    heatmap[row, col] = score
    scale[:, row, col] = (math.log(height / 4), math.log(width / 4))
    offset[:, row, col] = (dy, dx)
    if marks is not None:  # (5, 2) x, y as fractions of the box
        landmarks[:, row, col] = np.asarray(marks)[:, ::-1].reshape(-1)


def test_one_peak_gives_its_box_and_landmarks():
    outputs = _outputs()
    marks = [(0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.8), (0.65, 0.8)]
    _put_face(outputs, row=5, col=7, score=0.9, height=40, width=30, dy=0.2, dx=0.3, marks=marks)
    faces = decode(*outputs, min_score=0.5)
    assert faces.scores.tolist() == pytest.approx([0.9])
    cx, cy = (7 + 0.3 + 0.5) * 4, (5 + 0.2 + 0.5) * 4
    np.testing.assert_allclose(faces.boxes[0], [cx - 15, cy - 20, cx + 15, cy + 20], atol=1e-4)
    expected = [(cx - 15 + fx * 30, cy - 20 + fy * 40) for fx, fy in marks]
    np.testing.assert_allclose(faces.landmarks[0], expected, atol=1e-4)


def test_cells_below_min_score_are_ignored():
    outputs = _outputs()
    _put_face(outputs, row=3, col=3, score=0.4, height=20, width=20)
    assert len(decode(*outputs, min_score=0.5).boxes) == 0
    assert len(decode(*outputs, min_score=0.3).boxes) == 1


def test_empty_heatmap_gives_empty_arrays():
    faces = decode(*_outputs(), min_score=0.5)
    assert faces.boxes.shape == (0, 4) and faces.scores.shape == (0,) and faces.landmarks.shape == (0, 5, 2)


def test_overlapping_peaks_keep_the_strongest_and_distant_faces_survive():
    outputs = _outputs()
    _put_face(outputs, row=6, col=6, score=0.8, height=32, width=28)
    _put_face(outputs, row=6, col=7, score=0.95, height=32, width=28)  # same face, one cell over
    _put_face(outputs, row=12, col=17, score=0.7, height=16, width=14)  # another face
    faces = decode(*outputs, min_score=0.5)
    assert sorted(faces.scores.tolist()) == pytest.approx([0.7, 0.95])


def test_nms_threshold_is_respected():
    outputs = _outputs()
    # Two 40 px boxes 16 px apart horizontally: IoU = 24*40 / (2*1600 - 24*40) ~ 0.43.
    _put_face(outputs, row=8, col=6, score=0.9, height=40, width=40)
    _put_face(outputs, row=8, col=10, score=0.8, height=40, width=40)
    assert len(decode(*outputs, min_score=0.5, nms_iou=0.3).boxes) == 1
    assert len(decode(*outputs, min_score=0.5, nms_iou=0.5).boxes) == 2


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [((1920, 1080), 640, (1 / 3, 640, 360)), ((480, 640), 640, (1.0, 480, 640)), ((150, 100), 640, (1.0, 150, 100))],
)
def test_input_size_scales_down_to_the_long_side_and_never_up(size, long_side, expected):
    factor, width, height = input_size(*size, long_side)
    assert (width, height) == expected[1:]
    assert factor == pytest.approx(expected[0])


def test_load_graph_refuses_a_file_that_is_not_onnx(tmp_path):
    bogus = tmp_path / "centerface.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="centerface.onnx"):
        load_graph(bogus)


@pytest.mark.models
def test_load_graph_makes_input_symbolic_and_leaves_the_file_alone(model_settings):
    import onnx

    from skynet.models import ModelStore, get_pack
    from skynet.models.store import sha256_of

    pack = get_pack("default")
    path = ModelStore(model_settings.models_path).require(pack, "centerface.onnx")
    graph = onnx.load_from_string(load_graph(path))
    (only_input,) = graph.graph.input
    dims = [d.dim_param or d.dim_value for d in only_input.type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert sha256_of(path) == pack.file("centerface.onnx").sha256
