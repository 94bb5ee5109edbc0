"""Thumbnail and context JPEG files under the data directory: atomic writes, removal, orphan sweep."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from skynet.store.errors import InvalidSightingError, StorageFullError, StoreError

MEDIA_DIRS = ("thumbnails", "context")
_TMP_SUFFIX = ".tmp"


def check_jpeg(data: bytes, what: str) -> None:
    """Refuse anything that is not JPEG bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:3]) != b"\xff\xd8\xff":
        raise InvalidSightingError(f"{what} is not JPEG data", "encode it with cv2.imencode('.jpg', image)")


class MediaFiles:
    """JPEG files named by random ids, fanned out into 256 sub-directories of each media directory."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir

    def write(self, kind: str, data: bytes) -> str:
        """Write ``data`` atomically (temp file, fsync, rename); returns the path relative to the root."""
        name = uuid.uuid4().hex
        relative = f"{kind}/{name[:2]}/{name}.jpg"
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
        parts = Path(relative).parts
        if len(parts) < 2 or parts[0] not in MEDIA_DIRS or ".." in parts or Path(relative).is_absolute():
            raise InvalidSightingError(f"media path {relative!r} is not inside {' or '.join(MEDIA_DIRS)}/")
        return (self.root / relative).is_file()

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
