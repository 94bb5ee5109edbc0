"""Evidence holds (sightings no deletion may remove: exported, or under an acknowledged alert): listed and
released by admins, each release with a reason and audited."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from skynet.accounts.model import Permission, User
from skynet.api.deps import hold_service, require
from skynet.api.schemas import ErrorBody, Reason, Strict
from skynet.services.holds import EvidenceHoldService
from skynet.store.holds import Hold, HoldCause

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 422)}
Releaser = Annotated[User, Depends(require(Permission.RELEASE_EVIDENCE))]
Holds = Annotated[EvidenceHoldService, Depends(hold_service)]
SightingIdField = Annotated[int, Field(ge=1, le=2**62)]
Cause = Literal["export", "alert"]

router = APIRouter(tags=["evidence"], responses=ERRORS)


class HoldOut(BaseModel):
    sighting_id: int
    cause: Cause = Field(description="export: an export carried the sighting; alert: an alert on it was acknowledged.")
    ref: str = Field(description="The export id, or the alert id.")
    held_by: str
    held_at: float

    @classmethod
    def of(cls, hold: Hold) -> "HoldOut":
        return cls(
            sighting_id=hold.sighting_id,
            cause=hold.cause.value,
            ref=hold.ref,
            held_by=hold.held_by,
            held_at=hold.held_at,
        )


class ReleaseRequest(Strict):
    sighting_ids: list[SightingIdField] = Field(default_factory=list, max_length=10_000)
    cause: Cause | None = Field(default=None, description="With ref: the holds of one export or alert.")
    ref: str | None = Field(default=None, min_length=1, max_length=200)
    reason: Reason

    @model_validator(mode="after")
    def _names_what(self) -> "ReleaseRequest":
        if not self.sighting_ids and self.ref is None:
            raise ValueError("name the held sightings (sighting_ids), or an export or alert (cause and ref)")
        if (self.ref is None) != (self.cause is None):
            raise ValueError("cause and ref go together")
        return self


class Released(BaseModel):
    released: list[HoldOut]


@router.get("/api/holds", response_model=list[HoldOut])
def list_holds(
    user: Releaser,
    holds: Holds,
    sighting_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    cause: Cause | None = None,
    ref: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[HoldOut]:
    """The evidence holds (newest first), on one sighting or of one export or alert."""
    found = holds.find([sighting_id] if sighting_id else None, HoldCause(cause) if cause else None, ref, limit)
    return [HoldOut.of(h) for h in found]


@router.post("/api/holds/release", response_model=Released)
async def release_holds(body: ReleaseRequest, user: Releaser, holds: Holds) -> Released:
    """Release evidence holds: on the sightings named, and/or of one export or alert (cause and ref). Retention
    and forced re-index jobs may then delete those sightings. Audited as ``evidence.release`` with the reason."""
    cause = HoldCause(body.cause) if body.cause else None
    released = await run_in_threadpool(holds.release, user, body.reason, body.sighting_ids or None, cause, body.ref)
    return Released(released=[HoldOut.of(h) for h in released])
