"""The face index on disk: one ``faces.npz`` (rows, alive flags, watermark, graph generation) and
``faces-<generation>.hnsw``, each written to a temp file and renamed, so a crash leaves the old or the
new file; temp files of dead writers are removed when an index is read."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from skynet.index.face_rows import FaceGraph, FaceRows
from skynet.store.media import storage_error

log = logging.getLogger(__name__)

INDEX_FILE = "faces.npz"


@dataclass(frozen=True, slots=True)
class SavedIndex:
    """What an index file holds."""

    dim: int
    model: str | None
    rows: FaceRows
    graph: FaceGraph | None
    cameras: list[str]  # camera id of each camera code
    watermark: int


def read_index(directory: Path, dim: int | None, model: str | None) -> SavedIndex | None:
    """The index saved in ``directory``, or None when there is none or it cannot be used (unreadable, or
    of another dimension than ``dim`` or model than ``model``, when given): it is rebuilt then."""
    for stale in directory.glob("*.tmp"):
        if not _pid_alive(stale.suffixes[-2][1:] if len(stale.suffixes) > 1 else ""):
            stale.unlink(missing_ok=True)
    path = directory / INDEX_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            saved_dim = int(meta["dim"])
            if dim is not None and saved_dim != dim:
                log.warning("face index: file has %d-d vectors, store %d-d; rebuilding", saved_dim, dim)
                return None
            if model is not None and meta.get("model", model) != model:
                log.warning("face index: file holds model %s, not %s; rebuilding", meta["model"], model)
                return None
            n = len(data["ids"])
            rows = FaceRows(
                data["ids"].copy(),
                data["vectors"].reshape(n, saved_dim).copy(),
                data["times"].copy(),
                data["cams"].copy(),
                data["alive"].copy(),
                n,
            )
        graph = None
        if meta["graph_rows"]:
            graph_path = directory / f"faces-{meta['graph_generation']}.hnsw"
            if graph_path.is_file():
                graph = FaceGraph(faiss.read_index(str(graph_path)), meta["graph_rows"], meta["graph_generation"])
                if graph.index.ntotal != graph.rows or graph.rows > n:
                    graph = None
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        log.warning("face index: cannot read %s (%s); rebuilding from the store", path, error)
        return None
    return SavedIndex(saved_dim, meta.get("model"), rows, graph, list(meta["cameras"]), int(meta["watermark"]))


def write_index(directory: Path, index: SavedIndex, alive: np.ndarray) -> None:
    """Write ``index`` (its first ``len(alive)`` rows, with these alive flags) and its graph, atomically."""
    rows, graph, n = index.rows, index.graph, len(alive)
    if graph is not None:
        graph_path = directory / f"faces-{graph.generation}.hnsw"
        if not graph_path.is_file():
            _atomic(graph_path, lambda tmp: faiss.write_index(graph.index, str(tmp)))
    meta = {
        "dim": index.dim,
        "model": index.model,
        "watermark": index.watermark,
        "cameras": index.cameras,
        "graph_rows": graph.rows if graph else 0,
        "graph_generation": graph.generation if graph else 0,
    }

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                ids=rows.ids[:n],
                vectors=rows.vectors[:n],
                times=rows.times[:n],
                cams=rows.cams[:n],
                alive=alive,
                meta=np.array(json.dumps(meta)),
            )

    _atomic(directory / INDEX_FILE, write)


def remove_stale_graphs(directory: Path, keep: int | None) -> None:
    """Delete the graph files of every generation but ``keep``."""
    for path in directory.glob("faces-*.hnsw"):
        if path.name != f"faces-{keep}.hnsw":
            path.unlink(missing_ok=True)


def _pid_alive(text: str) -> bool:
    """Whether ``text`` is the id of a running process (temp files carry their writer's pid)."""
    if not text.isdigit():
        return False
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _atomic(path: Path, write) -> None:
    """Call ``write(tmp)``, fsync, then rename ``tmp`` over ``path`` (and fsync the directory)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise storage_error(error, f"writing {path.name}") from error
