"""Request and response bodies of the feed routes (checkpoint reads, registrations, imports, identities)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from skynet.api.schemas import Reason, Strict
from skynet.services.feeds import MAX_PUSH, RecordOutcome, RejectedRows
from skynet.store.feeds import FeedImport

CHECKPOINT_FIELDS = (
    "plate, checkpoint (a camera id), time (ISO 8601 with UTC offset, or Unix seconds); optional direction, "
    "confidence (0..1), image (base64 JPEG), id (the feed's own record id)"
)
REGISTRATION_FIELDS = (
    "identity, name, place, latitude, longitude, time, source (hotel, internet_cafe, residence_office, other); "
    "optional id_type (cn_id: default, passport, other), id (the feed's own record id)"
)


class FeedPush(Strict):
    records: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_PUSH, description="The records, each checked on its own (see the route)."
    )


class RecordOutcomeOut(BaseModel):
    index: int
    outcome: Literal["added", "duplicate", "rejected"]
    sighting_id: int | None = None
    reason: str | None = None

    @classmethod
    def of(cls, outcome: RecordOutcome) -> RecordOutcomeOut:
        return cls(index=outcome.index, outcome=outcome.outcome, sighting_id=outcome.sighting_id, reason=outcome.reason)


class FeedPushResponse(BaseModel):
    """What became of each record: added (stored and matched), a duplicate (stored before), or rejected."""

    added: int
    duplicates: int
    rejected: int
    records: list[RecordOutcomeOut]

    @classmethod
    def of(cls, outcomes: list[RecordOutcome]) -> FeedPushResponse:
        count = {kind: sum(o.outcome == kind for o in outcomes) for kind in ("added", "duplicate", "rejected")}
        return cls(
            added=count["added"],
            duplicates=count["duplicate"],
            rejected=count["rejected"],
            records=[RecordOutcomeOut.of(o) for o in outcomes],
        )


class FeedImportRequest(Strict):
    path: str = Field(min_length=1, max_length=4096, description="A CSV or JSON Lines file on the server.")
    kind: Literal["checkpoint", "registration"]
    format: Literal["csv", "jsonl"] | None = Field(default=None, description="Default: from the file's name.")
    reason: Reason


class RevealRequest(Strict):
    reason: Reason


class RevealedIdentity(BaseModel):
    identity: str = Field(description="The identity key in full (this disclosure is audited).")


class FeedImportOut(BaseModel):
    """A file import: where it stands (running, done, failed), how far it got and what that gave."""

    path: str
    kind: str
    state: str
    rows_done: int = Field(description="Lines of the file read (the import resumes after them).")
    added: int
    duplicates: int
    rejected: int
    report: str | None = Field(description="The report of rejected rows (a CSV in the data directory), if any.")
    updated_at: float

    @classmethod
    def of(cls, state: FeedImport) -> FeedImportOut:
        return cls(
            path=state.path,
            kind=state.kind,
            state=state.state,
            rows_done=state.rows_done,
            added=state.added,
            duplicates=state.duplicates,
            rejected=state.rejected,
            report=state.report if state.rejected else None,
            updated_at=state.updated_at,
        )


class RejectedRowOut(BaseModel):
    line: int
    reason: str
    row: str | None = Field(description="The row's text (of a registration: only for who may see identity keys).")


class RejectedRowsOut(BaseModel):
    feed_import: FeedImportOut
    rows: list[RejectedRowOut]

    @classmethod
    def of(cls, found: RejectedRows) -> RejectedRowsOut:
        return cls(
            feed_import=FeedImportOut.of(found.state),
            rows=[RejectedRowOut(line=line, reason=reason, row=row) for line, reason, row in found.rows],
        )
