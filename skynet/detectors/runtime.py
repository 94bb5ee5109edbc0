"""onnxruntime sessions with configurable execution providers and thread counts."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import onnxruntime as ort

from skynet.errors import ConfigError, ModelFileError

CPU = "CPUExecutionProvider"
_AUTO_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", CPU)
_GPU_NEEDS = (
    "onnxruntime-gpu {version} needs an NVIDIA GPU with a driver recent enough for the CUDA it was built with, and "
    "that CUDA's and cuDNN's libraries: pip install 'onnxruntime-gpu[cuda,cudnn]=={version}' brings them as wheels "
    "(skynet[gpu] does); TensorRT also needs TensorRT's own libraries"
)

ort.set_default_logger_severity(3)
log = logging.getLogger(__name__)


def resolve_providers(requested: list[str]) -> list[str]:
    """Concrete providers for ``requested``; ``auto`` expands to the fastest ones that start here."""
    available = ort.get_available_providers()
    resolved: list[str] = []
    for name in requested:
        if name == "auto":
            resolved.extend(p for p in _AUTO_ORDER if p in available and (p == CPU or provider_starts(p)))
        elif name in available:
            if name != CPU and not provider_starts(name):
                raise ConfigError(
                    f"Execution provider {name} is installed but could not start on this machine.",
                    hint=_GPU_NEEDS.format(version=ort.__version__)
                    + "; or set SKYNET_EXECUTION_PROVIDERS='[\"auto\"]'",
                )
            resolved.append(name)
        else:
            raise ConfigError(
                f"Execution provider {name!r} is not available in this onnxruntime build.",
                hint=f"available: {', '.join(available)}; or use 'auto'",
            )
    if CPU not in resolved:
        resolved.append(CPU)
    return list(dict.fromkeys(resolved))


@functools.cache
def provider_starts(provider: str) -> bool:
    """Whether onnxruntime can run a graph on ``provider`` here. onnxruntime-gpu lists its CUDA and TensorRT
    providers whether or not their libraries load and a GPU is there, and a session whose provider fails runs on
    the CPU instead: one tiny session per provider and process tells them apart (and says so once when it fails).
    The CUDA and cuDNN libraries of NVIDIA's wheels (``skynet[gpu]``) are loaded first: they are not on the
    loader's path."""
    _load_gpu_libraries()
    session = ort.InferenceSession(_identity_graph(), providers=list(dict.fromkeys([provider, CPU])))
    if provider in session.get_providers():
        return True
    log.warning(
        "onnxruntime lists %s but it could not start (its libraries did not load, or no GPU answered): "
        "'auto' leaves it out. %s",
        provider,
        _GPU_NEEDS.format(version=ort.__version__),
    )
    return False


@functools.cache
def _load_gpu_libraries() -> None:
    """onnxruntime-gpu's ``preload_dlls``: CUDA and cuDNN from NVIDIA's wheels, else from the system's paths."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        preload()


def _identity_graph() -> bytes:
    """A one-node ONNX graph (float Identity) to try a provider with."""
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [value], [output])
    return helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def runs_int8(precision: str, providers: list[str]) -> bool:
    """Whether models run as their int8 variants: ``precision`` 'int8', or 'auto' with the CPU as the
    only provider (QDQ int8 graphs are made for the CPU's integer instructions)."""
    if precision == "auto":
        return resolve_providers(providers) == [CPU]
    return precision == "int8"


def create_session(
    model: Path | bytes, providers: list[str], intra_op_threads: int = 0, name: str | None = None
) -> ort.InferenceSession:
    """An inference session for ``model`` (a path, or serialized bytes of a patched graph)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads sleep instead of spinning: many cameras share few cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(source, sess_options=options, providers=resolve_providers(providers))
    except ConfigError:
        raise
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        label = name or (model.name if isinstance(model, Path) else "model")
        raise ModelFileError(f"Model {label} could not be loaded by onnxruntime: {exc}") from exc
