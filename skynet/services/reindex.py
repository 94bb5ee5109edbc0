"""Re-index jobs: archive files on the server, inside the archive roots (:mod:`skynet.ingest.archive_roots`),
analysed into the store as one camera's footage, in the background (:class:`skynet.ingest.reindex.Reindexer`
does the work; the job runner keeps its progress)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from skynet.errors import InvalidInputError, UnusableInputError
from skynet.ingest.archive_roots import ArchiveRoots
from skynet.ingest.reindex import FileOutcome, archive_files
from skynet.records import JobState
from skynet.redaction import redact_url
from skynet.services.audit import Auditor
from skynet.services.jobs import REINDEX, JobRun
from skynet.store import Store
from skynet.store.sightings import DeletedSightings

FUTURE_SLACK_S = 86400.0
"""A start time may lie this far ahead of the server's clock (clocks and time zones disagree), no more."""


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
        on_deleted: Callable[[Path, DeletedSightings], None],
        stop: threading.Event,
    ) -> list[FileOutcome]: ...


class ReindexJobs:
    """The ``reindex`` job kind: params ``paths`` (files or directories inside the archive roots), ``camera``
    (a known camera id), ``start`` (Unix time of the first frame; None: from each file), ``force`` (redo files
    already done) and ``reason``. ``make_reindexer`` gives the reader of one job; what a job deletes is
    audited through ``auditor``."""

    name = REINDEX
    exclusive = False

    def __init__(
        self,
        store: Store,
        make_reindexer: Callable[[], ArchiveReader],
        roots: ArchiveRoots,
        auditor: Auditor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.make_reindexer = make_reindexer
        self.roots = roots
        self.auditor = auditor
        self.clock = clock

    def due(self) -> bool:
        """Never: a re-index job is asked for."""
        return False

    def prepare(self, params: Mapping[str, Any]) -> ReindexWork:
        """The work of a request: the camera must exist, the start time must not lie in the future, and every
        path must be inside the archive roots (:class:`OutsideArchiveRootsError` otherwise, one message for
        paths that exist and paths that do not). Directories are walked by the job, not here."""
        camera = params["camera"]
        if camera not in {c.id for c in self.store.cameras.all()}:
            raise InvalidInputError(f"unknown camera {camera!r}", "add it first")
        start = params.get("start")
        if start is not None and start > self.clock() + FUTURE_SLACK_S:
            raise UnusableInputError("the start time is in the future", "give the time the footage was recorded")
        paths = self.roots.resolve_all(params["paths"])
        return ReindexWork(
            self.make_reindexer(),
            paths,
            camera,
            start,
            bool(params.get("force")),
            str(params.get("reason") or ""),
            self.roots,
            self.auditor,
        )


class ReindexWork:
    """One re-index job: progress in files (total, done), frames read and sightings stored; an error per
    failed file. It fails when every file failed. Its first step walks the directories given (files outside
    the archive roots, through links, are refused there); each file's deleted sightings and alerts are
    audited as ``reindex.delete`` with the job's reason and their ids. Told to stop (cancelled, or the server
    stops), it stops between files and within a file's frames: files done stay done, a later job reads the rest."""

    def __init__(
        self,
        reader: ArchiveReader,
        paths: Sequence[Path],
        camera_id: str,
        start_time: float | None,
        force: bool,
        reason: str,
        roots: ArchiveRoots,
        auditor: Auditor,
    ) -> None:
        self.reader = reader
        self.paths = list(paths)
        self.camera_id = camera_id
        self.start_time = start_time
        self.force = force
        self.reason = reason
        self.roots = roots
        self.auditor = auditor
        self.params = {
            "paths": [str(p) for p in paths],
            "camera": camera_id,
            "start": start_time,
            "force": force,
            "reason": reason,
        }
        self.progress: dict[str, Any] = {"files_total": 0, "files_done": 0, "frames": 0, "sightings": 0}
        self.errors: list[str] = []

    def run(self, job: JobRun) -> JobState:
        lock = threading.Lock()
        failed: list[Path] = []
        files = []
        for path in archive_files(self.paths):
            if self.roots.contains(path):
                files.append(path)
            else:  # a link inside a root to a file outside it
                self.errors.append(f"{path}: not inside an archive root")
        self.progress["files_total"] = len(files)
        job.report()
        if not files:
            if not self.errors:
                self.errors.append("no video files found in the given paths")
            return JobState.FAILED

        def on_progress(frames: int) -> None:
            if frames:
                with lock:
                    self.progress["frames"] += frames
                    job.report()

        def on_outcome(outcome: FileOutcome) -> None:
            if outcome.status == "stopped":
                return
            with lock:
                self.progress["files_done"] += 1
                self.progress["sightings"] += outcome.sightings
                if outcome.status == "failed":
                    failed.append(outcome.path)
                    self.errors.append(f"{outcome.path}: {outcome.detail}")
                job.report()

        def on_deleted(path: Path, deleted: DeletedSightings) -> None:
            detail = {"job": job.job.id, "file": redact_url(str(path)), "force": self.force, **deleted.audited()}
            self.auditor.record(job.job.created_by, "reindex.delete", self.reason, detail)

        self.reader.run(
            files, self.camera_id, self.start_time, self.force, on_progress, on_outcome, on_deleted, job.stop
        )
        if job.stop.is_set() and self.progress["files_done"] < len(files):
            left = len(files) - self.progress["files_done"]
            self.errors.append(f"stopped before the end: {left} file(s) not read; the same re-index resumes them")
            return JobState.FAILED
        return JobState.FAILED if len(failed) == len(files) else JobState.DONE
