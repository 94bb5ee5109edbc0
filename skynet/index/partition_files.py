"""A partitioned face index on disk.

``index.json`` (dimension, model, partition span, camera codes, watermark, the partitions it holds) and one
directory per partition, ``p<key>/``: ``rows.npz`` (ids, times, cameras, alive flags, generation),
``vectors-<generation>.f32`` (exact vectors, appended as rows come) and, for an IVF partition,
``ivf-<generation>.faiss``. Metadata files are written to a temp file and renamed, so a crash leaves
the old or the new one; vectors appended after the last save are cut off at load (the store catches
the index up). A partition that cannot be read raises :class:`PartitionError`: it is rebuilt from the store.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from skynet.index.face_partition import Partition, Rows, Tuning, new_index, span_text
from skynet.index.row_selection import ordered_prefix
from skynet.index.vector_file import VectorFile, VectorFileError
from skynet.store.media import storage_error

log = logging.getLogger(__name__)

INDEX_META = "index.json"
ROWS_FILE = "rows.npz"
FORMAT = "partitioned-1"
LEGACY_FILES = ("faces.npz", "faces-*.hnsw")  # the single-file index of earlier versions


class PartitionError(Exception):
    """A partition's files are missing, short or unreadable."""


@dataclass(frozen=True, slots=True)
class IndexMeta:
    """What ``index.json`` holds."""

    dim: int
    model: str | None
    partition_s: float
    cameras: list[str]  # camera id of each camera code
    watermark: int
    partitions: list[int]  # keys


def partition_dir(directory: Path, key: int) -> Path:
    return directory / f"p{key}"


def read_meta(directory: Path) -> IndexMeta | None:
    """``index.json`` of ``directory``, or None when there is none or it is unreadable."""
    _remove_dead_temp_files(directory)
    path = directory / INDEX_META
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
        if meta.get("format") != FORMAT:
            return None
        return IndexMeta(
            int(meta["dim"]),
            meta.get("model"),
            float(meta["partition_s"]),
            list(meta["cameras"]),
            int(meta["watermark"]),
            [int(k) for k in meta["partitions"]],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_meta(directory: Path, meta: IndexMeta) -> None:
    text = json.dumps(
        {
            "format": FORMAT,
            "dim": meta.dim,
            "model": meta.model,
            "partition_s": meta.partition_s,
            "cameras": meta.cameras,
            "watermark": meta.watermark,
            "partitions": meta.partitions,
        }
    )
    atomic_write(directory / INDEX_META, lambda tmp: tmp.write_text(text))


@dataclass(frozen=True, slots=True)
class SavedIndex:
    """A saved index as loaded: its metadata, the partitions read, the keys of those that could not be."""

    meta: IndexMeta
    parts: dict[int, Partition]
    broken: list[int]


def load_saved(directory: Path, dim: int | None, model: str | None, span_s: float, tuning: Tuning) -> SavedIndex | None:
    """The index saved in ``directory`` if it holds ``dim``-d vectors of ``model`` in partitions of ``span_s``
    (None: any); else None, its files removed (the store rebuilds it). A partition that cannot be read is
    logged and removed, and its key listed as broken."""
    meta = read_meta(directory)
    usable = (
        meta is not None
        and (dim is None or meta.dim == dim)
        and (model is None or meta.model in (None, model))
        and meta.partition_s == span_s
    )
    if meta is None or not usable:
        if remove_legacy_files(directory):
            log.info(
                "face index: %s holds an index of the single-file format; rebuilding it from the store, "
                "partitioned by time",
                directory,
            )
        elif meta is not None:
            log.warning(
                "face index: %s holds %s-d %s vectors in %s s partitions, not what is asked; rebuilding "
                "it from the store",
                directory,
                meta.dim,
                meta.model,
                meta.partition_s,
            )
        remove_partition_dirs(directory)
        return None
    parts, broken = {}, []
    for key in meta.partitions:
        try:
            parts[key] = load_partition(directory, key, span_s, meta.dim, tuning)
        except PartitionError as error:
            log.warning(
                "face index %s: partition %s is missing or corrupt (%s); rebuilding it from the store "
                "in the background, searches over that time range are partial until then",
                directory,
                span_text(key * span_s, (key + 1) * span_s),
                error,
            )
            shutil.rmtree(partition_dir(directory, key), ignore_errors=True)
            broken.append(key)
    remove_partition_dirs(directory, keep=set(parts))
    return SavedIndex(meta, parts, broken)


def remove_legacy_files(directory: Path) -> bool:
    """Delete an index of the single-file format; returns whether there was one."""
    found = [path for pattern in LEGACY_FILES for path in directory.glob(pattern)]
    for path in found:
        path.unlink(missing_ok=True)
    return bool(found)


def new_partition(directory: Path, key: int, span_s: float, dim: int) -> Partition:
    """An empty partition (generation 1, an exact flat index) in a fresh directory."""
    path = partition_dir(directory, key)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    vectors = VectorFile(path / "vectors-1.f32", dim)
    return Partition(path, key, span_s, 1, Rows.empty(), vectors, faiss.IndexFlatIP(dim))


def save_partition(part: Partition) -> None:
    """Write ``part``'s rows (and its IVF index, when many rows were added since it was saved)."""
    with part.lock.reading():  # adds wait; the snapshot below is consistent with the files
        rows, n = part.rows, part.rows.n
        part.vectors.sync()
        gap = n - part.saved_index_rows
        if part.ivf and (not part.saved_index_rows or gap > max(100_000, part.saved_index_rows // 2)):
            atomic_write(part.ivf_path(), lambda tmp: faiss.write_index(part.index, str(tmp)))
            part.saved_index_rows = n
        meta = {
            "key": part.key,
            "generation": part.generation,
            "trained_rows": part.trained_rows,
            "index_rows": part.saved_index_rows,
        }
        arrays = {name: getattr(rows, name)[:n].copy() for name in ("ids", "times", "cams", "alive")}
        part.dirty = False

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)

    atomic_write(part.directory / ROWS_FILE, write)


def load_partition(directory: Path, key: int, span_s: float, dim: int, tuning: Tuning) -> Partition:
    """Partition ``key`` as saved; raises :class:`PartitionError` when it cannot be used."""
    path = partition_dir(directory, key)
    try:
        with np.load(path / ROWS_FILE, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            rows = Rows(data["ids"].copy(), data["times"].copy(), data["cams"].copy(), data["alive"].copy())
        rows.n, rows.ordered = len(rows.ids), ordered_prefix(rows.times)
        if not len(rows.times) == len(rows.cams) == len(rows.alive) == rows.n or int(meta["key"]) != key:
            raise PartitionError("its row arrays disagree")
        generation = int(meta["generation"])
        vectors = VectorFile(path / f"vectors-{generation}.f32", dim, rows.n)
        part = Partition(path, key, span_s, generation, rows, vectors, faiss.IndexFlatIP(dim))
        part.trained_rows, part.saved_index_rows = int(meta["trained_rows"]), int(meta["index_rows"])
        if part.ivf and part.saved_index_rows:
            part.index = faiss.read_index(str(part.ivf_path()))
            if part.index.ntotal != part.saved_index_rows or part.saved_index_rows > rows.n or part.index.d != dim:
                raise PartitionError(
                    f"{part.ivf_path().name} holds {part.index.ntotal} rows, not {part.saved_index_rows}"
                )
            for lo in range(part.saved_index_rows, rows.n, 65_536):
                hi = min(rows.n, lo + 65_536)
                part.index.add_with_ids(vectors.block(lo, hi), np.arange(lo, hi, dtype=np.int64))
        else:
            part.index, part.trained_rows = new_index(vectors, rows.n, Tuning(ivf_rows=rows.n + 1))
            part.saved_index_rows = 0
        part.dead = int(rows.n - np.count_nonzero(rows.alive))
        part.dirty = False
    except PartitionError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, VectorFileError) as error:
        raise PartitionError(str(error) or type(error).__name__) from error
    remove_other_generations(part)
    return part


def saved_counts(directory: Path, key: int) -> tuple[int, int, bool]:
    """(rows, deleted rows, whether IVF) of partition ``key`` as saved; zeros when unreadable."""
    try:
        with np.load(partition_dir(directory, key) / ROWS_FILE, allow_pickle=False) as data:
            alive = data["alive"]
            return (
                len(alive),
                int(len(alive) - np.count_nonzero(alive)),
                json.loads(str(data["meta"]))["trained_rows"] > 0,
            )
    except (OSError, ValueError, KeyError):
        return 0, 0, False


def remove_other_generations(part: Partition) -> None:
    """Delete the vector and index files of every generation of ``part`` but its own."""
    keep = {part.vectors.path.name, part.ivf_path().name}
    for pattern in ("vectors-*.f32", "ivf-*.faiss"):
        for path in part.directory.glob(pattern):
            if path.name not in keep:
                path.unlink(missing_ok=True)


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp)``, fsync, then rename ``tmp`` over ``path`` (and fsync the directory)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise storage_error(error, f"writing {path.name}") from error


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_dead_temp_files(directory: Path) -> None:
    """Temp files carry their writer's pid; those of dead writers are left-overs of a crash."""
    for stale in directory.glob("**/*.tmp"):
        pid = stale.suffixes[-2][1:] if len(stale.suffixes) > 1 else ""
        if not _pid_alive(pid):
            stale.unlink(missing_ok=True)


def _pid_alive(text: str) -> bool:
    if not text.isdigit():
        return False
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class IndexStatus:
    vectors: int
    deleted_rows: int
    watermark: int
    approximate_rows: int  # rows in partitions searched through compressed codes
    building: bool
    dim: int | None
    model: str | None = None
    partitions: int = 0
    incomplete: tuple[tuple[float, float], ...] = ()


def saved_status(directory: Path) -> IndexStatus:
    """The status of the index saved in ``directory``, read without opening it (the files of a running service
    are left alone)."""
    meta = read_meta(Path(directory))
    if meta is None:
        return IndexStatus(0, 0, 0, 0, False, None)
    counts = [saved_counts(Path(directory), key) for key in meta.partitions]
    vectors = sum(n - dead for n, dead, _ in counts)
    approximate = sum(n - dead for n, dead, ivf in counts if ivf)
    dead = sum(dead for _, dead, _ in counts)
    return IndexStatus(vectors, dead, meta.watermark, approximate, False, meta.dim, meta.model, len(counts))


def remove_partition_dirs(directory: Path, keep: Collection[int] = ()) -> None:
    """Remove the partition directories of ``directory`` but those of partitions ``keep``."""
    for path in directory.glob("p*"):
        if path.is_dir() and path.name not in {f"p{key}" for key in keep}:
            shutil.rmtree(path, ignore_errors=True)
