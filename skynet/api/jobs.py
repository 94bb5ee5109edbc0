"""Background jobs started through the API: a re-index run in a thread, its progress kept in the store."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from skynet.ingest.reindex import FileOutcome, Reindexer, archive_files
from skynet.records import Job, JobState
from skynet.store.jobs import JobRepository

REINDEX = "reindex"


class JobRunner:
    """Starts re-index jobs in daemon threads; every change of progress is written to the store, so
    ``GET /api/jobs/{id}`` reads the store and a job's record outlives the process."""

    def __init__(self, jobs: JobRepository, clock: Callable[[], float]) -> None:
        self.jobs = jobs
        self.clock = clock
        self._threads: list[threading.Thread] = []

    def start_reindex(
        self,
        reindexer: Reindexer,
        user: str,
        paths: Sequence[Path],
        camera_id: str,
        start_time: float | None,
        force: bool,
    ) -> Job:
        """Record a queued job, then run ``reindexer`` in a thread; the returned record carries its id."""
        files = archive_files(paths)
        now = self.clock()
        params = {"paths": [str(p) for p in paths], "camera": camera_id, "start": start_time, "force": force}
        job = Job(
            REINDEX,
            user,
            now,
            now,
            JobState.QUEUED,
            params,
            {"files_total": len(files), "files_done": 0, "frames": 0, "sightings": 0},
        )
        job = replace(job, id=self.jobs.add(job))
        thread = threading.Thread(
            target=self._run,
            args=(reindexer, job, files, camera_id, start_time, force),
            name=f"job-{job.id}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()
        return job

    def _run(
        self, reindexer: Reindexer, job: Job, files: list[Path], camera_id: str, start_time: float | None, force: bool
    ) -> None:
        progress = dict(job.progress)
        errors: list[str] = []
        lock = threading.Lock()

        def save(state: JobState) -> None:
            self.jobs.update(
                replace(job, state=state, updated_at=self.clock(), progress=dict(progress), errors=tuple(errors))
            )

        def on_progress(frames: int) -> None:
            if frames:
                with lock:
                    progress["frames"] += frames
                    save(JobState.RUNNING)

        def on_outcome(outcome: FileOutcome) -> None:
            with lock:
                progress["files_done"] += 1
                progress["sightings"] += outcome.sightings
                if outcome.status == "failed":
                    errors.append(f"{outcome.path}: {outcome.detail}")
                save(JobState.RUNNING)

        save(JobState.RUNNING)
        try:
            reindexer.run(files, camera_id, start_time, force, on_progress, on_outcome)
        except Exception as error:  # a job reports its failure; the server keeps running
            errors.append(f"{type(error).__name__}: {error}")
            save(JobState.FAILED)
            return
        save(JobState.FAILED if errors and len(errors) == len(files) else JobState.DONE)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running jobs (tests, shutdown)."""
        for thread in self._threads:
            thread.join(timeout)
