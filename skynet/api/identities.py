"""Unknown-face identities (person #n): their sightings and trajectory (a search: audited with a reason),
merging two and splitting sightings off one (investigators, audited)."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from skynet.accounts.model import Permission, User
from skynet.api.deps import identity_service, require, trajectory_service
from skynet.api.schemas import ErrorBody, Reason, SightingOut, Strict, TrajectoryResponse
from skynet.api.search import trajectory_response
from skynet.services.identities import IdentityService
from skynet.services.trajectory import TrajectoryService

IdentityId = Annotated[int, PathParam(ge=1, le=2**62, description="The n of person #n.")]
Identities = Annotated[IdentityService, Depends(identity_service)]
Searcher = Annotated[User, Depends(require(Permission.SEARCH))]
Editor = Annotated[User, Depends(require(Permission.MANAGE_IDENTITIES))]

router = APIRouter(tags=["identities"], responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404, 422)})


class IdentityOut(BaseModel):
    identity_id: int
    sightings: list[SightingOut]


class MergeRequest(Strict):
    into: int = Field(ge=1, le=2**62, description="The identity that stays.")
    merged: int = Field(ge=1, le=2**62, description="The identity whose sightings move into it.")
    reason: Reason


class SplitRequest(Strict):
    sighting_ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(min_length=1, max_length=10_000)
    reason: Reason


class Changed(BaseModel):
    identity_id: int = Field(description="The identity that now holds the sightings.")
    sightings: int


@router.get("/api/identities/{identity_id}", response_model=IdentityOut)
def show_identity(
    identity_id: IdentityId, reason: Annotated[Reason, Query()], user: Searcher, identities: Identities
) -> IdentityOut:
    """The face sightings grouped as one unknown person, oldest first."""
    found = identities.show(user, reason, identity_id)
    return IdentityOut(identity_id=identity_id, sightings=[SightingOut.of(f) for f in found])


@router.get("/api/identities/{identity_id}/trajectory", response_model=TrajectoryResponse)
def identity_trajectory(
    identity_id: IdentityId,
    reason: Annotated[Reason, Query()],
    user: Searcher,
    trajectories: Annotated[TrajectoryService, Depends(trajectory_service)],
    max_speed_kmh: Annotated[float | None, Query(gt=0, le=10_000, allow_inf_nan=False)] = None,
) -> TrajectoryResponse:
    """Where an unknown person was seen, as stops and moves between cameras."""
    return trajectory_response(trajectories.of_identity(user, reason, identity_id, max_speed_kmh))


@router.post("/api/identities/merge", response_model=Changed)
def merge_identities(body: MergeRequest, user: Editor, identities: Identities) -> Changed:
    """Two identities are one person: the sightings of ``merged`` move into ``into``."""
    moved = identities.merge(user, body.reason, body.into, body.merged)
    return Changed(identity_id=body.into, sightings=moved)


@router.post("/api/identities/{identity_id}/split", response_model=Changed)
def split_identity(identity_id: IdentityId, body: SplitRequest, user: Editor, identities: Identities) -> Changed:
    """Some sightings of an identity are another person: they move to a new identity."""
    new = identities.split(user, body.reason, identity_id, body.sighting_ids)
    return Changed(identity_id=new, sightings=len(set(body.sighting_ids)))
