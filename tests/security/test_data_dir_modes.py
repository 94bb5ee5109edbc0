"""Probe 12: the data directory (camera passwords, password hashes, embeddings, watch-list photos, thumbnails of
people) is private to the account Skynet runs as: every file 0600, every directory 0700, whatever the umask
it was started with, and a data directory left open by an older version is closed when a store opens it."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from waiting import wait_for

from skynet.index.catalog import Catalog
from skynet.private_files import MODELS_DIR_NAME


@contextlib.contextmanager
def open_umask() -> Iterator[None]:
    """Run with the common umask 022 (files 0644, directories 0755), as Skynet is often started."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path, skip: str | None = None) -> dict[str, str]:
    """Every path under ``root`` (``root`` itself as '.') with its permission bits in octal."""
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for folder, dirs, files in os.walk(root):
        if skip in dirs and Path(folder) == root:
            dirs.remove(skip)
        for name in [*dirs, *files]:
            path = Path(folder) / name
            found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def assert_private(root: Path, skip: str | None = None) -> dict[str, str]:
    found = modes(root, skip)
    open_paths = {p: m for p, m in found.items() if m != ("0o700" if p == "." or (root / p).is_dir() else "0o600")}
    assert not open_paths, f"not private: {open_paths}"
    return found


@pytest.mark.models
@pytest.mark.slow
def test_everything_skynet_serve_writes_is_private(start_service):
    with open_umask():
        service = start_service()  # the demo camera: plate sightings with thumbnails and context frames
    data = service.data_dir
    wait_for(lambda: any((data / "thumbnails").glob("*/*.jpg")), 120, "a sighting's thumbnail", interval_s=1)
    wait_for(lambda: any((data / "context").glob("*/*.jpg")), 30, "a sighting's context frame", interval_s=1)
    found = assert_private(data)
    assert {"skynet.db", "skynet.db-wal", "skynet.db-shm", "demo/street.avi"} <= set(found), sorted(found)
    assert any(p.startswith("index/") for p in found), sorted(found)


def test_cli_commands_create_private_files(tmp_path):
    data = tmp_path / "data"
    with open_umask():
        subprocess.run(
            [sys.executable, "-m", "skynet", "users", "create-admin", "chief", "--data-dir", str(data)],
            check=True,
            capture_output=True,
        )
    assert "skynet.db" in assert_private(data)


def test_a_data_directory_left_open_is_made_private_when_a_store_opens_it(tmp_path):
    data = tmp_path / "data"
    with open_umask():
        with Catalog.open(data):
            pass
        for path in [data, *data.rglob("*")]:  # as an older version left it
            path.chmod(0o755 if path.is_dir() else 0o644)
        (data / "demo").mkdir()
        (data / "demo" / "street.avi").write_bytes(b"RIFF")
        (data / MODELS_DIR_NAME).mkdir()
        (data / MODELS_DIR_NAME / "public.onnx").write_bytes(b"weights")
        assert modes(data)["skynet.db"] == "0o644"
        with Catalog.open(data):
            pass
    found = assert_private(data, skip=MODELS_DIR_NAME)
    assert {"skynet.db", "demo/street.avi"} <= set(found)
    assert modes(data)[f"{MODELS_DIR_NAME}/public.onnx"] == "0o644"  # public weights keep their mode
