"""The investigative analyses (:mod:`skynet.services.analytics`): each its own permission, granted by an
admin; each needs a reason and is audited. ``"export": true`` answers with the evidence ZIP of the
sightings found (``analysis.json`` beside the usual files) instead of JSON."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from skynet.accounts.model import Permission, User
from skynet.api.analytics_schemas import (
    AreaIn,
    ClonedPlateOut,
    ClonedPlatesRequest,
    CompanionOut,
    CompanionsRequest,
    CompanionsResponse,
    FirstSeenOut,
    FirstSeenRequest,
    IntersectionOut,
    IntersectionsRequest,
    NightActivityOut,
    NightActivityRequest,
)
from skynet.api.deps import analytics_service, export_service, require, sighting_service
from skynet.api.schemas import ErrorBody, SightingOut
from skynet.services.analytics import AnalyticsService, Area, Place, Target
from skynet.services.export import ExportOrder, ExportService
from skynet.services.sightings import SightingService
from skynet.store.identities import identity_of

Analytics = Annotated[AnalyticsService, Depends(analytics_service)]
Exports = Annotated[ExportService, Depends(export_service)]
Sightings = Annotated[SightingService, Depends(sighting_service)]

router = APIRouter(tags=["analytics"], responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404, 422)})
OR_ZIP: dict[int | str, dict] = {
    200: {
        "description": 'What the analysis found; with "export": true, the evidence ZIP of its sightings instead.',
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _area(area: AreaIn) -> Area:
    return Area(tuple(area.cameras), area.latitude, area.longitude, area.radius_m)


def _answer(
    user: User,
    body: BaseModel,
    export: bool,
    ids: Iterable[int],
    result: BaseModel,
    exports: ExportService,
) -> Response:
    """``result`` as JSON, or (``export``) the evidence ZIP of sightings ``ids`` with ``result`` in it."""
    if not export:
        return Response(result.model_dump_json(), media_type="application/json")
    request = body.model_dump(mode="json")
    order = ExportOrder(
        reason=str(request["reason"]),
        request=request,
        sighting_ids=sorted(set(ids)),
        limit=len(set(ids)),
        analysis=result.model_dump(mode="json"),
    )
    made = exports.create(user, order)
    return StreamingResponse(
        made.chunks,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{made.export_id}.zip"'},
    )


def _sightings(sightings: SightingService, ids: Iterable[int]) -> Callable[[int], SightingOut]:
    """Sighting ``id`` as the API shows it, of those ``ids`` (read from the store at once)."""
    by_id = {f.sighting.id: SightingOut.of(f) for f in sightings.found(list(dict.fromkeys(ids)))}
    return lambda sighting_id: by_id[sighting_id]


class ClonedPlatesResponse(BaseModel):
    candidates: list[ClonedPlateOut]


@router.post("/api/analytics/cloned-plates", response_model=ClonedPlatesResponse, responses=OR_ZIP)
def find_cloned_plates(
    body: ClonedPlatesRequest,
    user: Annotated[User, Depends(require(Permission.ANALYZE_CLONED_PLATES))],
    analytics: Analytics,
    sightings: Sightings,
    exports: Exports,
) -> Response:
    """Cloned-plate candidates: one plate at two places too far apart for the time between, both sightings
    side by side, the most implausible first."""
    found = analytics.cloned_plates(
        user,
        body.reason,
        body.since,
        body.until,
        None if body.area is None else _area(body.area),
        body.max_speed_kmh,
        body.limit,
    )
    ids = [i for c in found for i in (c.first.sighting_id, c.second.sighting_id)]
    shown = _sightings(sightings, ids)
    result = ClonedPlatesResponse(
        candidates=[
            ClonedPlateOut(
                plate=c.plate,
                first=shown(c.first.sighting_id),
                second=shown(c.second.sighting_id),
                distance_m=round(c.distance_m, 1),
                gap_s=round(c.gap_s, 3),
                speed_kmh=None if c.speed_kmh == float("inf") else round(c.speed_kmh, 1),
                simultaneous=c.speed_kmh == float("inf"),
                implausible_moves=c.moves,
            )
            for c in found
        ]
    )
    return _answer(user, body, body.export, ids, result, exports)


@router.post("/api/analytics/companions", response_model=CompanionsResponse, responses=OR_ZIP)
def find_companions(
    body: CompanionsRequest,
    user: Annotated[User, Depends(require(Permission.ANALYZE_COMPANIONS))],
    analytics: Analytics,
    sightings: Sightings,
    exports: Exports,
) -> Response:
    """Plates and unknown-face identities seen within ``window_s`` of a target's passes at ``min_cameras`` or
    more distinct cameras, ranked by cameras, then by how unlikely that is by chance."""
    target = Target(body.target.plate, body.target.face_sighting_id, body.target.identity_id)
    passes, found = analytics.companions(
        user, body.reason, target, body.since, body.until, body.window_s, body.min_cameras, body.limit
    )
    result = CompanionsResponse(
        target_sightings=[p.sighting_id for p in passes],
        companions=[
            CompanionOut(
                key=c.key,
                identity_id=identity_of(c.key),
                cameras=list(c.cameras),
                surprise=c.surprise,
                pairs=[{"sighting_id": mine, "target_sighting_id": theirs} for mine, theirs in c.with_target],
            )
            for c in found
        ],
    )
    ids = [p.sighting_id for p in passes] + [i for c in found for pair in c.with_target for i in pair]
    return _answer(user, body, body.export, ids, result, exports)


class IntersectionsResponse(BaseModel):
    present: list[IntersectionOut]


@router.post("/api/analytics/intersections", response_model=IntersectionsResponse, responses=OR_ZIP)
def find_intersections(
    body: IntersectionsRequest,
    user: Annotated[User, Depends(require(Permission.ANALYZE_INTERSECTIONS))],
    analytics: Analytics,
    exports: Exports,
) -> Response:
    """Plates and unknown-face identities present at every place and time given (or at ``min_places``)."""
    places = [Place(_area(p.area), p.since, p.until) for p in body.places]
    found = analytics.intersections(user, body.reason, places, body.min_places)
    result = IntersectionsResponse(
        present=[IntersectionOut(key=p.key, identity_id=identity_of(p.key), places=list(p.at)) for p in found]
    )
    return _answer(user, body, body.export, [], result, exports)


class FirstSeenResponse(BaseModel):
    plates: list[FirstSeenOut]


@router.post("/api/analytics/first-seen", response_model=FirstSeenResponse, responses=OR_ZIP)
def find_first_seen(
    body: FirstSeenRequest,
    user: Annotated[User, Depends(require(Permission.ANALYZE_PATTERNS))],
    analytics: Analytics,
    sightings: Sightings,
    exports: Exports,
) -> Response:
    """Plates seen in an area during a period and never in the look-back before it, earliest first."""
    found = analytics.first_seen(
        user, body.reason, _area(body.area), body.since, body.until, body.lookback_days * 86400, body.limit
    )
    shown = _sightings(sightings, [f.first.sighting_id for f in found])
    result = FirstSeenResponse(
        plates=[FirstSeenOut(plate=f.key, first=shown(f.first.sighting_id), sightings=f.sightings) for f in found]
    )
    return _answer(user, body, body.export, [f.first.sighting_id for f in found], result, exports)


class NightActivityResponse(BaseModel):
    plates: list[NightActivityOut]
    night_hours: list[int] = Field(description="[start, end) local hours counted as night.")


@router.post("/api/analytics/night-activity", response_model=NightActivityResponse, responses=OR_ZIP)
def find_night_activity(
    body: NightActivityRequest,
    user: Annotated[User, Depends(require(Permission.ANALYZE_PATTERNS))],
    analytics: Analytics,
    exports: Exports,
) -> Response:
    """Plates seen in an area mostly at night."""
    found = analytics.night_activity(
        user, body.reason, _area(body.area), body.since, body.until, body.min_sightings, body.min_fraction, body.limit
    )
    result = NightActivityResponse(
        plates=[
            NightActivityOut(
                plate=n.key,
                sightings=n.sightings,
                night=n.night,
                fraction=round(n.fraction, 3),
                night_sighting_ids=list(n.sighting_ids),
            )
            for n in found
        ],
        night_hours=list(analytics.settings.analysis_night_hours),
    )
    ids = [i for n in found for i in n.sighting_ids]
    return _answer(user, body, body.export, ids, result, exports)
