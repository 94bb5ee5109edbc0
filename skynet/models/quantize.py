"""Static int8 variants of ONNX models (QDQ, per-channel), made from calibration ranges shipped with skynet.

Static quantisation needs the range of every activation. They were measured once on real
images (``benchmarks/calibrate_int8.py`` over ``../shared/data``) and ship as small JSON files
in ``skynet/models/calibration/``, so a user's machine quantises without any data: the fp32 graph
is prepared (:func:`prepared_graph`: CenterFace gets symbolic input sizes and opset 13), goes
through onnxruntime's ``quant_pre_process`` (shape inference, graph optimisation; no symbolic
shape inference, so no sympy) and ``quantize_static`` reads the shipped ranges as its calibration
cache instead of running a calibration. The result is normalised (fixed producer, no inferred
shapes) and serialised deterministically: the same inputs and tool versions give the same bytes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data
from onnxruntime.quantization.shape_inference import quant_pre_process

from skynet.errors import ModelFileError
from skynet.models.graphs import (
    centerface_graph,
    load_onnx,
    with_named_dims,
    without_unused_weights,
)

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"
OPSET = 13  # QDQ with per-channel weights needs at least 13; CenterFace ships with opset 9
PRODUCER = "skynet int8"
PRODUCER_VERSION = "1"  # bump when the quantisation settings change (and record the new checksums)
QUANTISATION = {  # the settings every int8 variant is made with
    "quant_format": QuantFormat.QDQ,
    "per_channel": True,
    "activation_type": QuantType.QUInt8,
    "weight_type": QuantType.QInt8,
    "calibrate_method": CalibrationMethod.MinMax,
}


def int8_name(name: str) -> str:
    """``model.onnx`` -> ``model.int8.onnx``."""
    return name.removesuffix(".onnx") + ".int8.onnx"


def calibration_path(name: str) -> Path:
    """The shipped calibration ranges of model file ``name``."""
    return CALIBRATION_DIR / (name.removesuffix(".onnx") + ".json")


def prepared_graph(name: str, path: Path) -> onnx.ModelProto:
    """The fp32 graph of model file ``name`` as the detectors run it, at opset >= 13."""
    model = centerface_graph(path) if name == "centerface.onnx" else load_onnx(path)
    model = without_unused_weights(with_named_dims(model))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    if opset < OPSET:
        model = onnx.version_converter.convert_version(model, OPSET)
    return model


def preprocess(model: onnx.ModelProto, output: Path) -> None:
    """onnxruntime's ``quant_pre_process`` of ``model`` into ``output`` (through a file beside it:
    its in-memory path loses initializers)."""
    prepared = output.with_name(output.stem + ".prepared.onnx")
    onnx.save(model, str(prepared))
    quant_pre_process(prepared, output, skip_symbolic_shape=True)


def load_calibration(name: str) -> dict:
    """The shipped calibration of model file ``name``: ``{"ranges": {tensor: [low, high]}, "exclude": [node, ...],
    "op_types": [op type, ...], "weight_bits": 8 or 7}`` (empty lists: nothing excluded, every quantisable op type;
    see :func:`quantize` for the weight bits)."""
    path = calibration_path(name)
    try:
        calibration = json.loads(path.read_text(encoding="utf-8"))
        ranges = {tensor: (float(low), float(high)) for tensor, (low, high) in calibration["ranges"].items()}
        weight_bits = int(calibration.get("weight_bits", 8))
        if weight_bits not in (7, 8):
            raise ValueError(f"weight_bits is {weight_bits}, not 7 or 8")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(
            f"The calibration ranges of {name} ({path}) are missing or unreadable: {exc}",
            hint="reinstall skynet (the ranges ship with it), or set SKYNET_PRECISION=fp32",
        ) from exc
    return {
        "ranges": ranges,
        "exclude": list(calibration.get("exclude", [])),
        "op_types": list(calibration.get("op_types", [])),
        "weight_bits": weight_bits,
    }


def quantize(
    name: str,
    path: Path,
    ranges: dict[str, tuple[float, float]],
    exclude: list[str] | None = None,
    op_types: list[str] | None = None,
    weight_bits: int = 8,
) -> bytes:
    """The serialised int8 variant of model file ``name`` at ``path``, quantised with activation
    ``ranges`` (tensor -> (low, high)); only nodes of ``op_types`` (default: every type onnxruntime
    quantises) are quantised, and none in ``exclude``.

    ``weight_bits`` 7 keeps the weights within -64..64: x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) add
    pairs of uint8 x int8 products in 16 bits, which full 8-bit weights can saturate (the face embedder's TAR at
    FAR 1e-4 fell from 96.8 to 87.2 % on an AVX2 CPU); 7-bit ones cannot (2 x 255 x 64 = 32 640), so every CPU
    computes the same integers."""
    with tempfile.TemporaryDirectory(prefix="skynet-int8-") as tmp:
        work = Path(tmp)
        preprocess(prepared_graph(name, path), work / "pre.onnx")
        graph = onnx.load(str(work / "pre.onnx"), load_external_data=False)
        unknown = sorted(set(ranges) - _tensors(graph)) + sorted(set(exclude or []) - _nodes(graph))
        if unknown or not ranges:
            raise ModelFileError(
                f"The shipped calibration of {name} does not fit the graph built here "
                f"({len(unknown)} of its tensors and nodes are not in it, e.g. {unknown[:1]}): it was made "
                "with another version of the model or of onnxruntime.",
                hint="install the onnxruntime and onnx versions skynet declares, or set SKYNET_PRECISION=fp32",
            )
        cache = TensorsData(
            CalibrationMethod.MinMax,
            {t: TensorData(lowest=np.float32(low), highest=np.float32(high)) for t, (low, high) in ranges.items()},
        )
        save_tensors_data(cache, work / "ranges.json")
        quantize_static(
            work / "pre.onnx",
            work / "int8.onnx",
            calibration_data_reader=None,
            calibration_cache_path=work / "ranges.json",
            nodes_to_exclude=exclude or [],
            op_types_to_quantize=op_types or [],
            reduce_range=weight_bits == 7,
            **QUANTISATION,
        )
        model = onnx.load(str(work / "int8.onnx"))
    return _normalised(model)


def _nodes(graph: onnx.ModelProto) -> set[str]:
    return {node.name for node in graph.graph.node}


def _tensors(graph: onnx.ModelProto) -> set[str]:
    """Names of the tensors the graph computes: its inputs and every node's outputs."""
    names = {value.name for value in graph.graph.input}
    names.update(output for node in graph.graph.node for output in node.output if output)
    return names


def _normalised(model: onnx.ModelProto) -> bytes:
    """``model`` without what depends on the tool versions but not on the graph: the producer,
    inferred shapes and imports of operator sets no node uses."""
    model.producer_name = PRODUCER
    model.producer_version = PRODUCER_VERSION
    del model.graph.value_info[:]
    used = {node.domain for node in model.graph.node} | {""}
    imports = [opset for opset in model.opset_import if opset.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(imports)
    return model.SerializeToString(deterministic=True)
