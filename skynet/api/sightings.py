"""One sighting, and its thumbnail and context JPEGs from the data directory."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from skynet.accounts.model import Permission, User
from skynet.api.schemas import ErrorBody, SightingOut
from skynet.api.services import Services
from skynet.errors import NotFoundError
from skynet.records import Sighting

SightingId = Annotated[int, PathParam(ge=1, le=2**62)]


def media_file(data_dir: Path, relative: str | None) -> Path | None:
    """``relative`` under ``data_dir`` if it names an existing file inside it (never outside: no ``..``,
    no absolute paths, no symlinks leading out)."""
    if not relative:
        return None
    root = data_dir.resolve()
    target = (root / relative).resolve()
    return target if target.is_relative_to(root) and target.is_file() else None


def router(services: Services) -> APIRouter:
    api = APIRouter(tags=["sightings"], responses={c: {"model": ErrorBody} for c in (401, 403, 404)})
    viewer = services.auth.require(Permission.SEARCH)
    # media: alert handlers (operators too) see the thumbnails their alerts link to
    media_viewer = services.auth.require(Permission.HANDLE_ALERTS)
    store = services.catalog.store

    def sighting(sighting_id: int) -> Sighting:
        found = store.sightings.get(sighting_id)
        if found is None:
            raise NotFoundError(f"no sighting with id {sighting_id}")
        return found

    def jpeg(relative: str | None, what: str, sighting_id: int) -> FileResponse:
        path = media_file(services.settings.data_dir, relative)
        if path is None:
            raise NotFoundError(f"sighting {sighting_id} has no {what}")
        return FileResponse(path, media_type="image/jpeg")

    @api.get("/api/sightings/{sighting_id}", response_model=SightingOut)
    def get_sighting(sighting_id: SightingId, user: Annotated[User, Depends(viewer)]) -> SightingOut:
        """One sighting: camera, times, box, plate text, media URLs."""
        return SightingOut.of(sighting(sighting_id), {c.id: c for c in store.cameras.all()})

    @api.get(
        "/api/sightings/{sighting_id}/thumbnail",
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    def thumbnail(sighting_id: SightingId, user: Annotated[User, Depends(media_viewer)]) -> FileResponse:
        """The best-view crop (JPEG)."""
        return jpeg(sighting(sighting_id).thumbnail_path, "thumbnail", sighting_id)

    @api.get(
        "/api/sightings/{sighting_id}/context",
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    def context(sighting_id: SightingId, user: Annotated[User, Depends(media_viewer)]) -> FileResponse:
        """The whole frame of the best view (JPEG)."""
        return jpeg(sighting(sighting_id).context_path, "context frame", sighting_id)

    return api
