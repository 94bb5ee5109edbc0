"""Background jobs (their parameters, state and progress) and the re-index state of archive files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from skynet.records import Job, JobState
from skynet.store.database import Database

_COLUMNS = "kind, created_by, created_at, updated_at, state, params, progress, errors"
_FILE_COLUMNS = "path, size, mtime, model_pack, status, frames_done, sha256, updated_at, camera_id, start_time"


@dataclass(frozen=True, slots=True)
class FileState:
    """Re-index state of one archive file: which model pack read it as which camera from which start time
    (Unix seconds of its first frame), how far, with what result."""

    path: str
    size: int
    mtime: float
    model_pack: str
    status: str  # pending | running | done | failed
    frames_done: int = 0
    sha256: str | None = None
    updated_at: float = 0.0
    camera_id: str | None = None
    start_time: float | None = None


class JobRepository:
    """The ``jobs`` and ``reindex_files`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, job: Job) -> int:
        with self.db.write("adding a job"):
            return self.db.insert_returning_id(
                f"INSERT INTO jobs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job.kind, job.created_by, job.created_at, job.updated_at, JobState(job.state).value, *_json(job)),
            )

    def update(self, job: Job) -> bool:
        """Store a job's new state, progress and errors; ``False`` (nothing stored) when the job was cancelled
        and the new state is not ``cancelled``: a cancelled job stays cancelled."""
        with self.db.write("updating a job"):
            return (
                self.db.execute(
                    "UPDATE jobs SET updated_at = ?, state = ?, params = ?, progress = ?, errors = ? "
                    "WHERE id = ? AND (state <> ? OR ? = ?)",
                    (
                        job.updated_at,
                        JobState(job.state).value,
                        *_json(job),
                        job.id,
                        JobState.CANCELLED.value,
                        JobState(job.state).value,
                        JobState.CANCELLED.value,
                    ),
                ).rowcount
                == 1
            )

    def cancel(self, job_id: int, now: float) -> bool:
        """Mark job ``job_id`` cancelled if it is queued or running (``False`` otherwise). Its runner learns it
        at its next update, on whichever node it runs."""
        with self.db.write("cancelling a job"):
            return (
                self.db.execute(
                    "UPDATE jobs SET state = ?, updated_at = ? WHERE id = ? AND state IN (?, ?)",
                    (JobState.CANCELLED.value, now, job_id, JobState.QUEUED.value, JobState.RUNNING.value),
                ).rowcount
                == 1
            )

    def fail_unfinished(self, now: float) -> int:
        """Mark queued and running jobs failed (their process ended: called at server start); returns how many."""
        with self.db.write("closing interrupted jobs"):
            return self.db.execute(
                "UPDATE jobs SET state = ?, updated_at = ?, errors = ? WHERE state IN (?, ?)",
                (
                    JobState.FAILED.value,
                    now,
                    json.dumps(["interrupted: the server stopped before the job finished"]),
                    JobState.QUEUED.value,
                    JobState.RUNNING.value,
                ),
            ).rowcount

    def get(self, job_id: int) -> Job | None:
        row = self.db.execute(f"SELECT {_COLUMNS}, id FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def latest(self, limit: int = 50, state: JobState | None = None) -> list[Job]:
        """The newest ``limit`` jobs (in ``state`` when given), newest first."""
        where, args = ("WHERE state = ?", [JobState(state).value]) if state else ("", [])
        rows = self.db.execute(f"SELECT {_COLUMNS}, id FROM jobs {where} ORDER BY id DESC LIMIT ?", (*args, limit))
        return [_job(row) for row in rows]

    # --- archive files -------------------------------------------------------------------------

    def file_state(self, path: str) -> FileState | None:
        row = self.db.execute(f"SELECT {_FILE_COLUMNS} FROM reindex_files WHERE path = ?", (path,)).fetchone()
        return FileState(*row) if row else None

    def set_file_state(self, state: FileState) -> None:
        with self.db.write("recording file re-index state"):
            self.db.execute(
                f"INSERT INTO reindex_files ({_FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, "
                "model_pack = excluded.model_pack, status = excluded.status, frames_done = excluded.frames_done, "
                "sha256 = excluded.sha256, updated_at = excluded.updated_at, camera_id = excluded.camera_id, "
                "start_time = excluded.start_time",
                (
                    state.path,
                    state.size,
                    state.mtime,
                    state.model_pack,
                    state.status,
                    state.frames_done,
                    state.sha256,
                    state.updated_at,
                    state.camera_id,
                    state.start_time,
                ),
            )


def _job(row: Sequence) -> Job:
    return Job(
        row[0],
        row[1],
        row[2],
        row[3],
        JobState(row[4]),
        json.loads(row[5]),
        json.loads(row[6]),
        tuple(json.loads(row[7])),
        row[8],
    )


def _json(job: Job) -> tuple[str, str, str]:
    return (
        json.dumps(job.params, ensure_ascii=False, default=str),
        json.dumps(job.progress),
        json.dumps(list(job.errors), ensure_ascii=False),
    )
