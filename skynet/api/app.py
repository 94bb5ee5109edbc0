"""The FastAPI application over a running system (:mod:`skynet.app` builds both): module-level routers whose
routes reach the system's services through :mod:`skynet.api.deps`, errors answered by :mod:`skynet.api.errors`."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from threadpoolctl import threadpool_limits

from skynet.api import (
    admin,
    analytics,
    cameras,
    exports,
    feeds,
    holds,
    identities,
    live,
    search,
    sightings,
    users,
    watchlist,
)
from skynet.api.auth import Auth
from skynet.api.deps import ApiSystem, SearchSlots
from skynet.api.docs import mount_docs
from skynet.api.errors import install_error_handlers
from skynet.api.headers import SecurityHeaders
from skynet.api.intake import Intake, upload_routes
from skynet.api.schemas import ErrorBody
from skynet.api.ui import mount_ui

ROUTERS = (
    admin.router,
    feeds.router,
    holds.router,
    users.router,
    search.router,
    analytics.router,
    identities.router,
    exports.router,
    sightings.router,
    cameras.router,
    watchlist.router,
    live.router,
)


class Health(BaseModel):
    status: str


SWITCH_INTERVAL_S = 0.002
"""The server's GIL switch interval. A search hands the GIL back and forth with SQLite and FAISS
many times; with Python's default 5 ms each hand-back can wait behind the event loop's or another
search's Python work. Measured with 16 clients over 1M sightings, two runs each, searches per second:
5 ms 203 / 238, 2 ms 275 / 285, 0.5 ms 256 / 262."""


@contextlib.asynccontextmanager
async def serving(auth: Auth) -> AsyncIterator[None]:
    """The process set up for serving while the API runs. Many searches run at once, so each gets one
    BLAS thread instead of a whole team per call (on 2 cores, 16 concurrent face searches ran 4x slower
    with the default thread teams fighting for the cores); refused credentials are audited as they
    add up, and the last ones at the end; open streams are checked for tokens changed elsewhere."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    threadpool_limits(limits=1, user_api="blas")  # process-wide for numpy's OpenBLAS; kept afterwards
    tasks = [asyncio.create_task(auth.refusals.flush_every()), asyncio.create_task(auth.streams.keep_checking())]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await run_in_threadpool(auth.refusals.flush)


def create_app(
    system: ApiSystem, lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None
) -> FastAPI:
    """The API over ``system`` (``app.state.system``); ``lifespan`` runs while it serves (the composition
    root's starts and stops the system's parts)."""
    app = FastAPI(
        title="Skynet",
        version="0.1",
        lifespan=lifespan,
        description="Face and plate search, trajectories, watch-lists and live alerts over a camera "
        "network. Every route but /api/health needs an API token (Bearer), this schema too. Live events "
        "(alerts, sightings, camera status) stream as JSON over the WebSocket /api/live "
        "(token in the Authorization header or, from a browser, a ticket from POST /api/stream-tickets "
        "as ?ticket=; ?types=alert to filter).",
        docs_url=None,  # the docs and the schema need a token: skynet.api.docs serves them
        redoc_url=None,
        openapi_url=None,
        responses={422: {"model": ErrorBody, "description": "The request does not fit the schema."}},
    )
    app.state.system = system
    app.state.search_slots = SearchSlots(system.settings.search_threads)
    uploads = []
    for router in ROUTERS:
        uploads += upload_routes(router.routes)  # the routers have no prefix: their paths are the app's
        app.include_router(router)
    mount_ui(app)  # the web UI at /ui/ (and / redirects there)
    mount_docs(app)  # /docs and /openapi.json

    @app.get("/api/health", response_model=Health, tags=["health"])
    def health() -> Health:
        """Liveness (no authentication)."""
        return Health(status="ok")

    install_error_handlers(app)
    settings = system.settings
    app.add_middleware(
        Intake,
        auth=system.auth,
        json_limit=settings.max_json_bytes,
        upload_limit=settings.max_image_bytes + settings.max_json_bytes,
        uploads=uploads,
    )
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, the middlewares' refusals too
    return app
