"""Background jobs: one runner for every kind of job (re-index, re-embedding: each a registered
:class:`JobKind`), in threads; a job's state (:class:`JobState`), progress and errors are written to the
store at every step, so ``GET /api/jobs/{id}`` reads the store and a job's record outlives the process.
Jobs a previous process left unfinished are marked failed when the runner starts. A job is cancelled in the
store (it stays cancelled, across restarts too); its run learns it at once when it runs here, else at its next
write of progress on whichever node runs it, and stops where it is: what it committed stays, and a later job
of the same work resumes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from skynet.accounts.model import Permission, User
from skynet.errors import ConflictError, ForbiddenError, NotFoundError, UnavailableError
from skynet.records import Job, JobState
from skynet.services.audit import Auditor
from skynet.store.jobs import JobRepository

log = logging.getLogger(__name__)

REINDEX = "reindex"
REEMBED = "reembed"
FEED_IMPORT = "feed-import"
TITLES = {REINDEX: "re-index", REEMBED: "re-embedding", FEED_IMPORT: "feed import"}
"""The kinds of job there are, as messages name them."""
_STARTED_WITH = {FEED_IMPORT: Permission.IMPORT_FEEDS}


def started_with(kind: str) -> Permission:
    """The permission that starts (and cancels) a job of ``kind``."""
    return _STARTED_WITH.get(kind, Permission.START_JOBS)


class JobRun:
    """A job as its work sees it while it runs: :meth:`report` writes its progress; ``stop`` is set when
    the job should end early (the server stops, or the job was cancelled: then ``cancelled`` is true too)."""

    def __init__(self, runner: JobRunner, job: Job, work: Work) -> None:
        self.runner = runner
        self.job = job
        self.work = work
        self.stop = threading.Event()
        self.cancelled = False
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """Tell the work to stop: the job was cancelled."""
        self.cancelled = True
        self.stop.set()

    def report(self) -> None:
        """Write the work's progress and errors now (the job is running)."""
        self.save(JobState.RUNNING)

    def save(self, state: JobState) -> Job:
        """Write ``state``, progress and errors; a job cancelled meanwhile (here or on another node) is told
        to stop and saved as cancelled."""
        with self._lock:
            if self.cancelled and state.finished:
                state = JobState.CANCELLED
            self.job = replace(
                self.job,
                state=state,
                updated_at=self.runner.clock(),
                progress=dict(self.work.progress),
                errors=tuple(self.work.errors),
            )
            if not self.runner.jobs.update(self.job):
                self.cancel()
                self.job = replace(self.job, state=JobState.CANCELLED)
                self.runner.jobs.update(self.job)
            return self.job


class Work(Protocol):
    """One job's work: its parameters (stored with the job), its progress counters and errors so far, and
    :meth:`run`, which reports through ``job`` and returns how the job ended (an exception: failed)."""

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def progress(self) -> dict[str, Any]: ...

    @property
    def errors(self) -> list[str]: ...

    def run(self, job: JobRun) -> JobState: ...


class JobKind(Protocol):
    """A kind of job the runner can start from a request: ``name`` as stored (one of :data:`TITLES`),
    ``exclusive`` when only one may run at a time; :meth:`prepare` checks a request's ``params`` (raising
    an error of a kind) and returns the work to do; :meth:`due` says whether a job is due without a
    request (one starts when the runner starts)."""

    name: str
    exclusive: bool

    def prepare(self, params: Mapping[str, Any]) -> Work: ...

    def due(self) -> bool: ...


class JobRunner:
    """Runs jobs of the registered kinds in daemon threads, recording each in ``jobs``."""

    def __init__(self, jobs: JobRepository, clock: Callable[[], float]) -> None:
        self.jobs = jobs
        self.clock = clock
        self.kinds: dict[str, JobKind] = {}
        self._runs: list[tuple[JobRun, threading.Thread]] = []
        self._lock = threading.Lock()

    def register(self, kind: JobKind) -> None:
        """Start jobs of ``kind`` from now on (replacing a kind of the same name)."""
        self.kinds[kind.name] = kind

    def start(self, user: str = "system") -> int:
        """Mark the jobs a previous process left queued or running failed (returns how many), then start a
        job of every kind that is due (as ``user``)."""
        failed = self.jobs.fail_unfinished(self.clock())
        for kind in list(self.kinds.values()):
            if kind.due():
                self.request(kind.name, user, {})
        return failed

    def request(self, kind: str, user: str, params: Mapping[str, Any]) -> Job:
        """Start a job of the registered ``kind`` for ``params`` (:class:`UnavailableError` when this
        server runs none); an exclusive kind's running job is returned instead of starting another."""
        found = self.kinds.get(kind)
        if found is None:
            raise UnavailableError(f"this server runs no {TITLES.get(kind, kind)} jobs")
        if found.exclusive and (running := self.running(kind)) is not None:
            return running
        return self.submit(kind, user, found.prepare(params))

    def submit(self, kind: str, user: str, work: Work) -> Job:
        """Record a queued job of ``work``, then run it in a thread; the returned record carries its id."""
        run = self._record(kind, user, work)
        thread = threading.Thread(target=self._execute, args=(run,), name=f"job-{run.job.id}", daemon=True)
        with self._lock:
            self._runs.append((run, thread))
        thread.start()
        return run.job

    def run(self, kind: str, user: str, work: Work) -> Job:
        """Record a job of ``work`` and run it in this thread; returns its final record."""
        return self._execute(self._record(kind, user, work))

    def running(self, kind: str) -> Job | None:
        """The record of a running job of ``kind``, if one runs."""
        with self._lock:
            runs = [run for run, thread in self._runs if run.job.kind == kind and thread.is_alive()]
        return runs[0].job if runs else None

    def cancel(self, job_id: int) -> None:
        """Tell job ``job_id`` to stop if it runs here (it was cancelled in the store)."""
        with self._lock:
            runs = [run for run, _ in self._runs if run.job.id == job_id]
        for run in runs:
            run.cancel()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every running job to stop (a re-embedding job resumes at the next start) and wait up to
        ``timeout`` for each."""
        with self._lock:
            runs = list(self._runs)
        for run, _ in runs:
            run.stop.set()
        self.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running jobs (tests, shutdown)."""
        with self._lock:
            threads = [thread for _, thread in self._runs]
        for thread in threads:
            thread.join(timeout)

    def _record(self, kind: str, user: str, work: Work) -> JobRun:
        now = self.clock()
        job = Job(kind, user, now, now, JobState.QUEUED, dict(work.params), dict(work.progress))
        return JobRun(self, replace(job, id=self.jobs.add(job)), work)

    def _execute(self, run: JobRun) -> Job:
        run.report()
        if run.cancelled:  # while it was queued
            return run.save(JobState.CANCELLED)
        try:
            state = run.work.run(run)
        except Exception as error:  # a job reports its failure; the server keeps running
            log.exception("%s job %s failed", run.job.kind, run.job.id)
            run.work.errors.append(f"{type(error).__name__}: {error}")
            state = JobState.FAILED
        return run.save(state)


class JobService:
    """The jobs as users see them: started and cancelled (audited), listed and read."""

    def __init__(self, runner: JobRunner, auditor: Auditor) -> None:
        self.runner = runner
        self.auditor = auditor

    def start(self, user: User, kind: str, reason: str, params: Mapping[str, Any] | None = None) -> Job:
        """Start a job of ``kind`` (see :meth:`JobRunner.request`) for ``reason``; audited as ``job.<kind>``.
        A job with ``force`` (it deletes what earlier jobs stored) needs :attr:`Permission.DELETE_EVIDENCE`."""
        reason = self.auditor.reason(reason)
        params = {**(params or {}), "reason": reason}
        if params.get("force") and not user.may(Permission.DELETE_EVIDENCE):
            raise ForbiddenError(f"a forced {TITLES.get(kind, kind)} deletes stored sightings and alerts: admins only")
        job = self.runner.request(kind, user.name, params)
        self.auditor.record(user, f"job.{kind}", reason, {"job": job.id, **job.params})
        return job

    def cancel(self, user: User, job_id: int, reason: str) -> Job:
        """Cancel job ``job_id`` for ``reason`` (admins and whoever may start its kind: :func:`started_with`);
        audited as ``job.cancel``. A queued job never starts; a running one stops at its next check and keeps
        what it committed (its progress says how far it got). :class:`ConflictError` for a finished job."""
        job = self.get(job_id)
        if not user.may(started_with(job.kind)):
            raise ForbiddenError(f"you may not cancel {TITLES.get(job.kind, job.kind)} jobs")
        reason = self.auditor.reason(reason)
        if not self.runner.jobs.cancel(job_id, self.runner.clock()):
            raise ConflictError(f"job {job_id} has already finished ({self.get(job_id).state.value})")
        self.runner.cancel(job_id)
        self.auditor.record(user, "job.cancel", reason, {"job": job_id, "kind": job.kind})
        return self.get(job_id)

    def latest(self, limit: int = 50, state: JobState | None = None) -> list[Job]:
        """The newest jobs (of one ``state`` when given), newest first, with their progress."""
        return self.runner.jobs.latest(limit, state)

    def get(self, job_id: int) -> Job:
        """Job ``job_id``; :class:`NotFoundError` if there is none."""
        job = self.runner.jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job with id {job_id}")
        return job
