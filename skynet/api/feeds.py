"""External feeds: checkpoint plate reads and registrations pushed (one or a batch), file imports started as
jobs; registrations searched by identity key, and identity keys unmasked (a permission; audited)."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from skynet.accounts.model import Permission, User
from skynet.api.deps import feed_service, identity_key_service, job_service, media_links, require
from skynet.api.feed_schemas import (
    CHECKPOINT_FIELDS,
    REGISTRATION_FIELDS,
    FeedImportOut,
    FeedImportRequest,
    FeedPush,
    FeedPushResponse,
    RejectedRowsOut,
    RevealedIdentity,
    RevealRequest,
)
from skynet.api.schemas import ErrorBody, JobOut, Reason, SightingOut
from skynet.services.feed_rows import FeedKind
from skynet.services.feeds import FeedService
from skynet.services.identity_keys import IdentityKeyService
from skynet.services.jobs import FEED_IMPORT, JobService
from skynet.services.media_links import MediaLinks

ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 422)}
Pusher = Annotated[User, Depends(require(Permission.PUSH_FEEDS))]
Feeds = Annotated[FeedService, Depends(feed_service)]
Identities = Annotated[IdentityKeyService, Depends(identity_key_service)]
Revealer = Annotated[User, Depends(require(Permission.REVEAL_IDENTITIES))]
ItemId = Annotated[int, PathParam(ge=1, le=2**62)]

router = APIRouter(tags=["feeds"], responses=ERRORS)


@router.post("/api/feeds/checkpoint-reads", response_model=FeedPushResponse)
async def push_checkpoint_reads(body: FeedPush, user: Pusher, feeds: Feeds) -> FeedPushResponse:
    outcomes = await run_in_threadpool(feeds.push, user, FeedKind.CHECKPOINT, body.records)
    return FeedPushResponse.of(outcomes)


@router.post("/api/feeds/registrations", response_model=FeedPushResponse)
async def push_registrations(body: FeedPush, user: Pusher, feeds: Feeds) -> FeedPushResponse:
    outcomes = await run_in_threadpool(feeds.push, user, FeedKind.REGISTRATION, body.records)
    return FeedPushResponse.of(outcomes)


push_checkpoint_reads.__doc__ = (
    f"Store road-checkpoint plate reads: {CHECKPOINT_FIELDS}. Answered once the records are committed (an "
    "acknowledged record is kept); sending a record again adds nothing (a duplicate)."
)
push_registrations.__doc__ = (
    f"Store registrations of people: {REGISTRATION_FIELDS}. The identity key is kept sealed and shown masked. "
    "Answered once committed; sending a record again adds nothing."
)


@router.post("/api/jobs/feed-import", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED, tags=["jobs"])
def start_feed_import(
    body: FeedImportRequest,
    user: Annotated[User, Depends(require(Permission.IMPORT_FEEDS))],
    jobs: Annotated[JobService, Depends(job_service)],
) -> JobOut:
    """Import a CSV or JSON Lines file of checkpoint reads or registrations on the server, in the background
    (resumable; rejected rows go to a report whose path the job's progress names)."""
    return JobOut.of(jobs.start(user, FEED_IMPORT, body.reason, body.model_dump(exclude={"reason"})))


Importer = Annotated[User, Depends(require(Permission.IMPORT_FEEDS))]


@router.get("/api/feeds/imports", response_model=list[FeedImportOut])
def list_feed_imports(
    user: Importer, feeds: Feeds, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[FeedImportOut]:
    """The file imports, most recently active first: state, rows read, added, duplicates, rejected."""
    return [FeedImportOut.of(state) for state in feeds.imports(limit)]


@router.get("/api/feeds/imports/rejected", response_model=RejectedRowsOut)
def feed_import_rejected_rows(
    user: Importer,
    feeds: Feeds,
    path: Annotated[str, Query(min_length=1, max_length=4096, description="The imported file, as listed.")],
    kind: Annotated[FeedKind, Query()],
    reason: Annotated[Reason, Query()],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> RejectedRowsOut:
    """The rejected rows of an import (line, why, and the row; a registration's row only for who may see identity
    keys). Audited as ``feed.rejected`` with the reason."""
    return RejectedRowsOut.of(feeds.rejected_rows(user, reason, path, kind, limit))


@router.get("/api/search/identity", response_model=list[SightingOut], tags=["search"])
def search_identity(
    user: Annotated[User, Depends(require(Permission.SEARCH))],
    identities: Identities,
    links: Annotated[MediaLinks, Depends(media_links)],
    identity: Annotated[str, Query(min_length=4, max_length=64, description="The identity key.")],
    reason: Annotated[Reason, Query()],
    id_type: Annotated[str | None, Query(max_length=20, description="cn_id (default), passport, other.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SightingOut]:
    """Registrations of one identity key, newest first (the key masked in the answer and the audit log)."""
    link = links.linker(user, "search.identity")
    return [SightingOut.of(f, link) for f in identities.search(user, reason, identity, id_type, limit)]


@router.post("/api/sightings/{sighting_id}/identity", response_model=RevealedIdentity, tags=["sightings"])
def reveal_sighting_identity(
    sighting_id: ItemId, body: RevealRequest, user: Revealer, identities: Identities
) -> RevealedIdentity:
    """A registration's identity key in full (audited with the reason)."""
    return RevealedIdentity(identity=identities.reveal_sighting(user, body.reason, sighting_id))


@router.post("/api/watchlist/{entry_id}/identity", response_model=RevealedIdentity, tags=["watch-lists and alerts"])
def reveal_entry_identity(
    entry_id: ItemId, body: RevealRequest, user: Revealer, identities: Identities
) -> RevealedIdentity:
    """An identity watch-list entry's key in full (audited with the reason)."""
    return RevealedIdentity(identity=identities.reveal_entry(user, body.reason, entry_id))
