"""Errors a user can act on: each carries a message and, where there is one, the fix."""

from __future__ import annotations


class SkynetError(Exception):
    """Base class for errors shown to users as one clear line (plus a hint)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  -> {self.hint}"


class BadImageError(SkynetError):
    """An input that is not a decodable image, or one refused by a limit."""


class ModelFileError(SkynetError):
    """A model file that is missing, corrupt or unusable."""


class ConfigError(SkynetError):
    """A setting with a value that cannot work."""
