"""Where re-index jobs may read: the archive roots an admin configures (``SKYNET_ARCHIVE_ROOTS``) and the
data directory's ``archive/``. A path is judged after its symbolic links are resolved; one outside every
root gets the same answer whether or not it exists, so the check tells nothing about the rest of the server,
and no file outside is ever opened (``/proc``, ``/sys`` and ``/dev`` never count as inside, whatever a root
says)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from skynet.config import Settings
from skynet.errors import ForbiddenError

NEVER = (Path("/proc"), Path("/sys"), Path("/dev"))
"""Kernel and device file systems: never archive files."""


class OutsideArchiveRootsError(ForbiddenError):
    """A path no re-index job may read."""


class ArchiveRoots:
    """The directories (symbolic links resolved) whose files re-index jobs may read."""

    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = tuple(dict.fromkeys(Path(os.path.realpath(r)) for r in roots))

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveRoots:
        return cls([settings.archive_dir, *settings.archive_roots])

    def contains(self, path: Path) -> bool:
        """Whether ``path`` (absolute, links resolved) lies inside a root."""
        if any(path == never or path.is_relative_to(never) for never in NEVER):
            return False
        return any(path.is_relative_to(root) for root in self.roots)

    def resolve(self, given: str) -> Path:
        """``given`` with its symbolic links resolved, if it is an absolute path inside a root; else
        :class:`OutsideArchiveRootsError`, the same for a path that exists and one that does not."""
        path = Path(given)
        resolved = Path(os.path.realpath(path)) if path.is_absolute() and "\x00" not in given else None
        if resolved is None or not self.contains(resolved):
            raise OutsideArchiveRootsError(
                f"{given!r} is not inside an archive root",
                f"re-index jobs read only under {self.describe()}; an admin adds roots with SKYNET_ARCHIVE_ROOTS",
            )
        return resolved

    def resolve_all(self, given: Sequence[str]) -> list[Path]:
        """Every path of ``given`` resolved (:meth:`resolve`); the first refused raises."""
        return [self.resolve(p) for p in given]

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots)
