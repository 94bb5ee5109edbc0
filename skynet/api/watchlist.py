"""Watch-list entries (faces from photos, plates by pattern), alerts and their acknowledgement, and
the ``/api/live`` WebSocket. Every watch-list change is audited with its reason."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, WebSocket, status
from fastapi import Path as PathParam

from skynet.accounts.model import Permission, User
from skynet.alerts.events import EventType
from skynet.api.schemas import AlertOut, ErrorBody, Reason, WatchlistOut
from skynet.api.services import Services
from skynet.api.uploads import face_from_upload
from skynet.errors import InvalidInputError, NotFoundError, UnusableInputError
from skynet.records import SightingKind, WatchlistEntry
from skynet.store import plate_search

MAX_PHOTOS = 20
EntryId = Annotated[int, PathParam(ge=1, le=2**62)]


def router(services: Services) -> APIRouter:
    api = APIRouter(
        tags=["watch-lists and alerts"],
        responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404, 413, 415, 422)},
    )
    editor = services.auth.require(Permission.MANAGE_WATCHLISTS)
    handler = services.auth.require(Permission.HANDLE_ALERTS)
    store = services.catalog.store

    @api.post("/api/watchlist", response_model=WatchlistOut, status_code=status.HTTP_201_CREATED)
    async def add_entry(
        user: Annotated[User, Depends(editor)],
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
        expires_at: Annotated[float | None, Form(description="Unix time the entry stops matching.")] = None,
        min_similarity: Annotated[
            float | None,
            Form(
                ge=-1.0,
                le=1.0,
                description=("kind=face: similarity a sighting must reach; default SKYNET_WATCHLIST_MIN_SIMILARITY."),
            ),
        ] = None,
    ) -> WatchlistOut:
        """Add a face (from photos) or plate (exact or wildcard) to watch for."""
        now = services.clock()
        if expires_at is not None and expires_at <= now:
            raise UnusableInputError("expires_at is in the past")
        embeddings: tuple = ()
        kept: list[bytes] = []
        if kind is SightingKind.FACE:
            if not photos or pattern is not None:
                raise InvalidInputError("a face entry needs 'photos' and no 'pattern'")
            if len(photos) > MAX_PHOTOS:
                raise InvalidInputError(f"at most {MAX_PHOTOS} photos per entry")
            embeddings = tuple([(await face_from_upload(services, photo, None))[0] for photo in photos])
            kept = [await _photo_bytes(photo) for photo in photos]  # re-embedded if the model pack changes
        else:
            if not pattern or photos:
                raise InvalidInputError("a plate entry needs a 'pattern' and no 'photos'")
            plate_search.wildcard_plan(pattern)  # QueryError (400) for a bad or too broad pattern
            pattern = plate_search.clean(pattern)
        entry = WatchlistEntry(
            kind,
            label,
            reason,
            user.name,
            now,
            expires_at,
            pattern,
            embeddings,
            min_similarity if kind is SightingKind.FACE else None,
        )
        entry_id = store.watchlists.add(entry, model=services.catalog.live_model, photos=kept)
        services.audit(
            user,
            "watchlist.add",
            reason,
            {
                "entry": entry_id,
                "kind": kind.value,
                "label": label,
                "pattern": pattern,
                "photos": len(embeddings),
                "expires_at": expires_at,
            },
        )
        services.on_watchlist_change()
        return WatchlistOut.of(_find(services, entry_id), now)

    @api.get("/api/watchlist", response_model=list[WatchlistOut])
    def list_entries(
        user: Annotated[User, Depends(handler)], state: Literal["active", "expired", "all"] = "active"
    ) -> list[WatchlistOut]:
        """Watch-list entries: the active ones (default), the expired ones, or all."""
        now = services.clock()
        entries = [WatchlistOut.of(e, now) for e in store.watchlists.all()]
        return [e for e in entries if state == "all" or e.active == (state == "active")]

    @api.delete("/api/watchlist/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_entry(
        entry_id: EntryId, user: Annotated[User, Depends(editor)], reason: Annotated[Reason, Query()]
    ) -> Response:
        """Remove an entry (its alerts go with it)."""
        entry = _find(services, entry_id)
        store.watchlists.delete(entry_id)
        services.audit(
            user, "watchlist.delete", reason, {"entry": entry_id, "kind": entry.kind.value, "label": entry.label}
        )
        services.on_watchlist_change()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.get("/api/alerts", response_model=list[AlertOut])
    def list_alerts(
        user: Annotated[User, Depends(handler)], limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[AlertOut]:
        """The newest alerts first."""
        return [AlertOut.of(a) for a in store.alerts.latest(limit)]

    @api.post("/api/alerts/{alert_id}/ack", response_model=AlertOut)
    def acknowledge(alert_id: EntryId, user: Annotated[User, Depends(handler)]) -> AlertOut:
        """Mark an alert handled (the first acknowledgement is kept; every one is audited)."""
        alert = store.alerts.acknowledge(alert_id, user.name, services.clock())
        if alert is None:
            raise NotFoundError(f"no alert with id {alert_id}")
        services.audit(user, "alert.ack", None, {"alert": alert_id, "acknowledged_by": alert.acknowledged_by})
        return AlertOut.of(alert)

    @api.websocket("/api/live")
    async def live(
        websocket: WebSocket,
        user: Annotated[User, Depends(services.auth.require_stream(Permission.HANDLE_ALERTS))],
        types: Annotated[list[EventType] | None, Query()] = None,
    ) -> None:
        """Alerts, sightings and camera status as JSON messages (``?types=alert`` to choose). Authenticated
        with the Authorization header or, from a browser, a ticket from POST /api/stream-tickets as ?ticket=."""
        await services.hub.serve(websocket, types)

    return api


async def _photo_bytes(photo: UploadFile) -> bytes:
    """The bytes of an upload already read (and size-checked) by :func:`face_from_upload`."""
    await photo.seek(0)
    return await photo.read()


def _find(services: Services, entry_id: int) -> WatchlistEntry:
    for entry in services.catalog.store.watchlists.all():
        if entry.id == entry_id:
            return entry
    raise NotFoundError(f"no watch-list entry with id {entry_id}")
