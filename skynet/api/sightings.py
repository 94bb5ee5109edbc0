"""One sighting, and its thumbnail and context JPEGs from the data directory."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from skynet.accounts.model import Permission, User
from skynet.api.deps import require, sighting_service
from skynet.api.schemas import ErrorBody, SightingOut
from skynet.services.sightings import SightingService

SightingId = Annotated[int, PathParam(ge=1, le=2**62)]
Sightings = Annotated[SightingService, Depends(sighting_service)]
# media: alert handlers (operators too) see the thumbnails their alerts link to
MediaViewer = Annotated[User, Depends(require(Permission.HANDLE_ALERTS))]
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}

router = APIRouter(tags=["sightings"], responses={c: {"model": ErrorBody} for c in (401, 403, 404)})


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
