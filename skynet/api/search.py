"""Face and plate search and trajectories; every query is audited with the reason given."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from skynet.accounts.model import Permission, User
from skynet.api.deps import SearchSlots, face_queries, require, search_service, search_slots, trajectory_service
from skynet.api.schemas import (
    BoxOut,
    ErrorBody,
    FaceMatch,
    FaceSearchResponse,
    PlateMatch,
    PlateSearchResponse,
    Reason,
    SightingOut,
    TimeRange,
    TrajectoryResponse,
)
from skynet.api.uploads import query_face
from skynet.records import Box
from skynet.services.faces import FaceQueries, SimilarityBands
from skynet.services.search import Filters, SearchService
from skynet.services.sightings import Found, media_url
from skynet.services.trajectory import Traced, TrajectoryService
from skynet.store.plates import PlateMode
from skynet.trajectory import trajectory_json

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 415, 422, 503)
}

# Form fields shared by the face search and the face trajectory.
ImageFile = Annotated[UploadFile | None, File(description="A photo holding the face (JPEG, PNG, ...).")]
SightingId = Annotated[int | None, Form(ge=1, description="Search with this face sighting instead of a photo.")]
FaceIndex = Annotated[int | None, Form(ge=0, le=1000, description="Which face of the photo; default the largest.")]
Since = Annotated[float | None, Form(description="Earliest best-view time (Unix seconds).")]
Until = Annotated[float | None, Form(description="Latest best-view time (Unix seconds).")]
Cameras = Annotated[list[str] | None, Form(description="Only these camera ids.")]

Searcher = Annotated[User, Depends(require(Permission.SEARCH))]
Search = Annotated[SearchService, Depends(search_service)]
Trajectories = Annotated[TrajectoryService, Depends(trajectory_service)]
Faces = Annotated[FaceQueries, Depends(face_queries)]
Slots = Annotated[SearchSlots, Depends(search_slots)]

router = APIRouter(tags=["search"], responses=ERRORS)


def _box(box: Box | None) -> BoxOut | None:
    return None if box is None else BoxOut(x1=box.x1, y1=box.y1, x2=box.x2, y2=box.y2)


def _face_match(found: Found, bands: SimilarityBands) -> FaceMatch:
    similarity = found.similarity or 0.0
    return FaceMatch(
        similarity=similarity,
        band=bands.band(similarity),
        below_threshold=similarity < bands.match,
        sighting=SightingOut.of(found),
    )


def trajectory_response(traced: Traced) -> TrajectoryResponse:
    result = trajectory_json(traced.trajectory)
    for stop in result["stops"]:
        best = stop["best_sighting_id"]
        stop["thumbnail_url"] = media_url(best, "thumbnail") if best and stop["thumbnail_path"] else None
    return TrajectoryResponse(sightings=traced.sightings, **result)


@router.post("/api/search/face", response_model=FaceSearchResponse)
async def search_face(
    user: Searcher,
    search: Search,
    faces: Faces,
    slots: Slots,
    reason: Annotated[Reason, Form()],
    image: ImageFile = None,
    sighting_id: SightingId = None,
    face_index: FaceIndex = None,
    top_k: Annotated[int, Form(ge=1, le=1000)] = 20,
    min_similarity: Annotated[
        float | None,
        Form(ge=-1.0, le=1.0, description="Least similarity returned; default the calibrated threshold."),
    ] = None,
    include_weaker: Annotated[
        bool, Form(description="Also return results under the calibrated threshold (marked below_threshold).")
    ] = False,
    since: Since = None,
    until: Until = None,
    cameras: Cameras = None,
) -> Response:
    """Sightings of the face in a photo (or of a face sighting), most similar first: those that reach the
    calibrated threshold, or also weaker ones on request (``include_weaker`` or a lower ``min_similarity``),
    each with its band (match / possible / unlikely)."""
    query = await query_face(faces, image, sighting_id, face_index)

    def run() -> Response:  # index and store calls, off the event loop
        filters = Filters(since, until, cameras)
        found = search.search_faces(user, reason, query, top_k, min_similarity, filters, include_weaker)
        answer = FaceSearchResponse(
            query_box=_box(query.box),
            faces_in_image=query.faces_in_image,
            threshold=search.bands.match,
            min_similarity=search.face_floor(min_similarity, include_weaker),
            results=[_face_match(f, search.bands) for f in found],
            incomplete=[TimeRange(since=a, until=b) for a, b in found.incomplete],
        )
        # serialised here, in the search's thread: the model is built and valid, so FastAPI need
        # not validate it again on the event loop (the schema still documents it)
        return Response(answer.model_dump_json(), media_type="application/json")

    return await slots.run(run)


@router.get("/api/search/plate", response_model=PlateSearchResponse)
def search_plate(
    user: Searcher,
    search: Search,
    q: Annotated[str, Query(min_length=1, max_length=20)],
    reason: Annotated[Reason, Query()],
    mode: PlateMode = PlateMode.FUZZY,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    since: float | None = None,
    until: float | None = None,
    cameras: Annotated[list[str] | None, Query()] = None,
) -> PlateSearchResponse:
    """Plate sightings whose text matches ``q`` exactly, by wildcard (``*``, ``?``) or fuzzily."""
    found = search.search_plates(user, reason, q, mode, limit, Filters(since, until, cameras))
    return PlateSearchResponse(
        results=[
            PlateMatch(
                match=PlateMode.EXACT if mode is PlateMode.FUZZY and not f.plate_distance else mode,
                distance=f.plate_distance or 0.0,
                matched_read=f.matched_read or "",
                sighting=SightingOut.of(f),
            )
            for f in found
        ]
    )


@router.get("/api/trajectory/identity-key", response_model=TrajectoryResponse)
def identity_trajectory(
    user: Searcher,
    trajectories: Trajectories,
    identity: Annotated[str, Query(min_length=4, max_length=64, description="The identity key.")],
    reason: Annotated[Reason, Query()],
    id_type: Annotated[str | None, Query(max_length=20, description="cn_id (default), passport, other.")] = None,
    max_speed_kmh: Annotated[float | None, Query(gt=0, le=10_000)] = None,
) -> TrajectoryResponse:
    """Where a person was registered (hotels, internet cafés, residence offices), by identity key: stops in
    time order at the registering places, moves between them (the key masked in the audit log)."""
    return trajectory_response(trajectories.of_identity_key(user, reason, identity, id_type, max_speed_kmh))


@router.post("/api/trajectory", response_model=TrajectoryResponse)
async def face_trajectory(
    user: Searcher,
    trajectories: Trajectories,
    faces: Faces,
    slots: Slots,
    reason: Annotated[Reason, Form()],
    image: ImageFile = None,
    sighting_id: SightingId = None,
    face_index: FaceIndex = None,
    min_similarity: Annotated[
        float | None,
        Form(ge=-1.0, le=1.0, description=("Default: the watch-list threshold (SKYNET_WATCHLIST_MIN_SIMILARITY).")),
    ] = None,
    since: Since = None,
    until: Until = None,
    cameras: Cameras = None,
    max_speed_kmh: Annotated[float | None, Form(gt=0, le=10_000)] = None,
) -> TrajectoryResponse:
    """Where a face was seen: stops in time order, moves between cameras, a GeoJSON path."""
    query = await query_face(faces, image, sighting_id, face_index)
    filters = Filters(since, until, cameras)
    return await slots.run(
        lambda: trajectory_response(trajectories.of_face(user, reason, query, min_similarity, filters, max_speed_kmh))
    )


@router.get("/api/trajectory/plate", response_model=TrajectoryResponse)
def plate_trajectory(
    user: Searcher,
    trajectories: Trajectories,
    q: Annotated[str, Query(min_length=1, max_length=20)],
    reason: Annotated[Reason, Query()],
    mode: PlateMode = PlateMode.EXACT,
    since: float | None = None,
    until: float | None = None,
    cameras: Annotated[list[str] | None, Query()] = None,
    max_speed_kmh: Annotated[float | None, Query(gt=0, le=10_000)] = None,
) -> TrajectoryResponse:
    """Where a plate was seen (exact by default): stops, moves between cameras, a GeoJSON path."""
    return trajectory_response(
        trajectories.of_plate(user, reason, q, mode, Filters(since, until, cameras), max_speed_kmh)
    )
