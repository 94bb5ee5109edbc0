"""The data directory is private to the account Skynet runs as: files 0600, directories 0700.

It holds camera passwords, password hashes, face embeddings, watch-list photos and thumbnails of people.
Every ``skynet`` command sets the umask 077 (:func:`use_private_umask`), so whatever it creates is private;
a data directory made by an older version or another tool (or opened by a library user with a looser
umask) is tightened when a store opens it (:func:`make_private`). Model weights are public files: the
default model directory inside the data directory is left as it is.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
OPEN_BITS = 0o077  # group and others
MODELS_DIR_NAME = "models"  # the default model directory, <data dir>/models


def use_private_umask() -> None:
    """Files and directories this process creates from now on are readable by its own user only."""
    os.umask(PRIVATE_UMASK)


def make_private(data_dir: Path) -> int:
    """Take every group and other permission away from ``data_dir`` and what it holds (except the default
    model directory); returns how many modes were changed. Only when the directory or one of its entries
    is open to others is the whole tree walked: a private directory keeps the rest out, so each open costs
    a few ``stat`` calls, not one per thumbnail."""
    data_dir = Path(data_dir)
    if not _open_to_others(data_dir):
        return 0
    changed, failed = 0, []
    for folder, dirs, files in os.walk(data_dir):  # enters every directory, follows no symbolic link
        if Path(folder) == data_dir and MODELS_DIR_NAME in dirs:
            dirs.remove(MODELS_DIR_NAME)
        for path in [Path(folder), *(Path(folder) / name for name in files)]:
            try:
                changed += _close(path)
            except OSError as error:
                failed.append(f"{path} ({error.strerror or error})")
    if changed:
        log.warning(
            "data directory %s was open to other users: made %d files and directories private", data_dir, changed
        )
    if failed:
        log.warning("data directory %s: could not make private: %s", data_dir, "; ".join(failed[:5]))
    return changed


def _open_to_others(data_dir: Path) -> bool:
    """The directory, or any entry directly in it (the model directory aside), has group or other bits."""
    try:
        if stat.S_IMODE(data_dir.lstat().st_mode) & OPEN_BITS:
            return True
        with os.scandir(data_dir) as entries:
            return any(
                entry.name != MODELS_DIR_NAME
                and not entry.is_symlink()
                and stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode) & OPEN_BITS
                for entry in entries
            )
    except FileNotFoundError:
        return False


def _close(path: Path) -> int:
    """Remove group and other bits from ``path`` (never following a symbolic link); 1 when it changed."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & OPEN_BITS:
        return 0
    os.chmod(path, stat.S_IMODE(mode) & ~OPEN_BITS)
    return 1
