"""Cameras and sightings: one pass of a face or plate past a camera, or a record of an external feed."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from skynet.records.vision import Box, PlateText


class SightingKind(StrEnum):
    """What a sighting is of: a face or a plate (video, checkpoints) or a person by identity key (registrations)."""

    FACE = "face"
    PLATE = "plate"
    IDENTITY = "identity"


class SightingSource(StrEnum):
    """Where a sighting came from: the video analytics, a road checkpoint's plate read, or a person's
    registration (hotel, internet café, residence office)."""

    VIDEO = "video"
    CHECKPOINT = "checkpoint"
    REGISTRATION = "registration"


class RegistrationPlace(StrEnum):
    """The kind of place that reported a registration."""

    HOTEL = "hotel"
    INTERNET_CAFE = "internet_cafe"
    RESIDENCE_OFFICE = "residence_office"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Identity:
    """An identity key (an ID-card number, ...) as kept: personal data, so only its keyed hash (for matching),
    its masked form (``4501**********1234``, for display) and its encrypted value (``sealed``, shown in full
    only to a role allowed to, each time audited)."""

    key_hash: str
    masked: str
    sealed: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class FeedDetail:
    """What an external record adds to its sighting: its natural key (a second import of the same record adds
    nothing), a checkpoint's direction of travel, a registration's kind of place, person name and identity."""

    key: str
    direction: str | None = None
    place: RegistrationPlace | None = None
    person_name: str | None = None
    identity: Identity | None = None


@dataclass(frozen=True, slots=True)
class Camera:
    """A camera. ``source_url`` may hold credentials: it is a secret, never logged or returned
    (``repr`` hides it; use :func:`skynet.redaction.redact_url` to show it).

    For ``https://`` and ``rtsps://`` sources the server's certificate is verified (``tls_verify``)
    against the system's CAs, or against ``tls_ca_file`` (a PEM file of the camera's own or its
    private CA's certificate) when it is set; ``tls_verify=False`` trusts any certificate.
    """

    id: str
    name: str
    source_url: str = field(repr=False)
    latitude: float | None = None
    longitude: float | None = None
    tags: tuple[str, ...] = ()
    tls_verify: bool = True
    tls_ca_file: str | None = None

    @property
    def live(self) -> bool:
        """Whether the camera has a stream (an archive-only camera or a checkpoint has none: ``source_url`` "")."""
        return bool(self.source_url)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a sighting came from: a live stream, or an archive file at an offset in seconds."""

    kind: str = "live"  # "live" | "archive"
    file: str | None = None
    offset_s: float | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """One pass of one face or plate past one camera (a finished track), with its best view.

    Times are Unix seconds. ``box`` is at ``best_time``. Thumbnail/context paths are relative
    to the data directory. Face sightings carry ``embedding`` (L2-normalised float32) until they are
    stored (read back, they carry none: the store keeps each face's vectors per embedding model); plate
    sightings carry ``plate`` (voted text, per-character confidences, alternative reads).
    ``id`` is assigned by the store, and so is ``position``: where its camera was when it was stored (None:
    the camera had no position then), kept when the camera moves later. Sightings of external feeds
    (``source`` other than video: a checkpoint's plate read, a registration of a person by identity key) carry
    ``feed``; their box is empty.
    """

    camera_id: str
    kind: SightingKind
    first_seen: float
    last_seen: float
    best_time: float
    box: Box
    quality: float
    thumbnail_path: str | None = None
    context_path: str | None = None
    embedding: np.ndarray | None = None
    plate: PlateText | None = None
    track_id: int | None = None
    origin: Origin = field(default_factory=Origin)
    id: int | None = None
    position: tuple[float, float] | None = None  # (latitude, longitude) of its camera when stored; set by the store
    source: SightingSource = SightingSource.VIDEO
    feed: FeedDetail | None = None
