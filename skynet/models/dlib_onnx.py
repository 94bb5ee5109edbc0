"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) as an ONNX graph.

The graph computes what dlib's ``compute_face_descriptor`` computes from an aligned chip:
input ``chips``, the BGR uint8 chips as OpenCV cuts them, rearranged space-to-depth by
:func:`graph_input` ([N, 12, 75, 75]: each 2x2 block of pixels as 12 channels); output
``descriptors`` [N, 128] (not normalised, as dlib returns them). dlib's input scaling
``(x - mean) / 256`` is the graph's first node (the mean) and the first convolution's weights (the
1/256, exact). That convolution (dlib's 7x7 at stride 2) is rewritten for the layout (BGR order,
its kernel zero-padded to 8x8 and split alike into a 4x4 at stride 1 over 12 channels): the same
sums, and in int8 the same integers, at about two thirds of its cost there (onnxruntime's int8
convolution is slow on 3 channels). Each ``affine_`` layer is folded into the convolution before
it. Residual blocks add their input (or, in down-sampling blocks, its 2x2 stride-2 average pool)
to the block's output, both zero-padded at the end to the larger shape, as dlib's ``add_prev``
does; a pooled input padded only with channels is one convolution (:func:`_pooled_into_channels`).

The conversion is deterministic: fixed opset and IR version, fixed node and tensor names, no
time stamps or library versions in the file, and only element-wise arithmetic on the weights,
so the same ``.dat`` gives the same bytes (checked by checksum at install).
"""

from __future__ import annotations

import math
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
PRODUCER_VERSION = "2"  # bump when the graph layout changes (and record the new checksum)
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


def block_size(channels: int) -> int:
    """The space-to-depth block size of a graph input with ``channels`` channels (3 per pixel of a block)."""
    return math.isqrt(channels // 3)


def graph_input(chips: np.ndarray, step: int) -> np.ndarray:
    """BGR uint8 chips [N, H, W, 3] as the graph's input: [N, 3 * step**2, H / step, W / step], each
    ``step`` x ``step`` block of pixels as channels ordered (row in the block, column in the block, BGR)."""
    count, height, width, _ = chips.shape
    rows, cols = height // step, width // step
    blocks = chips.reshape(count, rows, step, cols, step, 3).transpose(0, 2, 4, 5, 1, 3)
    return np.ascontiguousarray(blocks).reshape(count, 3 * step * step, rows, cols)


def _input_step(network: Network, first: Conv) -> int:
    """The space-to-depth block of the graph's input: the first convolution's stride where it is strided
    alike in both directions, unpadded and the chip size a multiple of it; otherwise 1 (plain NCHW)."""
    step = first.stride[0]
    height, width = network.input.size
    if first.stride != (step, step) or first.padding != (0, 0) or height % step or width % step:
        return 1
    return step


def _input(graph: _Graph, network: Network, first: Conv) -> tuple[str, Conv]:
    """The chips scaled as dlib scales them, and the first convolution with its weights fitted to the input
    layout (:func:`graph_input`): BGR channels, space-to-depth by the block of :func:`_input_step`."""
    step = _input_step(network, first)
    height, width = network.input.size
    shape = (3 * step * step, height // step, width // step)
    graph.shapes[INPUT] = shape
    mean = np.tile(np.array(network.input.mean_rgb[::-1], np.float32), step * step).reshape(1, -1, 1, 1)
    current = graph.node("Cast", [INPUT], "input.float", shape, to=TensorProto.FLOAT)
    current = graph.node("Sub", [current, graph.constant("input.mean", mean)], "input.centred", shape)
    # dlib's 1 / 256 in the weights (exact: a power of two); then
    # weights[o, c, step * by + dy, step * bx + dx] -> [o, (dy, dx, c), by, bx], the kernel padded to whole blocks
    weights = first.weights[:, ::-1] * np.float32(INPUT_SCALE)
    filters, _, kernel_h, kernel_w = weights.shape
    block_h, block_w = -(-kernel_h // step), -(-kernel_w // step)
    padded = np.zeros((filters, 3, block_h * step, block_w * step), np.float32)
    padded[:, :, :kernel_h, :kernel_w] = weights
    blocked = padded.reshape(filters, 3, block_h, step, block_w, step).transpose(0, 3, 5, 1, 2, 4)
    blocked = blocked.reshape(filters, 3 * step * step, block_h, block_w)
    stride = (1, 1) if step > 1 else first.stride
    return current, Conv(blocked, first.bias, stride, first.padding)


def _pool_shape(graph: _Graph, source: str, pool: Pool) -> tuple[int, int, int]:
    channels, height, width = graph.shapes[source]
    return (
        channels,
        _pooled(height, pool.window[0], pool.stride[0], pool.padding[0]),
        _pooled(width, pool.window[1], pool.stride[1], pool.padding[1]),
    )


def _pool(graph: _Graph, source: str, pool: Pool, name: str) -> str:
    if pool.is_global:
        if pool.kind != "avg":
            raise DlibFormatError(f"{name}: global {pool.kind} pooling is not supported")
        return graph.node("GlobalAveragePool", [source], name, (graph.shapes[source][0], 1, 1))
    shape = _pool_shape(graph, source, pool)
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


def _residual(graph: _Graph, block_output: str, block_input: str, pool: tuple[Pool, str] | None, name: str) -> str:
    """The block's output plus its input (average-pooled by ``pool``, a pool layer and its name, in a
    down-sampling block), both zero-padded at the end to the larger shape."""
    (c1, h1, w1) = graph.shapes[block_output]
    (c2, h2, w2) = _pool_shape(graph, block_input, pool[0]) if pool is not None else graph.shapes[block_input]
    shape = (max(c1, c2), max(h1, h2), max(w1, w2))
    left = _padded(graph, block_output, shape, f"{name}.pad_block")
    if pool is None:
        right = _padded(graph, block_input, shape, f"{name}.pad_shortcut")
    elif pool[0].padding == (0, 0) and (h2, w2) == shape[1:] and c2 < shape[0]:
        right = _pooled_into_channels(graph, block_input, pool[0], shape, f"{name}.pad_shortcut")
    else:
        right = _padded(graph, _pool(graph, block_input, *pool), shape, f"{name}.pad_shortcut")
    return graph.node("Add", [left, right], name, shape)


def _pooled_into_channels(graph: _Graph, source: str, pool: Pool, shape: tuple[int, int, int], name: str) -> str:
    """The average pool of ``source`` followed by zero channels up to ``shape`` as one convolution: each
    filter averages its own channel's window, the extra filters are zero. The same values; in int8 it
    replaces onnxruntime's slow average pool and a pad between dequantised values with one small convolution."""
    channels = graph.shapes[source][0]
    weights = np.zeros((shape[0], channels, *pool.window), np.float32)
    weights[np.arange(channels), np.arange(channels)] = 1.0 / (pool.window[0] * pool.window[1])
    inputs = [
        source,
        graph.constant(f"{name}.weight", weights),
        graph.constant(f"{name}.bias", np.zeros(shape[0], np.float32)),
    ]
    return graph.node(
        "Conv", inputs, name, shape, kernel_shape=list(pool.window), strides=list(pool.stride), pads=[0, 0, 0, 0]
    )


def build_graph(network: Network) -> onnx.ModelProto:
    """The ONNX model of ``network`` (see the module docstring)."""
    graph = _Graph()
    layers = list(network.layers)
    if not layers or not isinstance(layers[0], Conv):
        raise DlibFormatError("the network does not start with a convolution")
    current, layers[0] = _input(graph, network, layers[0])
    block_input: str | None = None  # where the current residual block started
    shortcut: tuple[Pool, str] | None = None  # the pool that down-samples it, in a down-sampling block
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
            shortcut = (layer, name)  # made at the add, which knows the shape it is padded to
        elif isinstance(layer, Pool):
            current = _pool(graph, current, layer, name)
            if layer.kind == "max":
                block_input = current
        elif isinstance(layer, AddPrev):
            if block_input is None:
                raise DlibFormatError(f"{name}: residual add without a block input")
            current = _residual(graph, current, block_input, shortcut, name)
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
        [helper.make_tensor_value_info(INPUT, TensorProto.UINT8, ["batch", *graph.shapes[INPUT]])],
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
