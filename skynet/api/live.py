"""The ``/api/live`` WebSocket: what each user's live stream carries, and its end when its token stops
counting (:mod:`skynet.api.open_streams`).

Every role that handles alerts gets ``alert`` and ``camera_status`` events; ``sighting`` events (every
new sighting, plates included) only roles that may search (investigators, admins): an operator sees what
their alerts and cameras show, and asking for sightings is refused (1008) and audited. The media links of
an alert or a sighting are made for the subscriber's token (:mod:`skynet.services.media_links`).
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from typing import Annotated

from fastapi import APIRouter, Depends, Query, WebSocket, WebSocketException, status

from skynet.accounts.model import Permission, User
from skynet.alerts.events import EventType, LiveEvent
from skynet.alerts.hub import LiveHub, View
from skynet.api.deps import AuthOf, live_hub, media_links, require_stream
from skynet.api.watchlist import alert_context
from skynet.errors import ForbiddenError
from skynet.services.media_links import Linker, MediaLinks

LIVE_CONTEXT = "live"
"""The context of the media links of live sighting events."""

router = APIRouter(tags=["watch-lists and alerts"])


def live_view(user: User, links: MediaLinks) -> View:
    """What ``user`` sees of each event: alerts and sightings with media links made for them."""

    def view(event: LiveEvent) -> LiveEvent | None:
        if event.type is EventType.CAMERA_STATUS:
            return event
        if event.type is EventType.SIGHTING:
            return LiveEvent(event.type, event.at, _linked(event.data, links.linker(user, LIVE_CONTEXT)))
        link = links.linker(user, alert_context(event.data["alert_id"]))
        return LiveEvent(event.type, event.at, {**event.data, "sighting": _linked(event.data["sighting"], link)})

    return view


def _linked(sighting: dict, link: Linker) -> dict:
    sid = sighting["id"]
    return {**sighting, "thumbnail_url": link(sid, "thumbnail"), "context_url": link(sid, "context")}


@router.websocket("/api/live")
async def live(
    websocket: WebSocket,
    user: Annotated[User, Depends(require_stream(Permission.HANDLE_ALERTS))],
    hub: Annotated[LiveHub, Depends(live_hub)],
    links: Annotated[MediaLinks, Depends(media_links)],
    auth: AuthOf,
    types: Annotated[list[EventType] | None, Query()] = None,
) -> None:
    """Alerts and camera status (and, for roles that may search, new sightings) as JSON messages
    (``?types=alert`` to choose). Authenticated with the Authorization header or, from a browser, a ticket
    from POST /api/stream-tickets as ?ticket=. Closed (code 1008, with the reason) when its token is
    revoked or expires, or its user is disabled or gets another role."""
    wanted = set(types or EventType)
    if EventType.SIGHTING in wanted and not user.may(Permission.SEARCH):
        if types:  # asked for by name: refused, and the refusal audited
            try:
                await auth.permitted(websocket, user, Permission.SEARCH)
            except ForbiddenError as error:
                raise WebSocketException(status.WS_1008_POLICY_VIOLATION, reason=error.message) from None
        wanted.discard(EventType.SIGHTING)
    with auth.streams.opened(user) as stream:
        await hub.serve(websocket, wanted, view=live_view(user, links), until=stream.ended)
