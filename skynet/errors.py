"""Errors a user can act on: each carries a message and, where there is one, the fix.

Every error is of one *kind* below (or of none: a fault of the server). The kind says what went wrong
for whoever answers the user: the CLI prints any error as one line, the API answers each kind with
one status code (:mod:`skynet.api.errors`). Errors of the layers below subclass their kind, so no
layer needs to know how its errors reach a user.
"""

from __future__ import annotations


class SkynetError(Exception):
    """Base class for errors shown to users as one clear line (plus a hint)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  -> {self.hint}"


# --- kinds ------------------------------------------------------------------------------------


class InvalidInputError(SkynetError):
    """A request or input that cannot be used as given: malformed, contradictory, or naming what is not there."""


class UnusableInputError(InvalidInputError):
    """Well-formed input whose content cannot be used: a photo without a face, a time in the past, a short password."""


class TooLargeError(InvalidInputError):
    """Input above a size limit."""


class UnauthenticatedError(SkynetError):
    """A credential that is missing, unknown, wrong or expired."""


class ForbiddenError(SkynetError):
    """A user whose role does not allow what they asked."""


class NotFoundError(SkynetError):
    """The thing asked for does not exist."""


class ConflictError(SkynetError):
    """A change that contradicts the current state (a name taken, the last admin, a camera with sightings)."""


class RateLimitedError(SkynetError):
    """Too many tries in too short a time; ``retry_after_s`` says when the next one is accepted."""

    def __init__(self, message: str, hint: str | None = None, retry_after_s: int | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after_s = retry_after_s


class UnavailableError(SkynetError):
    """This server cannot do that now: a part it needs is not running, not loaded, or busy."""


class InsufficientStorageError(SkynetError):
    """The disk filled up during a write; nothing of that write was kept."""


# --- errors shared by several layers -----------------------------------------------------------


class BadImageError(InvalidInputError):
    """An input that is not a decodable image, or one refused by a limit."""


class ModelFileError(SkynetError):
    """A model file that is missing, corrupt or unusable."""


class ConfigError(SkynetError):
    """A setting with a value that cannot work."""
