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
    monkeypatch.setattr(runtime, "provider_starts", lambda provider: True)  # a GPU machine with its libraries
    assert runtime.resolve_providers(["auto"]) == expected


@pytest.fixture
def gpu_build_without_gpu(monkeypatch):
    """onnxruntime-gpu on a machine where CUDA cannot start: it lists the GPU providers, and a session asked for
    them runs on the CPU (this CPU build does exactly that with the providers it lacks); nothing to preload."""
    monkeypatch.setattr(
        runtime.ort,
        "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    monkeypatch.setattr(runtime, "_load_gpu_libraries", lambda: None)
    runtime.provider_starts.cache_clear()
    yield
    runtime.provider_starts.cache_clear()


def test_a_gpu_provider_that_cannot_start_is_left_out_of_auto_and_said_once(gpu_build_without_gpu, caplog):
    with pytest.warns(UserWarning):  # onnxruntime's own note on the provider it cannot use
        assert runtime.resolve_providers(["auto"]) == ["CPUExecutionProvider"]
        assert runtime.runs_int8("auto", ["auto"])  # so the CPU runs the int8 models, not fp32
    warnings = [r.getMessage() for r in caplog.records if r.name == "skynet.detectors.runtime"]
    assert len(warnings) == 2 and all("could not start" in w and "onnxruntime-gpu[cuda,cudnn]" in w for w in warnings)
    caplog.clear()
    runtime.resolve_providers(["auto"])  # probed once per process
    assert not caplog.records


def test_a_gpu_provider_asked_for_by_name_that_cannot_start_stops_with_the_fix(gpu_build_without_gpu):
    with pytest.warns(UserWarning), pytest.raises(ConfigError, match="installed but could not start") as error:
        runtime.resolve_providers(["CUDAExecutionProvider"])
    assert "onnxruntime-gpu[cuda,cudnn]==" in error.value.hint and '["auto"]' in error.value.hint


def test_the_probe_runs_a_real_session_which_the_cpu_provider_starts(monkeypatch):
    """The probe builds a real one-node graph and reads the providers its session really got."""
    monkeypatch.setattr(runtime, "_load_gpu_libraries", lambda: None)
    runtime.provider_starts.cache_clear()
    try:
        assert runtime.provider_starts("CPUExecutionProvider")
    finally:
        runtime.provider_starts.cache_clear()


def test_a_provider_this_build_lacks_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ConfigError, match="CUDAExecutionProvider") as error:
        runtime.resolve_providers(["CUDAExecutionProvider"])
    assert "auto" in error.value.hint
