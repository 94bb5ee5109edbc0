"""Secret key files in the data directory (``0600``), written once and never changed."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def create_secret_file(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless the file exists; whether it was written now. Written in full to a
    temporary file, then linked into place, so a reader never sees half a key and two processes never make two.
    OSError when it cannot be written."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
            created = True
        except FileExistsError:
            created = False  # another process made it first
        sync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)
    return created


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
