"""The web UI: plain HTML, CSS and JavaScript modules (no build step, nothing fetched from the internet)
served from this package's ``static`` folder at ``/ui/``, on the same API and roles as every client.

Besides the files there is one route, ``GET /ui/session``: who the bearer of a token is and what their
role may do, so the browser shows only the pages that role can use (the API still decides every call).
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Scope

from skynet.accounts.model import User
from skynet.api.deps import current_user

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Scripts and styles only from this server; images also from blob: (authenticated media) and from any
# http(s) host, so that a map tile server the user configures can be shown.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data: https: http:; "
    "connect-src 'self' ws: wss:; media-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


class SessionOut(BaseModel):
    user: str
    role: str
    permissions: list[str]


class UiFiles(StaticFiles):
    """The static files, each answer with the UI's security headers; ``no-cache`` so that an upgraded
    server's files are used at once (the browser still revalidates with the ETag)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount_ui(app: FastAPI) -> None:
    """Serve the UI at ``/ui/``, redirect ``/`` there, and add ``GET /ui/session``."""

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/ui/session", response_model=SessionOut, tags=["ui"])
    def session(user: Annotated[User, Depends(current_user)]) -> SessionOut:
        """The current user's name, role and permissions (the web UI shows the pages these allow)."""
        return SessionOut(user=user.name, role=user.role.value, permissions=sorted(p.value for p in user.permissions))

    app.mount("/ui", UiFiles(directory=STATIC_DIR, html=True), name="ui")
