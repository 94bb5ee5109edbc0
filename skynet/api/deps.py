"""How routes reach the running system: FastAPI dependencies that read the use-case services (and the
authenticated user) from the system the composition root (:mod:`skynet.app`) put on
``app.state.system``. Tests replace any of them with ``app.dependency_overrides``. They are coroutines,
so that FastAPI calls them on the event loop instead of handing each to a worker thread."""

# No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations at run time.

import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Query, Request, WebSocketException, status
from fastapi.security import HTTPAuthorizationCredentials
from starlette.requests import HTTPConnection

from skynet.accounts.model import Permission, User
from skynet.alerts.hub import LiveHub
from skynet.api.auth import Auth, bearer
from skynet.config import Settings
from skynet.errors import SkynetError
from skynet.services.analytics import AnalyticsService
from skynet.services.audit import Auditor
from skynet.services.browse import BrowseService
from skynet.services.cameras import CameraService
from skynet.services.export import ExportService
from skynet.services.faces import FaceQueries
from skynet.services.feeds import FeedService
from skynet.services.holds import EvidenceHoldService
from skynet.services.identities import IdentityService
from skynet.services.identity_keys import IdentityKeyService
from skynet.services.jobs import JobService
from skynet.services.media_links import MediaLinks
from skynet.services.search import SearchService
from skynet.services.sightings import SightingService
from skynet.services.trajectory import TrajectoryService
from skynet.services.users import UserService
from skynet.services.watchlists import WatchlistService

T = TypeVar("T")


class ApiSystem(Protocol):
    """What the routes use of the running system (:class:`skynet.app.System`)."""

    settings: Settings
    auth: Auth
    hub: LiveHub
    search: SearchService
    analytics: AnalyticsService
    identities: IdentityService
    trajectories: TrajectoryService
    exports: ExportService
    faces: FaceQueries
    watchlists: WatchlistService
    cameras: CameraService
    jobs: JobService
    users: UserService
    sightings: SightingService
    auditor: Auditor
    feeds: FeedService
    identity_keys: IdentityKeyService
    browse: BrowseService
    holds: EvidenceHoldService


def system_of(connection: HTTPConnection) -> ApiSystem:
    """The running system of the app that serves ``connection``."""
    return connection.app.state.system


async def search_service(connection: HTTPConnection) -> SearchService:
    return system_of(connection).search


async def analytics_service(connection: HTTPConnection) -> AnalyticsService:
    return system_of(connection).analytics


async def identity_service(connection: HTTPConnection) -> IdentityService:
    return system_of(connection).identities


async def trajectory_service(connection: HTTPConnection) -> TrajectoryService:
    return system_of(connection).trajectories


async def export_service(connection: HTTPConnection) -> ExportService:
    return system_of(connection).exports


async def face_queries(connection: HTTPConnection) -> FaceQueries:
    return system_of(connection).faces


async def watchlist_service(connection: HTTPConnection) -> WatchlistService:
    return system_of(connection).watchlists


async def camera_service(connection: HTTPConnection) -> CameraService:
    return system_of(connection).cameras


async def job_service(connection: HTTPConnection) -> JobService:
    return system_of(connection).jobs


async def user_service(connection: HTTPConnection) -> UserService:
    return system_of(connection).users


async def sighting_service(connection: HTTPConnection) -> SightingService:
    return system_of(connection).sightings


async def media_links(connection: HTTPConnection) -> MediaLinks:
    return system_of(connection).sightings.links


async def browse_service(connection: HTTPConnection) -> BrowseService:
    return system_of(connection).browse


async def feed_service(connection: HTTPConnection) -> FeedService:
    return system_of(connection).feeds


async def identity_key_service(connection: HTTPConnection) -> IdentityKeyService:
    return system_of(connection).identity_keys


async def hold_service(connection: HTTPConnection) -> EvidenceHoldService:
    return system_of(connection).holds


async def auditor_of(connection: HTTPConnection) -> Auditor:
    return system_of(connection).auditor


async def live_hub(connection: HTTPConnection) -> LiveHub:
    return system_of(connection).hub


async def settings_of(connection: HTTPConnection) -> Settings:
    return system_of(connection).settings


# --- the current user ---------------------------------------------------------------------------


async def auth_of(connection: HTTPConnection) -> Auth:
    """The running system's :class:`Auth`."""
    return system_of(connection).auth


AuthOf = Annotated[Auth, Depends(auth_of)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def current_user(request: Request, credentials: Credentials, auth: AuthOf) -> User:
    """A dependency: the authenticated user, or 401 with the reason (429 for a throttled address)."""
    return await auth.authenticate(request, credentials.credentials if credentials else None)


async def revoke_current(request: Request, credentials: Credentials, auth: AuthOf) -> User:
    """A dependency that authenticates the request, then revokes its token (logging out)."""
    token = credentials.credentials if credentials else None
    user = await auth.authenticate(request, token)
    await auth.revoke(token or "")
    return user


def require(permission: Permission) -> Callable[..., Awaitable[User]]:
    """A dependency giving the current user if their role has ``permission``, else 403 (audited):
    ``Depends(require(Permission.SEARCH))`` on a route."""

    async def dependency(request: Request, user: Annotated[User, Depends(current_user)], auth: AuthOf) -> User:
        await auth.permitted(request, user, permission)
        return user

    return dependency


def require_stream(permission: Permission) -> Callable[..., Awaitable[User]]:
    """:func:`require` for the streams (the live WebSocket, the MJPEG preview): the token comes from
    the ``Authorization`` header or, for clients that can give only a URL (browsers' WebSockets and
    ``<img>``), a stream ticket as ``?ticket=`` (:mod:`skynet.api.tickets`). A WebSocket that is
    refused has its handshake closed with code 1008 and the reason."""

    async def dependency(
        connection: HTTPConnection,
        auth: AuthOf,
        ticket: Annotated[
            str | None, Query(max_length=200, description="A stream ticket from POST /api/stream-tickets.")
        ] = None,
    ) -> User:
        try:
            user = await auth.stream_user(connection, ticket)
            await auth.permitted(connection, user, permission)
        except SkynetError as error:
            if connection.scope["type"] == "websocket":
                raise WebSocketException(status.WS_1008_POLICY_VIOLATION, reason=error.message) from None
            raise
        return user

    return dependency


# --- searches off the event loop -----------------------------------------------------------------


class SearchSlots:
    """Runs searches (index and store calls) off the event loop, at most ``threads`` at once (0: one per
    core). More searches at once than cores only queue on the GIL, each handing it back and forth with
    FAISS and SQLite (16 clients over 1M sightings on 2 cores: 7.8 ms of CPU per search in 16 threads,
    5.3-6.0 ms in 2)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads or os.cpu_count() or 1
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a worker thread, when a slot is free."""
        if self._limiter is None:  # made on the event loop that uses it
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)


async def search_slots(connection: HTTPConnection) -> SearchSlots:
    return connection.app.state.search_slots
