"""Media (thumbnail and context JPEGs): the :class:`MediaStore` interface and its default, :class:`MediaFiles`,
files under the data directory (atomic writes, removal, orphan sweep). On a cluster that directory is shared by
every node, or media go to an S3-compatible object store instead (:mod:`skynet.store.s3_media`)."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from skynet.store.errors import InvalidSightingError, StorageFullError, StoreError

MEDIA_DIRS = ("thumbnails", "context")
_TMP_SUFFIX = ".tmp"


def check_jpeg(data: bytes, what: str) -> None:
    """Refuse anything that is not JPEG bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:3]) != b"\xff\xd8\xff":
        raise InvalidSightingError(f"{what} is not JPEG data", "encode it with cv2.imencode('.jpg', image)")


class MediaStore(Protocol):
    """Where media live. Names are ``<kind>/<2 hex>/<32 hex>.jpg`` relative paths, the same in every store; a
    sighting row names its media by them."""

    where: str  # for messages: the directory or the s3:// URL

    def write(self, kind: str, data: bytes) -> str:
        """Store ``data`` as a new ``kind`` medium (whole or not at all); returns its name."""

    def sync_dirs(self, relatives: Iterable[str]) -> None:
        """Make the writes of ``relatives`` durable before their rows commit."""

    def remove(self, relatives: Iterable[str]) -> int:
        """Delete media (missing ones are fine); returns how many were deleted."""

    def exists(self, relative: str) -> bool:
        """Whether the media name ``relative`` (checked: :func:`check_name`) names stored media."""

    def read(self, relative: str | None) -> bytes | None:
        """The bytes ``relative`` names; None when it is empty, not a media name, or names nothing."""

    def sweep_orphans(self, referenced: set[str]) -> int:
        """Delete media no row references (left by a crash between write and commit); returns how many."""


def check_name(relative: str) -> None:
    """Refuse a media name outside the media directories (absolute, ``..``, another directory)."""
    parts = Path(relative).parts
    if len(parts) < 2 or parts[0] not in MEDIA_DIRS or ".." in parts or Path(relative).is_absolute():
        raise InvalidSightingError(f"media path {relative!r} is not inside {' or '.join(MEDIA_DIRS)}/")


def new_name(kind: str) -> str:
    """A fresh media name: a random id fanned out into 256 sub-directories of ``kind``."""
    name = uuid.uuid4().hex
    return f"{kind}/{name[:2]}/{name}.jpg"


class MediaFiles:
    """JPEG files named by random ids, fanned out into 256 sub-directories of each media directory."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir
        self.where = str(data_dir)

    def write(self, kind: str, data: bytes) -> str:
        """Write ``data`` atomically (temp file, fsync, rename); returns the path relative to the root."""
        relative = new_name(kind)
        target = self.root / relative
        tmp = target.with_name(target.name + _TMP_SUFFIX)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as error:
            tmp.unlink(missing_ok=True)
            raise storage_error(error, f"writing {relative}") from error
        return relative

    def sync_dirs(self, relatives: Iterable[str]) -> None:
        """fsync the directories holding ``relatives`` so their renames survive a power cut."""
        for directory in {(self.root / r).parent for r in relatives}:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def remove(self, relatives: Iterable[str]) -> int:
        """Delete files (missing ones are fine); returns how many were deleted."""
        removed = 0
        for relative in relatives:
            try:
                (self.root / relative).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def exists(self, relative: str) -> bool:
        """Whether ``relative`` is a media path (inside a media directory) naming an existing file."""
        check_name(relative)
        return (self.root / relative).is_file()

    def read(self, relative: str | None) -> bytes | None:
        """The file ``relative`` names under the root, never outside it (no ``..``, no absolute paths, no
        symbolic links leading out); None if there is none."""
        if not relative:
            return None
        root = self.root.resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        try:
            return target.read_bytes()
        except OSError:  # deleted since (retention)
            return None

    def sweep_orphans(self, referenced: set[str]) -> int:
        """Delete temp files and JPEGs no row references (left by a crash between write and commit)."""
        removed = 0
        for kind in MEDIA_DIRS:
            base = self.root / kind
            if not base.is_dir():
                continue
            for path in base.glob("*/*"):
                relative = path.relative_to(self.root).as_posix()
                if path.name.endswith(_TMP_SUFFIX) or relative not in referenced:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


def storage_error(error: OSError, doing: str) -> StoreError:
    """A full disk becomes :class:`StorageFullError`; any other OS error a plain :class:`StoreError`."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFullError(
            f"disk full while {doing}; nothing of this write was kept",
            "free space in the data directory or run: skynet retention --older-than 30d",
        )
    return StoreError(f"I/O error while {doing}: {error.strerror or error}")
