"""Case exports (:mod:`skynet.services.export`): the ZIP is streamed back as it is made."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from skynet.accounts.model import Permission, User
from skynet.api.deps import export_service, require
from skynet.api.schemas import ErrorBody, ExportRequest
from skynet.services.export import ExportOrder, ExportService, FaceSelection, PlateSelection
from skynet.services.search import Filters

router = APIRouter(tags=["exports"], responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404, 422)})


def order(body: ExportRequest) -> ExportOrder:
    """The export ``body`` asks for."""
    return ExportOrder(
        reason=body.reason,
        request=body.model_dump(mode="json"),
        sighting_ids=body.sighting_ids,
        plate=None if body.plate is None else PlateSelection(body.plate.q, body.plate.mode),
        face=None if body.face is None else FaceSelection(body.face.sighting_id, body.face.min_similarity),
        filters=Filters(body.since, body.until, body.cameras),
        limit=body.limit,
        media=body.media,
        trajectory=body.trajectory,
        max_speed_kmh=body.max_speed_kmh,
    )


@router.post(
    "/api/exports",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": ("The case file: manifest.json, sightings.csv, thumbnails/, context/, trajectory.geojson."),
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def create_export(
    body: ExportRequest,
    user: Annotated[User, Depends(require(Permission.SEARCH))],
    exports: Annotated[ExportService, Depends(export_service)],
) -> StreamingResponse:
    """Export sightings for a case, as a ZIP streamed back; audited with the reason or case number."""
    export = exports.create(user, order(body))
    return StreamingResponse(
        export.chunks,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{export.export_id}.zip"'},
    )
