"""Errors as HTTP answers, in one place: each kind of :class:`SkynetError` has one status code, and
every answer has one body, ``{"detail": message, "hint": hint or null}``.

Routes and the layers below raise errors of a kind (:mod:`skynet.errors`), never HTTP exceptions.
FastAPI's own answers (422 for a request that fails its schema, 404 for an unknown path) keep
FastAPI's body, whose ``detail`` the web UI reads the same way.
"""

# No ``from __future__ import annotations``: FastAPI reads the handlers' annotations at run time.

from collections.abc import Mapping
from types import MappingProxyType

from fastapi import FastAPI, Request, status
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


async def _handle(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, SkynetError)
    return error_response(error)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`SkynetError` raised by ``app``'s routes and dependencies as above."""
    app.add_exception_handler(SkynetError, _handle)
