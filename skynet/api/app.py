"""The FastAPI application: routers bound to one :class:`Services`, errors answered by :mod:`skynet.api.errors`."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from skynet.api import admin, cameras, exports, search, sightings, users, watchlist
from skynet.api.docs import mount_docs
from skynet.api.errors import install_error_handlers
from skynet.api.headers import SecurityHeaders
from skynet.api.intake import Intake, upload_routes
from skynet.api.schemas import ErrorBody
from skynet.api.services import Services
from skynet.api.ui import mount_ui


class Health(BaseModel):
    status: str


SWITCH_INTERVAL_S = 0.002
"""The server's GIL switch interval. A search hands the GIL back and forth with SQLite and FAISS
many times; with Python's default 5 ms each hand-back can wait behind the event loop's or another
search's Python work. Measured with 16 clients over 1M sightings, two runs each, searches per second:
5 ms 203 / 238, 2 ms 275 / 285, 0.5 ms 256 / 262."""


def create_app(services: Services) -> FastAPI:
    """The API over ``services``; ``app.state.services`` holds it. The server's lifespan calls
    :meth:`Services.start` and :meth:`Services.stop`; the caller owns (and closes) the catalog."""

    refusals = services.auth.refusals

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        services.start()
        flushing = asyncio.create_task(refusals.flush_every())
        try:
            yield
        finally:
            flushing.cancel()
            await run_in_threadpool(refusals.flush)
            await run_in_threadpool(services.stop)

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
    app.state.services = services
    uploads = []
    for module in (admin, users, search, exports, sightings, cameras, watchlist):
        router = module.router(services)
        uploads += upload_routes(router.routes)  # the routers have no prefix: their paths are the app's
        app.include_router(router)
    mount_ui(app, services.auth)  # the web UI at /ui/ (and / redirects there)
    mount_docs(app, services.auth)  # /docs and /openapi.json

    @app.get("/api/health", response_model=Health, tags=["health"])
    def health() -> Health:
        """Liveness (no authentication)."""
        return Health(status="ok")

    install_error_handlers(app)
    settings = services.settings
    app.add_middleware(
        Intake,
        auth=services.auth,
        json_limit=settings.max_json_bytes,
        upload_limit=settings.max_image_bytes + settings.max_json_bytes,
        uploads=uploads,
    )
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, the middlewares' refusals too
    return app
