"""The API reference: Swagger UI served by this server (nothing from a CDN) over a schema that needs a token.

``GET /openapi.json`` needs an API token like every other route: the schema lists every route, field
and role of the service. ``/docs`` (the page ``/ui/docs.html``) and Swagger UI's files
(``/docs/assets/``, from the ``fastapi-offline`` package) are public but hold nothing of this service:
the page fetches the schema with the token of the web UI's session in that tab, or one typed into it,
and sends that token with the requests tried from it (Swagger UI's *Authorize* overrides it). A
session cookie would have kept the page itself private, but would make every API route accept a
cookie, and with it cross-site requests; a token in a header cannot be sent by another site.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from pathlib import Path
from typing import Annotated

import fastapi_offline
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, RedirectResponse

from skynet.accounts.model import User
from skynet.api.deps import current_user
from skynet.api.ui import UiFiles

SWAGGER_UI_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
"""swagger-ui-bundle.js and swagger-ui.css, as the fastapi-offline package ships them."""


def mount_docs(app: FastAPI) -> None:
    """Add ``GET /openapi.json`` (authenticated), ``/docs`` and Swagger UI's files to ``app``."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(user: Annotated[User, Depends(current_user)]) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs() -> RedirectResponse:
        return RedirectResponse("/ui/docs.html")

    app.mount("/docs/assets", UiFiles(directory=SWAGGER_UI_DIR), name="docs-assets")
