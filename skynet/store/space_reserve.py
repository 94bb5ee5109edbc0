"""Room kept in the data directory so that deleting sightings works on a full disk.

SQLite writes a deletion to its write-ahead log before any space comes back, so on a full disk retention would
fail like any other write. The reserve is a file of allocated blocks next to the database (``skynet.db.reserve``):
created at open, deleted when a deletion finds the disk full (the deletion then goes ahead in its room), and
created again after a deletion once there is room for it twice over. Only deletions use it: ingestion fails with
a full disk while the reserve is still there.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_RESERVE_BYTES = 8 * 1024 * 1024  # two 5 000-sighting deletion steps (3.6 MiB of log each), then the log is reused
_FILESYSTEM_SHARE = 16  # at most this fraction of the filesystem: a small disk keeps most of its room


class SpaceReserve:
    """The reserve file ``path``: :data:`MAX_RESERVE_BYTES`, or a sixteenth of its filesystem if that is less."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        filesystem = os.statvfs(self.path.parent)
        self.size = min(MAX_RESERVE_BYTES, filesystem.f_blocks * filesystem.f_frsize // _FILESYSTEM_SHARE)

    def keep(self) -> bool:
        """Make sure the reserve is there; False when it is not and the disk has no room for it twice over (or the
        directory cannot be written)."""
        try:
            if self.path.exists() and self.path.stat().st_blocks * 512 >= self.size:
                return True
            filesystem = os.statvfs(self.path.parent)
            if filesystem.f_bavail * filesystem.f_frsize < 2 * self.size:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)  # real blocks (glibc writes them where fallocate is missing)
            finally:
                os.close(fd)
        except OSError:
            self.release()
            return False
        return True

    def release(self) -> bool:
        """Delete the reserve file; whether there was one to delete."""
        try:
            self.path.unlink()
        except OSError:
            return False
        return True
