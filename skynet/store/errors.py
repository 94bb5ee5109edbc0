"""Errors raised by the sighting store and its indexes."""

from __future__ import annotations

from skynet.errors import ConflictError, InsufficientStorageError, InvalidInputError, SkynetError


class StoreError(SkynetError):
    """The store cannot do what was asked (corrupt file, newer schema, locked directory...)."""


class InvalidSightingError(StoreError, InvalidInputError):
    """A sighting that cannot be stored: bad embedding, empty plate, inconsistent fields."""


class UnknownCameraError(InvalidSightingError):
    """A sighting or query names a camera the store does not know."""


class CameraInUseError(StoreError, ConflictError):
    """A camera that still has sightings cannot be deleted."""


class StorageFullError(StoreError, InsufficientStorageError):
    """The disk filled up during a write; nothing of that write was kept."""


class QueryError(StoreError, InvalidInputError):
    """A search query that cannot be answered as given (empty, too long, too broad)."""


class LeaseLostError(StoreError):
    """A camera instance's lease expired or passed to another instance: it may write nothing more."""
