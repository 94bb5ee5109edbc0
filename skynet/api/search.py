"""Face and plate search and trajectories; every query is audited with the reason given."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from skynet.accounts.model import Permission, User
from skynet.api.schemas import (
    BoxOut,
    ErrorBody,
    FaceMatch,
    FaceSearchResponse,
    PlateMatch,
    PlateSearchResponse,
    Reason,
    SightingOut,
    TrajectoryResponse,
)
from skynet.api.services import Services
from skynet.api.uploads import query_face
from skynet.errors import InvalidInputError
from skynet.records import Box, Sighting
from skynet.store.plates import PlateMode
from skynet.trajectory import TrajectoryOptions, build_trajectory, trajectory_json

TRAJECTORY_LIMIT = 1000
"""At most this many sightings make one trajectory."""

ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 415, 422, 503)}

# Form fields shared by the face search and the face trajectory.
ImageFile = Annotated[UploadFile | None, File(description="A photo holding the face (JPEG, PNG, ...).")]
SightingId = Annotated[int | None, Form(ge=1, description="Search with this face sighting instead of a photo.")]
FaceIndex = Annotated[int | None, Form(ge=0, le=1000, description="Which face of the photo; default the largest.")]
Since = Annotated[float | None, Form(description="Earliest best-view time (Unix seconds).")]
Until = Annotated[float | None, Form(description="Latest best-view time (Unix seconds).")]
Cameras = Annotated[list[str] | None, Form(description="Only these camera ids.")]


def _box(box: Box | None) -> BoxOut | None:
    return None if box is None else BoxOut(x1=box.x1, y1=box.y1, x2=box.x2, y2=box.y2)


def _load(services: Services, ids: list[int]) -> list[Sighting]:
    return services.catalog.store.sightings.get_many(ids)


def router(services: Services) -> APIRouter:
    api = APIRouter(tags=["search"], responses=ERRORS)
    searcher = services.auth.require(Permission.SEARCH)
    store = services.catalog.store

    @api.post("/api/search/face", response_model=FaceSearchResponse)
    async def search_face(
        user: Annotated[User, Depends(searcher)],
        reason: Annotated[Reason, Form()],
        image: ImageFile = None,
        sighting_id: SightingId = None,
        face_index: FaceIndex = None,
        top_k: Annotated[int, Form(ge=1, le=1000)] = 20,
        min_similarity: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
        since: Since = None,
        until: Until = None,
        cameras: Cameras = None,
    ) -> Response:
        """Sightings of the face in a photo (or of a face sighting), most similar first."""
        query = await query_face(services, image, sighting_id, face_index)

        def run() -> Response:  # index and store calls, off the event loop
            hits = services.catalog.search_faces(
                query.embedding(services),
                top_k,
                since=since,
                until=until,
                cameras=cameras,
                min_similarity=min_similarity,
            )
            services.audit(
                user,
                "search.face",
                reason,
                {
                    "image": image.filename if image else None,
                    "sighting_id": sighting_id,
                    "top_k": top_k,
                    "min_similarity": min_similarity,
                    "since": since,
                    "until": until,
                    "cameras": cameras,
                    "results": len(hits),
                },
            )
            by_id = {s.id: s for s in _load(services, [h.sighting_id for h in hits])}
            names = {c.id: c for c in store.cameras.all()}
            results = [
                FaceMatch(similarity=h.similarity, sighting=SightingOut.of(by_id[h.sighting_id], names))
                for h in hits
                if h.sighting_id in by_id
            ]
            found = FaceSearchResponse(query_box=_box(query.box), faces_in_image=query.faces_in_image, results=results)
            # serialised here, in the search's thread: the model is built and valid, so FastAPI need
            # not validate it again on the event loop (the schema still documents it)
            return Response(found.model_dump_json(), media_type="application/json")

        return await services.run_search(run)

    @api.get("/api/search/plate", response_model=PlateSearchResponse)
    def search_plate(
        user: Annotated[User, Depends(searcher)],
        q: Annotated[str, Query(min_length=1, max_length=20)],
        reason: Annotated[Reason, Query()],
        mode: PlateMode = PlateMode.FUZZY,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        since: float | None = None,
        until: float | None = None,
        cameras: Annotated[list[str] | None, Query()] = None,
    ) -> PlateSearchResponse:
        """Plate sightings whose text matches ``q`` exactly, by wildcard (``*``, ``?``) or fuzzily."""
        hits = store.plates.search(q, mode, limit=limit, since=since, until=until, cameras=cameras)
        services.audit(
            user,
            "search.plate",
            reason,
            {"q": q, "mode": mode.value, "since": since, "until": until, "cameras": cameras, "results": len(hits)},
        )
        by_id = {s.id: s for s in _load(services, [h.sighting_id for h in hits])}
        names = {c.id: c for c in store.cameras.all()}
        return PlateSearchResponse(
            results=[
                PlateMatch(
                    distance=h.distance,
                    matched_read=h.matched_read,
                    sighting=SightingOut.of(by_id[h.sighting_id], names),
                )
                for h in hits
                if h.sighting_id in by_id
            ]
        )

    @api.post("/api/trajectory", response_model=TrajectoryResponse)
    async def face_trajectory(
        user: Annotated[User, Depends(searcher)],
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
        query = await query_face(services, image, sighting_id, face_index)
        threshold = services.settings.watchlist_min_similarity if min_similarity is None else min_similarity

        def run() -> TrajectoryResponse:  # index and store calls, off the event loop
            hits = services.catalog.search_faces(
                query.embedding(services),
                TRAJECTORY_LIMIT,
                since=since,
                until=until,
                cameras=cameras,
                min_similarity=threshold,
            )
            services.audit(
                user,
                "trajectory.face",
                reason,
                {
                    "image": image.filename if image else None,
                    "sighting_id": sighting_id,
                    "min_similarity": threshold,
                    "since": since,
                    "until": until,
                    "cameras": cameras,
                    "sightings": len(hits),
                },
            )
            return _trajectory(services, _load(services, [h.sighting_id for h in hits]), max_speed_kmh)

        return await services.run_search(run)

    @api.get("/api/trajectory/plate", response_model=TrajectoryResponse)
    def plate_trajectory(
        user: Annotated[User, Depends(searcher)],
        q: Annotated[str, Query(min_length=1, max_length=20)],
        reason: Annotated[Reason, Query()],
        mode: PlateMode = PlateMode.EXACT,
        since: float | None = None,
        until: float | None = None,
        cameras: Annotated[list[str] | None, Query()] = None,
        max_speed_kmh: Annotated[float | None, Query(gt=0, le=10_000)] = None,
    ) -> TrajectoryResponse:
        """Where a plate was seen (exact by default): stops, moves between cameras, a GeoJSON path."""
        hits = store.plates.search(q, mode, limit=TRAJECTORY_LIMIT, since=since, until=until, cameras=cameras)
        services.audit(
            user,
            "trajectory.plate",
            reason,
            {"q": q, "mode": mode.value, "since": since, "until": until, "cameras": cameras, "sightings": len(hits)},
        )
        return _trajectory(services, _load(services, [h.sighting_id for h in hits]), max_speed_kmh)

    return api


def _trajectory(services: Services, sightings: list[Sighting], max_speed_kmh: float | None) -> TrajectoryResponse:
    options = TrajectoryOptions() if max_speed_kmh is None else TrajectoryOptions(max_speed_kmh=max_speed_kmh)
    try:
        trajectory = build_trajectory(sightings, services.catalog.store.cameras.all(), options)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    result = trajectory_json(trajectory)
    for stop in result["stops"]:
        best = stop["best_sighting_id"]
        stop["thumbnail_url"] = f"/api/sightings/{best}/thumbnail" if best and stop["thumbnail_path"] else None
    return TrajectoryResponse(sightings=len(sightings), **result)
