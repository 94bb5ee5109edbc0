"""Sightings: listed (filters, keyset pages, counts per camera per hour; each listing audited with its reason),
one sighting, and its thumbnail and context JPEGs from the data directory."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from skynet.accounts.model import Permission, User
from skynet.api.deps import browse_service, require, sighting_service
from skynet.api.schemas import ErrorBody, HourCount, Reason, SightingOut, SightingPage
from skynet.records import SightingKind, SightingSource
from skynet.services.browse import BrowseService
from skynet.services.sightings import SightingService
from skynet.store.sighting_list import SightingFilter

SightingId = Annotated[int, PathParam(ge=1, le=2**62)]
Sightings = Annotated[SightingService, Depends(sighting_service)]
# media: alert handlers (operators too) see the thumbnails their alerts link to
MediaViewer = Annotated[User, Depends(require(Permission.HANDLE_ALERTS))]
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}

router = APIRouter(tags=["sightings"], responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404)})
Searcher = Annotated[User, Depends(require(Permission.SEARCH))]
Browse = Annotated[BrowseService, Depends(browse_service)]
CameraIds = Annotated[list[str] | None, Query(max_length=100, description="Only these cameras (repeat).")]
Kinds = Annotated[list[SightingKind] | None, Query(description="Only these kinds: face, plate, identity.")]
Sources = Annotated[list[SightingSource] | None, Query(description="Only these: video, checkpoint, registration.")]
Since = Annotated[float | None, Query(description="Best view not before (Unix seconds).")]
Until = Annotated[float | None, Query(description="Best view not after (Unix seconds).")]


@router.get("/api/sightings", response_model=SightingPage)
def list_sightings(
    user: Searcher,
    browse: Browse,
    reason: Annotated[Reason, Query()],
    camera: CameraIds = None,
    kind: Kinds = None,
    source: Sources = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=100, description="A page's next_cursor: the page after.")] = None,
) -> SightingPage:
    """Sightings as they came, newest first, a page at a time (pass on ``next_cursor``); audited."""
    page = browse.page(user, reason, SightingFilter(camera, kind, source, since, until), limit, cursor)
    return SightingPage(items=[SightingOut.of(f) for f in page.found], next_cursor=page.next_cursor)


@router.get("/api/sightings/counts", response_model=list[HourCount])
def count_sightings(
    user: Searcher,
    browse: Browse,
    reason: Annotated[Reason, Query()],
    camera: CameraIds = None,
    kind: Kinds = None,
    source: Sources = None,
    since: Since = None,
    until: Until = None,
) -> list[HourCount]:
    """How many sightings each camera had in each hour (hours without any left out), in time order; audited."""
    counts = browse.counts(user, reason, SightingFilter(camera, kind, source, since, until))
    return [HourCount(camera_id=c, hour=h, count=n) for c, h, n in counts]


@router.get("/api/sightings/{sighting_id}", response_model=SightingOut)
def get_sighting(
    sighting_id: SightingId, user: Annotated[User, Depends(require(Permission.SEARCH))], sightings: Sightings
) -> SightingOut:
    """One sighting: camera, times, box, plate text, media URLs."""
    return SightingOut.of(sightings.get(sighting_id))


@router.get("/api/sightings/{sighting_id}/thumbnail", response_class=FileResponse, responses=JPEG)
def thumbnail(sighting_id: SightingId, user: MediaViewer, sightings: Sightings) -> FileResponse:
    """The best-view crop (JPEG)."""
    return FileResponse(sightings.media(sighting_id, "thumbnail"), media_type="image/jpeg")


@router.get("/api/sightings/{sighting_id}/context", response_class=FileResponse, responses=JPEG)
def context(sighting_id: SightingId, user: MediaViewer, sightings: Sightings) -> FileResponse:
    """The whole frame of the best view (JPEG)."""
    return FileResponse(sightings.media(sighting_id, "context"), media_type="image/jpeg")
