"""What a request may send before the app reads its body: an ASGI middleware in front of every route.

- A size limit per route, checked before anything is parsed or authenticated: the routes that take
  files (image uploads) accept ``max_image_bytes`` plus ``max_json_bytes`` for their other fields,
  every other route ``max_json_bytes``. A ``Content-Length`` above the limit is answered 413 before
  a byte of the body is read; a body without one (chunked) is counted as it arrives and answered 413
  as soon as it passes the limit (the app then sees the client as gone).
- A route that takes files is read only for a valid API token: its ``Authorization`` header is checked
  first, so an anonymous or forged upload is answered 401 without its body being read (FastAPI parses
  a form, spooling files to disk, before a route's dependencies run).

Refusals close the connection, so that the rest of a large body is not read either.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.dependencies.models import Dependant
from fastapi.params import File
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skynet.api.auth import Auth, bearer_token
from skynet.api.errors import error_response
from skynet.errors import InvalidInputError, SkynetError, TooLargeError


def upload_routes(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    """The routes among ``routes`` that take files."""
    return [route for route in routes if isinstance(route, APIRoute) and _takes_files(route.dependant)]


def _takes_files(dependant: Dependant) -> bool:
    return any(isinstance(p.field_info, File) for p in dependant.body_params) or any(
        _takes_files(sub) for sub in dependant.dependencies
    )


class Intake:
    """The middleware: ``json_limit`` and ``upload_limit`` in bytes, ``uploads`` the routes that take files."""

    def __init__(
        self, app: ASGIApp, *, auth: Auth, json_limit: int, upload_limit: int, uploads: Sequence[APIRoute]
    ) -> None:
        self.app = app
        self.auth = auth
        self.json_limit = json_limit
        self.upload_limit = upload_limit
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = any(route.matches(scope)[0] is Match.FULL for route in self.uploads)
        limit = self.upload_limit if upload else self.json_limit
        try:
            length = _content_length(scope)
            if length is not None and length > limit:
                raise _too_large(limit, upload, f"{length:,} bytes")
            if upload:
                connection = HTTPConnection(scope)
                await self.auth.authenticate(connection, bearer_token(connection))
        except SkynetError as error:
            await _refuse(error, scope, receive, send)
            return
        await self.app(scope, *_counted(scope, receive, send, limit, upload))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise InvalidInputError("malformed Content-Length header") from None
    return None


def _too_large(limit: int, upload: bool, size: str) -> TooLargeError:
    setting = "SKYNET_MAX_IMAGE_BYTES" if upload else "SKYNET_MAX_JSON_BYTES"
    return TooLargeError(
        f"request body too large: {size}; this route accepts at most {limit:,} bytes",
        f"send less (the limit is the server's {setting})",
    )


async def _refuse(error: SkynetError, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(error)
    response.headers["Connection"] = "close"  # the server does not read the rest of the body
    await response(scope, receive, send)


def _counted(scope: Scope, receive: Receive, send: Send, limit: int, upload: bool) -> tuple[Receive, Send]:
    """``receive`` and ``send`` of a request whose body may have no length: once its parts pass
    ``limit`` the client gets 413 and the app a disconnect, and whatever the app answers is dropped."""
    received = 0
    refused = started = False

    async def counted_receive() -> Message:
        nonlocal received, refused
        if refused:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                refused = True
                if not started:
                    await _refuse(_too_large(limit, upload, f"more than {limit:,} bytes"), scope, receive, send)
                return {"type": "http.disconnect"}
        return message

    async def guarded_send(message: Message) -> None:
        nonlocal started
        if refused:
            return
        started = started or message["type"] == "http.response.start"
        await send(message)

    return counted_receive, guarded_send
