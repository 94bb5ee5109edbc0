"""Sightings: listed (filters, keyset pages, counts per camera per hour; each listing audited with its reason),
one sighting (read with a reason, audited), and its thumbnail and context JPEGs through the signed, short-lived
links the API hands out (:mod:`skynet.services.media_links`): never by a guessable URL."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from skynet.accounts.errors import AuthError
from skynet.accounts.model import Permission, User
from skynet.api.auth import Auth
from skynet.api.deps import AuthOf, browse_service, require, sighting_service
from skynet.api.schemas import ErrorBody, HourCount, Reason, SightingOut, SightingPage
from skynet.api.time_range import TimeRange, query_time_range
from skynet.records import SightingKind, SightingSource
from skynet.services.browse import BrowseService
from skynet.services.media_links import NEW_LINK_HINT, Media, MediaLink
from skynet.services.sightings import SightingService
from skynet.store.sighting_list import SightingFilter

SightingId = Annotated[int, PathParam(ge=1, le=2**62)]
Sightings = Annotated[SightingService, Depends(sighting_service)]
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}

router = APIRouter(tags=["sightings"], responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404, 422)})
Searcher = Annotated[User, Depends(require(Permission.SEARCH))]
Browse = Annotated[BrowseService, Depends(browse_service)]
CameraIds = Annotated[list[str] | None, Query(max_length=100, description="Only these cameras (repeat).")]
Kinds = Annotated[list[SightingKind] | None, Query(description="Only these kinds: face, plate, identity.")]
Sources = Annotated[list[SightingSource] | None, Query(description="Only these: video, checkpoint, registration.")]
Period = Annotated[TimeRange, Depends(query_time_range)]


def sighting_filter(
    period: Period, camera: CameraIds = None, kind: Kinds = None, source: Sources = None
) -> SightingFilter:
    """The filter of a listing or a count: cameras, kinds, sources and a time range, from the query."""
    return SightingFilter(camera, kind, source, period.since, period.until)


Filter = Annotated[SightingFilter, Depends(sighting_filter)]


@router.get("/api/sightings", response_model=SightingPage)
def list_sightings(
    user: Searcher,
    browse: Browse,
    reason: Annotated[Reason, Query()],
    chosen: Filter,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=100, description="A page's next_cursor: the page after.")] = None,
) -> SightingPage:
    """Sightings as they came, newest first, a page at a time (pass on ``next_cursor``); audited."""
    page = browse.page(user, reason, chosen, limit, cursor)
    link = browse.sightings.links.linker(user, "sightings.list")
    return SightingPage(items=[SightingOut.of(f, link) for f in page.found], next_cursor=page.next_cursor)


@router.get("/api/sightings/counts", response_model=list[HourCount])
def count_sightings(
    user: Searcher,
    browse: Browse,
    reason: Annotated[Reason, Query()],
    chosen: Filter,
) -> list[HourCount]:
    """How many sightings each camera had in each hour (hours without any left out), in time order; audited."""
    counts = browse.counts(user, reason, chosen)
    return [HourCount(camera_id=c, hour=h, count=n) for c, h, n in counts]


@router.get("/api/sightings/{sighting_id}", response_model=SightingOut)
def get_sighting(
    sighting_id: SightingId,
    reason: Annotated[Reason, Query()],
    user: Annotated[User, Depends(require(Permission.SEARCH))],
    sightings: Sightings,
) -> SightingOut:
    """One sighting: camera, times, box, plate text, media links. Audited with the reason, like a search."""
    return SightingOut.of(sightings.read(user, reason, sighting_id), sightings.links.linker(user, "sighting.read"))


def media_link(
    by: Annotated[str | None, Query(max_length=200)] = None,
    tid: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    context: Annotated[str | None, Query(alias="for", max_length=100)] = None,
    expires: Annotated[int | None, Query(ge=0, le=2**40)] = None,
    sig: Annotated[str | None, Query(max_length=100)] = None,
) -> MediaLink:
    """The signed query of a media link; 401 when part of it is missing."""
    if by is None or tid is None or context is None or expires is None or sig is None:
        raise AuthError(
            "media is served only through the signed links the API returns (thumbnail_url, context_url)",
            NEW_LINK_HINT,
        )
    return MediaLink(by, tid, context, expires, sig)


Link = Annotated[MediaLink, Depends(media_link)]


async def _media(
    request: Request, auth: Auth, sightings: SightingService, sighting_id: int, media: Media, link: MediaLink
) -> Response:
    """The JPEG ``link`` opens (from the data directory or the object store); a bad link counts against its
    client like a bad token (and is audited)."""
    data = await auth.verified(
        request, link.sig, lambda: run_in_threadpool(sightings.read_media, sighting_id, media, link)
    )
    return Response(data, media_type="image/jpeg")


@router.get("/api/sightings/{sighting_id}/thumbnail", response_class=Response, responses=JPEG)
async def thumbnail(
    sighting_id: SightingId, link: Link, request: Request, auth: AuthOf, sightings: Sightings
) -> Response:
    """The best-view crop (JPEG), through a link from thumbnail_url."""
    return await _media(request, auth, sightings, sighting_id, "thumbnail", link)


@router.get("/api/sightings/{sighting_id}/context", response_class=Response, responses=JPEG)
async def context(
    sighting_id: SightingId, link: Link, request: Request, auth: AuthOf, sightings: Sightings
) -> Response:
    """The whole frame of the best view (JPEG), through a link from context_url."""
    return await _media(request, auth, sightings, sighting_id, "context", link)
