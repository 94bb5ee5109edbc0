"""Re-index jobs: archive files on the server analysed into the store as one camera's footage, in the
background (:class:`skynet.ingest.reindex.Reindexer` does the work; the job runner keeps its progress)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from skynet.errors import InvalidInputError
from skynet.ingest.reindex import FileOutcome, archive_files
from skynet.records import JobState
from skynet.services.jobs import REINDEX, JobRun
from skynet.store import Store


class ArchiveReader(Protocol):
    """What a re-index job needs of a :class:`~skynet.ingest.reindex.Reindexer`."""

    def run(
        self,
        files: list[Path],
        camera_id: str,
        start_time: float | None,
        force: bool,
        on_progress: Callable[[int], None],
        on_outcome: Callable[[FileOutcome], None],
    ) -> list[FileOutcome]: ...


class ReindexJobs:
    """The ``reindex`` job kind: params ``paths`` (files or directories on the server), ``camera`` (a
    known camera id), ``start`` (Unix time of the first frame; None: from each file) and ``force``
    (redo files already done). ``make_reindexer`` gives the reader of one job."""

    name = REINDEX
    exclusive = False

    def __init__(self, store: Store, make_reindexer: Callable[[], ArchiveReader]) -> None:
        self.store = store
        self.make_reindexer = make_reindexer

    def due(self) -> bool:
        """Never: a re-index job is asked for."""
        return False

    def prepare(self, params: Mapping[str, Any]) -> ReindexWork:
        camera = params["camera"]
        if camera not in {c.id for c in self.store.cameras.all()}:
            raise InvalidInputError(f"unknown camera {camera!r}", "add it first")
        paths = [Path(p) for p in params["paths"]]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise InvalidInputError(f"not found on the server: {', '.join(missing[:5])}")
        return ReindexWork(self.make_reindexer(), paths, camera, params.get("start"), bool(params.get("force")))


class ReindexWork:
    """One re-index job: progress in files (total, done), frames read and sightings stored; an error per
    failed file. It fails when every file failed."""

    def __init__(
        self, reader: ArchiveReader, paths: Sequence[Path], camera_id: str, start_time: float | None, force: bool
    ) -> None:
        self.reader = reader
        self.files = archive_files(paths)
        self.camera_id = camera_id
        self.start_time = start_time
        self.force = force
        self.params = {"paths": [str(p) for p in paths], "camera": camera_id, "start": start_time, "force": force}
        self.progress: dict[str, Any] = {"files_total": len(self.files), "files_done": 0, "frames": 0, "sightings": 0}
        self.errors: list[str] = []

    def run(self, job: JobRun) -> JobState:
        lock = threading.Lock()

        def on_progress(frames: int) -> None:
            if frames:
                with lock:
                    self.progress["frames"] += frames
                    job.report()

        def on_outcome(outcome: FileOutcome) -> None:
            with lock:
                self.progress["files_done"] += 1
                self.progress["sightings"] += outcome.sightings
                if outcome.status == "failed":
                    self.errors.append(f"{outcome.path}: {outcome.detail}")
                job.report()

        self.reader.run(self.files, self.camera_id, self.start_time, self.force, on_progress, on_outcome)
        return JobState.FAILED if self.errors and len(self.errors) == len(self.files) else JobState.DONE
