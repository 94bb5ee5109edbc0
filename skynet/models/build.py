"""Files ``skynet models install`` makes from other files of a pack (see :class:`BuiltFrom`).

Every conversion is deterministic, so a built file is checked against the checksum its pack
records, like a downloaded one. The int8 conversions run onnxruntime's quantisation tools, whose
output may change with their versions: :data:`TOOLCHAIN` names the versions the checksums were
recorded with, and a mismatch names both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import onnx
import onnxruntime

from skynet.models import dlib_onnx, quantize
from skynet.models.packs import ModelFile

TOOLCHAIN = {"onnx": "1.23", "onnxruntime": "1.32"}  # major.minor the recorded checksums were made with

Recipe = Callable[[ModelFile, list[Path]], bytes]


def _dlib_onnx(model_file: ModelFile, inputs: list[Path]) -> bytes:
    return dlib_onnx.convert(inputs[0])


def _int8(model_file: ModelFile, inputs: list[Path]) -> bytes:
    source = inputs[0]
    return quantize.quantize(source.name, source, **quantize.load_calibration(source.name))


RECIPES: dict[str, Recipe] = {"dlib_onnx": _dlib_onnx, "int8": _int8}


def build(model_file: ModelFile, inputs: list[Path]) -> bytes:
    """The bytes of ``model_file`` made from its (verified) ``inputs`` by its recipe."""
    assert model_file.built is not None
    return RECIPES[model_file.built.recipe](model_file, inputs)


def toolchain_note() -> str:
    """Which tool versions the recorded checksums need and which are installed, when they differ."""
    installed = {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
    differing = [
        f"{tool} {installed[tool]} (checksums recorded with {wanted}.x)"
        for tool, wanted in TOOLCHAIN.items()
        if not installed[tool].startswith(wanted + ".")
    ]
    return "; installed: " + ", ".join(differing) if differing else ""
