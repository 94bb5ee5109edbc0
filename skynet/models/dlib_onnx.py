"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) as an ONNX graph.

The graph computes what dlib's ``compute_face_descriptor`` computes from an aligned chip:
input ``chips`` [N, 3, 150, 150], RGB 0-255 as float32; output ``descriptors`` [N, 128] (not
normalised, as dlib returns them). dlib's input scaling ``(x - mean) / 256`` is the graph's
first two nodes; each ``affine_`` layer is folded into the convolution before it. Residual
blocks add their input (or, in down-sampling blocks, its 2x2 stride-2 average pool) to the
block's output, both zero-padded at the end to the larger shape, as dlib's ``add_prev`` does.

The conversion is deterministic: fixed opset and IR version, fixed node and tensor names, no
time stamps or library versions in the file, and only element-wise arithmetic on the weights,
so the same ``.dat`` gives the same bytes (checked by checksum at install).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from skynet.errors import ModelFileError
from skynet.models.dlib_dnn import (
    AddPrev,
    Affine,
    Conv,
    DlibFormatError,
    FullyConnected,
    Network,
    Pool,
    Relu,
    parse_network,
)

OPSET = 13
IR_VERSION = 7  # the IR version of opset 13
INPUT = "chips"
OUTPUT = "descriptors"
PRODUCER = "skynet dlib-resnet-onnx"
PRODUCER_VERSION = "1"  # bump when the graph layout changes (and record the new checksum)
INPUT_SCALE = 1.0 / 256.0  # dlib divides by 256: a power of two, so the product is exact


@dataclass
class _Graph:
    """Nodes and weights under construction, with the static shape (C, H, W) of every tensor."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    weights: list[onnx.TensorProto] = field(default_factory=list)
    shapes: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def constant(self, name: str, value: np.ndarray) -> str:
        self.weights.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, shape: tuple[int, int, int], **attributes) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        self.shapes[name] = shape
        return name


def _pooled(size: int, window: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - window) // stride + 1


def _conv(graph: _Graph, source: str, conv: Conv, affine: Affine | None, name: str) -> str:
    weights, bias = conv.weights, conv.bias
    if affine is not None:
        if affine.gamma.shape != bias.shape:
            raise DlibFormatError(f"{name}: affine layer of {affine.gamma.size} channels after {bias.size} filters")
        weights = weights * affine.gamma[:, None, None, None]
        bias = bias * affine.gamma + affine.beta
    channels, height, width = graph.shapes[source]
    if weights.shape[1] != channels:
        raise DlibFormatError(f"{name}: filters of {weights.shape[1]} channels on {channels} channels")
    kernel = weights.shape[2:]
    shape = (
        weights.shape[0],
        _pooled(height, kernel[0], conv.stride[0], conv.padding[0]),
        _pooled(width, kernel[1], conv.stride[1], conv.padding[1]),
    )
    inputs = [source, graph.constant(f"{name}.weight", weights), graph.constant(f"{name}.bias", bias)]
    pads = [conv.padding[0], conv.padding[1], conv.padding[0], conv.padding[1]]
    return graph.node("Conv", inputs, name, shape, kernel_shape=list(kernel), strides=list(conv.stride), pads=pads)


def _pool(graph: _Graph, source: str, pool: Pool, name: str) -> str:
    channels, height, width = graph.shapes[source]
    if pool.is_global:
        if pool.kind != "avg":
            raise DlibFormatError(f"{name}: global {pool.kind} pooling is not supported")
        return graph.node("GlobalAveragePool", [source], name, (channels, 1, 1))
    shape = (
        channels,
        _pooled(height, pool.window[0], pool.stride[0], pool.padding[0]),
        _pooled(width, pool.window[1], pool.stride[1], pool.padding[1]),
    )
    op = "MaxPool" if pool.kind == "max" else "AveragePool"
    pads = [pool.padding[0], pool.padding[1], pool.padding[0], pool.padding[1]]
    return graph.node(op, [source], name, shape, kernel_shape=list(pool.window), strides=list(pool.stride), pads=pads)


def _padded(graph: _Graph, source: str, shape: tuple[int, int, int], name: str) -> str:
    """``source`` zero-padded at the end of channels, rows and columns to ``shape``."""
    extra = [target - have for target, have in zip(shape, graph.shapes[source], strict=True)]
    if not any(extra):
        return source
    pads = graph.constant(f"{name}.pads", np.array([0, 0, 0, 0, 0, *extra], np.int64))
    return graph.node("Pad", [source, pads], name, shape, mode="constant")


def _residual(graph: _Graph, block_output: str, shortcut: str, name: str) -> str:
    (c1, h1, w1), (c2, h2, w2) = graph.shapes[block_output], graph.shapes[shortcut]
    shape = (max(c1, c2), max(h1, h2), max(w1, w2))
    left = _padded(graph, block_output, shape, f"{name}.pad_block")
    right = _padded(graph, shortcut, shape, f"{name}.pad_shortcut")
    return graph.node("Add", [left, right], name, shape)


def build_graph(network: Network) -> onnx.ModelProto:
    """The ONNX model of ``network`` (see the module docstring)."""
    graph = _Graph()
    height, width = network.input.size
    graph.shapes[INPUT] = (3, height, width)
    mean = graph.constant("input.mean", np.array(network.input.mean_rgb, np.float32).reshape(1, 3, 1, 1))
    scale = graph.constant("input.scale", np.array(INPUT_SCALE, np.float32))
    current = graph.node("Sub", [INPUT, mean], "input.centred", (3, height, width))
    current = graph.node("Mul", [current, scale], "input.scaled", (3, height, width))
    block_input: str | None = None  # where the current residual block started
    shortcut: str | None = None  # its down-sampled input, in a down-sampling block
    layers = list(network.layers)
    index = 0
    while index < len(layers):
        layer = layers[index]
        name = f"layer{index:03d}"
        if isinstance(layer, Conv):
            affine = layers[index + 1] if index + 1 < len(layers) else None
            folded = affine if isinstance(affine, Affine) else None
            current = _conv(graph, current, layer, folded, name)
            index += 2 if folded is not None else 1
            continue
        if isinstance(layer, Affine):
            raise DlibFormatError(f"{name}: affine layer that does not follow a convolution")
        if isinstance(layer, Relu):
            after_add = graph.nodes[-1].op_type == "Add"
            current = graph.node("Relu", [current], name, graph.shapes[current])
            if after_add:
                block_input = current
        elif isinstance(layer, Pool) and layer.kind == "avg" and not layer.is_global:
            if block_input is None:
                raise DlibFormatError(f"{name}: down-sampling shortcut outside a residual block")
            shortcut = _pool(graph, block_input, layer, name)
        elif isinstance(layer, Pool):
            current = _pool(graph, current, layer, name)
            if layer.kind == "max":
                block_input = current
        elif isinstance(layer, AddPrev):
            source = shortcut if shortcut is not None else block_input
            if source is None:
                raise DlibFormatError(f"{name}: residual add without a block input")
            current = _residual(graph, current, source, name)
            shortcut = None
        elif isinstance(layer, FullyConnected):
            channels, rows, cols = graph.shapes[current]
            if channels * rows * cols != layer.weights.shape[0]:
                raise DlibFormatError(f"{name}: {layer.weights.shape[0]} inputs after {channels}x{rows}x{cols}")
            flat = graph.node("Flatten", [current], f"{name}.flatten", (channels * rows * cols, 1, 1), axis=1)
            weights = graph.constant(f"{name}.weight", layer.weights)
            current = graph.node("MatMul", [flat, weights], OUTPUT, (layer.weights.shape[1], 1, 1))
        index += 1
    if current != OUTPUT:
        raise DlibFormatError("the network does not end in a fully connected layer")
    outputs = graph.shapes[OUTPUT][0]
    model_graph = helper.make_graph(
        graph.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", 3, height, width])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", outputs])],
        initializer=graph.weights,
    )
    model = helper.make_model(
        model_graph,
        opset_imports=[helper.make_operatorsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def convert(dat_file: Path) -> bytes:
    """The serialised ONNX graph of the dlib network in ``dat_file``; a damaged file is a
    :class:`ModelFileError` naming it."""
    try:
        network = parse_network(Path(dat_file).read_bytes())
        model = build_graph(network)
    except DlibFormatError as exc:
        raise ModelFileError(f"{Path(dat_file).name} is not a readable dlib face-recognition network: {exc}") from exc
    return model.SerializeToString(deterministic=True)
