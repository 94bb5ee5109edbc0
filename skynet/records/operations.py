"""The system's own records: the audit log's lines and background jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One append-only audit-log line: who did what, when, and the reason or case number given; the API
    token the request came with (``token_id``) and who minted that token (``token_minted_by``: the user
    logging in, the admin who issued it, or ``cli``), where known."""

    at: float
    actor: str
    action: str
    reason: str | None = None
    detail: dict = field(default_factory=dict)
    token_id: int | None = None
    token_minted_by: str | None = None
    id: int | None = None


class JobState(StrEnum):
    """Where a background job stands: waiting, running, finished well or badly, or cancelled by a user."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True, slots=True)
class Job:
    """A background job (a re-index or re-embedding run) as stored: its parameters, state and progress counters."""

    kind: str
    created_by: str
    created_at: float
    updated_at: float
    state: JobState
    params: dict = field(default_factory=dict)
    progress: dict = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    id: int | None = None
