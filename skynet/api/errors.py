"""Errors as HTTP answers, in one place: each kind of :class:`SkynetError` has one status code, and
every answer has one body, ``{"detail": message, "hint": hint or null}``.

Routes and the layers below raise errors of a kind (:mod:`skynet.errors`), never HTTP exceptions.
A request that fails its schema gets 422 with the same body: ``detail`` names each field and what is
wrong with it, never the value sent (FastAPI's own answer echoes the input: a password, or megabytes
of it). FastAPI's other answers (404 for an unknown path) keep FastAPI's body, ``{"detail": message}``.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations at run time.

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from fastapi import FastAPI, Request, WebSocket, status
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse

from skynet.errors import (
    BadImageError,
    ConflictError,
    ForbiddenError,
    InsufficientStorageError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    SkynetError,
    TooLargeError,
    UnauthenticatedError,
    UnavailableError,
    UnusableInputError,
)

STATUS: Mapping[type[SkynetError], int] = MappingProxyType(
    {
        InvalidInputError: status.HTTP_400_BAD_REQUEST,
        UnusableInputError: status.HTTP_422_UNPROCESSABLE_CONTENT,
        TooLargeError: status.HTTP_413_CONTENT_TOO_LARGE,
        BadImageError: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        UnauthenticatedError: status.HTTP_401_UNAUTHORIZED,
        ForbiddenError: status.HTTP_403_FORBIDDEN,
        NotFoundError: status.HTTP_404_NOT_FOUND,
        ConflictError: status.HTTP_409_CONFLICT,
        RateLimitedError: status.HTTP_429_TOO_MANY_REQUESTS,
        UnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
        InsufficientStorageError: status.HTTP_507_INSUFFICIENT_STORAGE,
    }
)
"""The status code of each kind; the nearest kind an error inherits counts. Errors of no kind are
faults of the server: 500."""


def status_of(error: SkynetError) -> int:
    """The HTTP status code that answers ``error``."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return status.HTTP_500_INTERNAL_SERVER_ERROR


def error_response(error: SkynetError) -> JSONResponse:
    """``error`` as an HTTP answer: its status, its one body, and the headers its kind needs."""
    headers: dict[str, str] = {}
    if isinstance(error, UnauthenticatedError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    return JSONResponse({"detail": error.message, "hint": error.hint}, status_code=status_of(error), headers=headers)


MAX_PROBLEMS = 10
"""A schema error names at most this many problems."""


def describe_invalid(errors: Sequence[Mapping[str, Any]]) -> str:
    """What is wrong with a request, by field, from pydantic's ``errors`` (never their ``input``)."""
    problems = []
    for error in errors[:MAX_PROBLEMS]:
        where, *field = [str(part) for part in error.get("loc", ("request",))]
        message = str(error.get("msg", "invalid"))[:200]
        if error.get("type") == "json_invalid":
            problems.append(f"the {where} is not valid JSON: {(error.get('ctx') or {}).get('error', message)}")
        elif field:
            problems.append(f"{where} field {'.'.join(field)!r}: {message}")
        else:
            problems.append(f"the {where}: {message}")
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return "invalid request: " + "; ".join(problems)


async def _handle(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SkynetError)
    return error_response(error)


async def _handle_invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse(
        {"detail": describe_invalid(error.errors()), "hint": "the API's schema at /docs lists each field"},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _handle_invalid_websocket(websocket: WebSocket, error: Exception) -> None:
    assert isinstance(error, WebSocketRequestValidationError)
    reason = describe_invalid(error.errors()).encode()[:123].decode(errors="ignore")  # a close reason's limit
    await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=reason)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`SkynetError` raised by ``app``'s routes and dependencies, and every request
    that fails its schema, as above."""
    app.add_exception_handler(SkynetError, _handle)
    app.add_exception_handler(RequestValidationError, _handle_invalid)
    app.add_exception_handler(WebSocketRequestValidationError, _handle_invalid_websocket)
