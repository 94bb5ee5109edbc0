"""Watch-list entries (faces from photos, plates by pattern), alerts and their acknowledgement, and
the ``/api/live`` WebSocket. Every watch-list change is audited with its reason."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, WebSocket, status
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from skynet.accounts.model import Permission, User
from skynet.alerts.events import EventType
from skynet.alerts.hub import LiveHub
from skynet.api.deps import live_hub, require, require_stream, settings_of, watchlist_service
from skynet.api.schemas import (
    AcknowledgeAll,
    AcknowledgedOut,
    AcknowledgeRequest,
    AlertOut,
    ErrorBody,
    Reason,
    WatchlistOut,
)
from skynet.api.uploads import read_upload
from skynet.config import Settings
from skynet.records import SightingKind
from skynet.services.watchlists import MAX_PHOTOS, EntryState, Photo, WatchlistService

EntryId = Annotated[int, PathParam(ge=1, le=2**62)]
Editor = Annotated[User, Depends(require(Permission.MANAGE_WATCHLISTS))]
Handler = Annotated[User, Depends(require(Permission.HANDLE_ALERTS))]
Watchlists = Annotated[WatchlistService, Depends(watchlist_service)]

router = APIRouter(
    tags=["watch-lists and alerts"],
    responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404, 413, 415, 422)},
)


@router.post("/api/watchlist", response_model=WatchlistOut, status_code=status.HTTP_201_CREATED)
async def add_entry(
    user: Editor,
    watchlists: Watchlists,
    settings: Annotated[Settings, Depends(settings_of)],
    kind: Annotated[SightingKind, Form()],
    label: Annotated[str, Form(min_length=1, max_length=200)],
    reason: Annotated[Reason, Form()],
    photos: Annotated[
        list[UploadFile] | None,
        File(description=f"kind=face: 1 to {MAX_PHOTOS} photos, the largest face of each is used."),
    ] = None,
    pattern: Annotated[
        str | None,
        Form(
            max_length=20,
            description=("kind=plate: an exact plate or a wildcard pattern (* any run, ? one character)."),
        ),
    ] = None,
    identity: Annotated[
        str | None,
        Form(max_length=64, description="kind=identity: the identity key (an ID-card number, ...) to watch for."),
    ] = None,
    id_type: Annotated[
        str | None, Form(max_length=20, description="kind=identity: cn_id (default), passport or other.")
    ] = None,
    expires_at: Annotated[float | None, Form(description="Unix time the entry stops matching.")] = None,
    min_similarity: Annotated[
        float | None,
        Form(
            ge=-1.0,
            le=1.0,
            description=("kind=face: similarity a sighting must reach; default SKYNET_WATCHLIST_MIN_SIMILARITY."),
        ),
    ] = None,
    cooldown_s: Annotated[
        float | None,
        Form(
            ge=0,
            le=7 * 86400,
            description="A later pass at a camera this soon (seconds) after its alert there is added to that alert; "
            "default SKYNET_ALERT_COOLDOWN_S.",
        ),
    ] = None,
) -> WatchlistOut:
    """Add a face (from photos), plate (exact or wildcard) or identity key (registrations) to watch for."""
    read = [Photo(p.filename, await read_upload(p, settings.max_image_bytes)) for p in photos] if photos else None
    watched = await run_in_threadpool(
        watchlists.add,
        user,
        kind,
        label,
        reason,
        read,
        pattern,
        expires_at,
        min_similarity,
        cooldown_s,
        identity,
        id_type,
    )
    return WatchlistOut.of(watched)


@router.get("/api/watchlist", response_model=list[WatchlistOut])
def list_entries(user: Handler, watchlists: Watchlists, state: EntryState = "active") -> list[WatchlistOut]:
    """Watch-list entries: the active ones (default), the expired ones, or all."""
    return [WatchlistOut.of(w) for w in watchlists.entries(state)]


@router.delete("/api/watchlist/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_entry(
    entry_id: EntryId, user: Editor, watchlists: Watchlists, reason: Annotated[Reason, Query()]
) -> Response:
    """Remove an entry: it matches no more, its photos and embeddings go; its alerts (and the entry's label and
    reason, which they name) stay."""
    watchlists.delete(user, entry_id, reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/alerts", response_model=list[AlertOut])
def list_alerts(
    user: Handler, watchlists: Watchlists, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AlertOut]:
    """The newest alerts first."""
    return [AlertOut.of(a) for a in watchlists.alerts(limit)]


@router.post("/api/alerts/ack", response_model=AcknowledgedOut)
def acknowledge_all(body: AcknowledgeAll, user: Handler, watchlists: Watchlists) -> AcknowledgedOut:
    """Mark every open alert handled, or every open alert of one entry; audited once with the reason."""
    ids = watchlists.acknowledge_all(user, body.reason, body.entry_id)
    return AcknowledgedOut(acknowledged=len(ids), alert_ids=ids)


@router.post("/api/alerts/{alert_id}/ack", response_model=AlertOut)
def acknowledge(alert_id: EntryId, body: AcknowledgeRequest, user: Handler, watchlists: Watchlists) -> AlertOut:
    """Mark an alert handled, with the reason or case number (the first acknowledgement is kept; every one is
    audited). Its sighting becomes held evidence: no retention or re-index deletes it."""
    return AlertOut.of(watchlists.acknowledge(user, alert_id, body.reason))


@router.websocket("/api/live")
async def live(
    websocket: WebSocket,
    user: Annotated[User, Depends(require_stream(Permission.HANDLE_ALERTS))],
    hub: Annotated[LiveHub, Depends(live_hub)],
    types: Annotated[list[EventType] | None, Query()] = None,
) -> None:
    """Alerts, sightings and camera status as JSON messages (``?types=alert`` to choose). Authenticated
    with the Authorization header or, from a browser, a ticket from POST /api/stream-tickets as ?ticket=."""
    await hub.serve(websocket, types)
