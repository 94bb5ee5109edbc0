"""onnxruntime sessions with configurable execution providers and thread counts."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from skynet.errors import ConfigError, ModelFileError

_AUTO_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")

ort.set_default_logger_severity(3)


def resolve_providers(requested: list[str]) -> list[str]:
    """Concrete providers for ``requested``; ``auto`` expands to the fastest ones available."""
    available = ort.get_available_providers()
    resolved: list[str] = []
    for name in requested:
        if name == "auto":
            resolved.extend(p for p in _AUTO_ORDER if p in available)
        elif name in available:
            resolved.append(name)
        else:
            raise ConfigError(
                f"Execution provider {name!r} is not available in this onnxruntime build.",
                hint=f"available: {', '.join(available)}; or use 'auto'",
            )
    if "CPUExecutionProvider" not in resolved:
        resolved.append("CPUExecutionProvider")
    return list(dict.fromkeys(resolved))


def runs_int8(precision: str, providers: list[str]) -> bool:
    """Whether models run as their int8 variants: ``precision`` 'int8', or 'auto' with the CPU as the
    only provider (QDQ int8 graphs are made for the CPU's integer instructions)."""
    if precision == "auto":
        return resolve_providers(providers) == ["CPUExecutionProvider"]
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
