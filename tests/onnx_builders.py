"""Tiny ONNX models with the input/output signatures of the optional back-ends' real models.

Each is a handful of nodes whose outputs are known in advance (fixed tensors, or simple
functions of the input), so the tests run the back-ends' real loading, pre-processing and
decoding code without any real weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def yolo_model(path: Path, rows: np.ndarray, red_rows: np.ndarray | None = None, dynamic: bool = True) -> Path:
    """A YOLOv8 export look-alike: input ``images`` ``[B, 3, H, W]``, output ``output0`` =
    ``rows`` (``[4 + classes, anchors]``, the same for every image) + ``red_rows`` x the mean of
    the input's first (red) channel, which is 1 for an all-red square image."""
    rows = np.asarray(rows, np.float32)[None]
    red = np.zeros_like(rows) if red_rows is None else np.asarray(red_rows, np.float32)[None]
    batch, side = ("batch", "height") if dynamic else (1, 640)
    nodes = [
        helper.make_node("Slice", ["images", "c0", "c1", "axis1"], ["red"]),
        helper.make_node("ReduceMean", ["red"], ["red_mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["red_mean", "axes12"], ["red_b11"]),
        helper.make_node("Mul", ["red_b11", "red_rows"], ["varying"]),
        helper.make_node("Add", ["varying", "rows"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, side, side if dynamic else 640])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, rows.shape[1], rows.shape[2]])],
        [
            _const("rows", rows),
            _const("red_rows", red),
            _const("c0", np.array([0], np.int64)),
            _const("c1", np.array([1], np.int64)),
            _const("axis1", np.array([1], np.int64)),
            _const("axes12", np.array([1, 2], np.int64)),
        ],
    )
    return _save(graph, path)


SCRFD_STRIDES = (8, 16, 32)
# landmark offsets (x, y pairs, in units of the stride) every SCRFD test anchor emits
SCRFD_KPS = np.array([-0.4, -0.3, 0.4, -0.3, 0.0, 0.1, -0.3, 0.5, 0.3, 0.5], np.float32)
SCRFD_DISTANCE = np.array([1.0, 1.0, 1.0, 1.0], np.float32)  # box sides, in units of the stride


def scrfd_model(path: Path, batched: bool = False) -> Path:
    """An SCRFD-with-landmarks look-alike (input ``input.1``, nine outputs: scores, boxes,
    landmarks for strides 8, 16, 32). Only stride 32 fires: an anchor's score is
    ``sigmoid(20 * r - 10)`` of the mean normalised red value ``r`` of its 32 x 32 cell (about 1 for
    a red cell, 0 for black), box distances are :data:`SCRFD_DISTANCE` and landmark offsets
    :data:`SCRFD_KPS`."""
    nodes, inits, outputs = [], [], {}
    out_shape = [0, -1] if batched else [-1]
    for stride in SCRFD_STRIDES:
        pooled = f"pool{stride}"
        nodes.append(
            helper.make_node(
                "AveragePool", ["input.1"], [pooled], kernel_shape=[stride, stride], strides=[stride, stride]
            )
        )
        score_w = np.zeros((2, 3, 1, 1), np.float32)
        score_b = np.full(2, -10.0, np.float32)
        if stride == 32:
            score_w[:, 0] = 20.0
        heads = {
            "score": (score_w, score_b, 1),
            "bbox": (np.zeros((8, 3, 1, 1), np.float32), np.tile(SCRFD_DISTANCE, 2), 4),
            "kps": (np.zeros((20, 3, 1, 1), np.float32), np.tile(SCRFD_KPS, 2), 10),
        }
        for head, (weight, bias, width) in heads.items():
            name = f"{head}{stride}"
            inits += [
                _const(f"{name}_w", weight),
                _const(f"{name}_b", bias),
                _const(f"{name}_shape", np.array([*out_shape, width], np.int64)),
            ]
            conv = f"{name}_conv"
            nodes.append(helper.make_node("Conv", [pooled, f"{name}_w", f"{name}_b"], [conv]))
            if head == "score":
                nodes.append(helper.make_node("Sigmoid", [conv], [f"{name}_sig"]))
                conv = f"{name}_sig"
            nodes.append(helper.make_node("Transpose", [conv], [f"{name}_t"], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Reshape", [f"{name}_t", f"{name}_shape"], [name]))
            dims = ["batch", "anchors", width] if batched else ["anchors", width]
            outputs[name] = helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)
    order = [f"{head}{s}" for head in ("score", "bbox", "kps") for s in SCRFD_STRIDES]
    graph = helper.make_graph(
        nodes,
        "scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["batch" if batched else 1, 3, "h", "w"])],
        [outputs[name] for name in order],
        inits,
    )
    return _save(graph, path)


ARCFACE_DIM = 512


def arcface_weights() -> np.ndarray:
    """The ``[3, 512]`` matrix the ArcFace look-alike multiplies the crop's mean colour by."""
    return np.random.default_rng(7).normal(size=(3, ARCFACE_DIM)).astype(np.float32)


def arcface_model(path: Path) -> Path:
    """An ArcFace look-alike: input ``input.1`` ``[B, 3, 112, 112]``, output ``683`` ``[B, 512]`` =
    mean of each (normalised RGB) channel times :func:`arcface_weights`."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["input.1"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "weights"], ["683"]),
    ]
    graph = helper.make_graph(
        nodes,
        "arcface",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["None", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["None", ARCFACE_DIM])],
        [_const("weights", arcface_weights())],
    )
    return _save(graph, path)
