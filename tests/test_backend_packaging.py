"""Packaging of the optional back-ends: extras, no PyTorch or Ray by default, automatic GPU providers."""

from __future__ import annotations

import re
from importlib import metadata

import pytest

from skynet.detectors import runtime
from skynet.errors import ConfigError

HEAVY = {"torch", "torchvision", "ultralytics", "easyocr", "ray"}  # ray: only with the cluster extra


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _default_requirements(dist: str) -> list[str]:
    """Requirements of installed distribution ``dist`` that no extra guards."""
    return [r for r in metadata.requires(dist) or [] if "extra ==" not in r]


def test_extras_name_the_optional_backends():
    extras = metadata.metadata("skynet").get_all("Provides-Extra")
    assert {"insightface", "yolo", "easyocr", "gpu", "cluster"} <= set(extras)
    by_extra = {}
    for requirement in metadata.requires("skynet"):
        match = re.search(r'extra == "([^"]+)"', requirement)
        if match:
            by_extra.setdefault(match.group(1), set()).add(_name(requirement))
    assert by_extra["yolo"] == {"ultralytics"} and by_extra["easyocr"] == {"easyocr"}
    assert by_extra["gpu"] == {"onnxruntime-gpu"} and by_extra["cluster"] == {"ray"}


def test_the_default_install_pulls_no_torch_and_no_ray():
    """Walks the installed default requirements of skynet, transitively."""
    seen, todo = set(), [_name(r) for r in _default_requirements("skynet")]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += [_name(r) for r in _default_requirements(name)]
        except metadata.PackageNotFoundError:
            continue  # an environment marker excluded it here
    assert "onnxruntime" in seen and not (seen & HEAVY)


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        (["CPUExecutionProvider"], ["CPUExecutionProvider"]),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]),
        (
            ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider", "AzureExecutionProvider"],
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
    ],
)
def test_auto_picks_tensorrt_then_cuda_then_cpu(monkeypatch, available, expected):
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: available)
    assert runtime.resolve_providers(["auto"]) == expected


def test_a_provider_this_build_lacks_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ConfigError, match="CUDAExecutionProvider") as error:
        runtime.resolve_providers(["CUDAExecutionProvider"])
    assert "auto" in error.value.hint
