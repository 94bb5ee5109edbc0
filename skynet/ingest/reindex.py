"""Batch re-indexing of archived video files: parallel, resumable, idempotent.

Each file's state lives in the store (path, size, mtime, model pack, status, and the camera and start
time it was read as). A file already ``done`` with the same pack is skipped; one left ``running`` by a
killed run, or ``failed``, is redone after its partial sightings are deleted, so a run can be repeated or
resumed at any time without duplicates. ``force`` redoes done files too (for example with another model
pack). A redo reads a file as the camera and from the start time it was read with before; another camera
or start time needs ``force``. Held evidence (:mod:`skynet.store.holds`) is never deleted; every deletion
is reported to ``on_deleted`` (to be audited). A run told to ``stop`` starts no more files and stops the files
it reads (each reader checks at every frame); a file stopped part-way is left ``pending``, its sightings so far
stored, and is redone like a failed one by the next run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import cv2

from skynet.index.catalog import Catalog
from skynet.ingest.archive_time import DEFAULT_NAME_PATTERN, resolve_start_time
from skynet.ingest.paths import VIDEO_SUFFIXES, expand_paths
from skynet.ingest.source_spec import SourceSpec
from skynet.ingest.status import CameraState
from skynet.ingest.worker import Analyze, CameraWorker, WorkerOptions
from skynet.store.jobs import FileState
from skynet.store.sightings import DeletedSightings
from skynet.tracking.sink import SightingSink
from skynet.tracking.track import Embed, Read


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one file: ``done``, ``skipped`` (with the reason), ``failed`` (with the error) or
    ``stopped`` (the run was told to stop while it read the file)."""

    path: Path
    status: str
    detail: str = ""
    sightings: int = 0


def archive_files(paths: Iterable[Path]) -> list[Path]:
    """The video files to re-index (absolute paths: they key each file's state in the store)."""
    return list(dict.fromkeys(p.resolve() for p in expand_paths(paths, VIDEO_SUFFIXES)))


def frame_count(path: Path) -> int:
    """Frames in a video file according to its container (0 when unknown or unreadable)."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))) if capture.isOpened() else 0
    finally:
        capture.release()


@dataclass
class _Job:
    path: Path
    state: FileState
    worker: CameraWorker


class Reindexer:
    """Runs archive files through the pipeline, ``jobs`` files at a time, into the catalog."""

    def __init__(
        self,
        catalog: Catalog,
        sink: SightingSink,
        flush: Callable[[], object],
        analyze: Analyze,
        model_pack: str,
        jobs: int = 1,
        options: WorkerOptions | None = None,
        embed: Embed | None = None,
        read: Read | None = None,
        name_pattern: str = DEFAULT_NAME_PATTERN,
    ) -> None:
        self.catalog = catalog
        self.name_pattern = name_pattern
        self.sink = sink
        self.flush = flush
        self.analyze = analyze
        self.model_pack = model_pack
        self.jobs = max(1, jobs)
        self.options = options or WorkerOptions(motion_gate=True)
        self.embed = embed
        self.read = read

    def skip_reason(self, path: Path, force: bool) -> str | None:
        """Why ``path`` needs no work now, or ``None`` when it must be (re)done."""
        state = self.catalog.store.jobs.file_state(str(path))
        if force or state is None or state.status != "done":
            return None
        stat = path.stat()
        if (state.size, state.mtime) != (stat.st_size, stat.st_mtime):
            return None
        if state.model_pack != self.model_pack:
            return f"done with model pack {state.model_pack!r}; use --force to redo it with {self.model_pack!r}"
        return "already done"

    def run(
        self,
        files: list[Path],
        camera_id: str,
        start_time: float | None = None,
        force: bool = False,
        on_progress: Callable[[int], None] = lambda frames: None,
        on_outcome: Callable[[FileOutcome], None] = lambda outcome: None,
        on_deleted: Callable[[Path, DeletedSightings], None] = lambda path, deleted: None,
        stop: threading.Event | None = None,
    ) -> list[FileOutcome]:
        """Process ``files`` for ``camera_id``; calls ``on_progress(new_frames)``, ``on_outcome`` and, when a
        file's earlier sightings were deleted (or kept as held evidence), ``on_deleted``. Once ``stop`` is set,
        no file starts and the running ones stop (outcome ``stopped``); files not started have no outcome."""
        outcomes: list[FileOutcome] = []
        waiting = list(files)
        running: list[_Job] = []
        try:
            self._loop(
                waiting, running, camera_id, start_time, force, stop, on_progress, on_outcome, on_deleted, outcomes
            )
        finally:  # an exception (a Ray task cancelled): no reader goes on storing; the files stay as a crash left them
            for job in running:
                job.worker.stop()
            for job in running:
                job.worker.join()
        return outcomes

    def _loop(
        self,
        waiting: list[Path],
        running: list[_Job],
        camera_id: str,
        start_time: float | None,
        force: bool,
        stop: threading.Event | None,
        on_progress: Callable[[int], None],
        on_outcome: Callable[[FileOutcome], None],
        on_deleted: Callable[[Path, DeletedSightings], None],
        outcomes: list[FileOutcome],
    ) -> None:
        seen_frames: dict[Path, int] = {}
        while waiting or running:
            if stop is not None and stop.is_set():
                waiting.clear()
                for job in running:
                    job.worker.stop()
            while waiting and len(running) < self.jobs:
                path = waiting.pop(0)
                job_or_outcome = self._start(path, camera_id, start_time, force, on_deleted)
                if isinstance(job_or_outcome, FileOutcome):
                    outcomes.append(job_or_outcome)
                    on_outcome(job_or_outcome)
                else:
                    running.append(job_or_outcome)
            time.sleep(0.2)
            for job in list(running):
                status = job.worker.status()
                on_progress(status.frames_read - seen_frames.get(job.path, 0))
                seen_frames[job.path] = status.frames_read
                if not job.worker.running:
                    running.remove(job)
                    outcome = self._finish(job)
                    outcomes.append(outcome)
                    on_outcome(outcome)

    def _start(
        self,
        path: Path,
        camera_id: str,
        start_time: float | None,
        force: bool,
        on_deleted: Callable[[Path, DeletedSightings], None],
    ) -> _Job | FileOutcome:
        if not path.is_file():
            return FileOutcome(path, "failed", "no such file")
        reason = self.skip_reason(path, force)
        if reason is not None:
            return FileOutcome(path, "skipped", reason)
        before = self.catalog.store.jobs.file_state(str(path))
        if before is not None and before.camera_id is not None:
            if start_time is None:
                start_time = before.start_time
            if not force and (before.camera_id, before.start_time) != (camera_id, start_time):
                return FileOutcome(
                    path,
                    "failed",
                    f"read before as camera {before.camera_id!r} from {_utc(before.start_time)}: a redo keeps "
                    "them (another camera or start time needs force, admins only)",
                )
        try:
            start = resolve_start_time(path, start_time, self.name_pattern)
        except Exception as error:  # a clear per-file error; the other files carry on
            return FileOutcome(path, "failed", str(error))
        stat = path.stat()
        deleted = self.catalog.delete_file_sightings(str(path))
        if len(deleted.ids) or deleted.held_ids:
            on_deleted(path, deleted)
        state = FileState(
            str(path), stat.st_size, stat.st_mtime, self.model_pack, "running", 0, None, time.time(), camera_id, start
        )
        self.catalog.store.jobs.set_file_state(state)
        spec = SourceSpec(camera_id, str(path), start_time=start)
        worker = CameraWorker(spec, self.analyze, self.sink, self.options, embed=self.embed, read=self.read).start()
        return _Job(path, state, worker)

    def _finish(self, job: _Job) -> FileOutcome:
        self.flush()
        status = job.worker.status()
        outcome = {CameraState.FINISHED: "done", CameraState.STOPPED: "stopped"}.get(status.state, "failed")
        stored = "pending" if outcome == "stopped" else outcome
        final = replace(job.state, status=stored, frames_done=status.frames_read, updated_at=time.time())
        self.catalog.store.jobs.set_file_state(final)
        detail = "" if outcome == "done" else (status.last_error or "stopped before the end")
        return FileOutcome(job.path, outcome, detail, status.sightings)


def _utc(t: float | None) -> str:
    return "an unknown time" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
