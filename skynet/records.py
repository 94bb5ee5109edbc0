"""Typed records shared by every stage (ingest -> detectors -> tracking -> store/index -> api).

Detections of one image travel together in :class:`Detections`, the one container every
stage passes on, in the spirit of ``supervision.Detections``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in image pixels, ``x2``/``y2`` exclusive."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    def scaled(self, factor: float) -> Box:
        """The box with every coordinate multiplied by ``factor``."""
        return Box(self.x1 * factor, self.y1 * factor, self.x2 * factor, self.y2 * factor)

    def clipped(self, width: int, height: int) -> Box:
        """The box limited to an image of ``width`` x ``height``."""
        return Box(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
        )

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other`` (0 when either is empty)."""
        iw = min(self.x2, other.x2) - max(self.x1, other.x1)
        ih = min(self.y2, other.y2) - max(self.y1, other.y1)
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        return inter / (self.area + other.area - inter)

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """How useful a face crop is for recognition; ``score`` (0..1) ranks faces of one track.

    ``size``, ``sharpness``, ``frontalness`` and ``exposure`` are 0..1 each (see
    :mod:`skynet.detectors.face_quality`); ``plausible`` tells whether the landmarks lie as a face's do.
    """

    score: float
    size: float
    sharpness: float
    frontalness: float
    exposure: float = 1.0
    plausible: bool = True


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """One face: box, detector score, five landmarks and, once embedded, its embedding.

    ``landmarks`` is a (5, 2) float32 array in image pixels: left eye, right eye, nose tip,
    left mouth corner, right mouth corner (left/right as seen in the image).
    ``embedding`` is a (D,) float32 L2-normalised vector.
    """

    box: Box
    score: float
    landmarks: np.ndarray
    quality: FaceQuality | None = None
    embedding: np.ndarray | None = None

    def with_embedding(self, embedding: np.ndarray) -> FaceDetection:
        return replace(self, embedding=embedding)

    def with_quality(self, quality: FaceQuality) -> FaceDetection:
        return replace(self, quality=quality)


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """Which plate format a text matches (``kind`` such as ``blue``, ``new_energy``, ``police``)."""

    region: str
    kind: str | None
    valid: bool
    confidence: float


@dataclass(frozen=True, slots=True)
class PlateText:
    """A plate reading: the text, one confidence per character, and alternative reads."""

    text: str
    char_confidences: tuple[float, ...]
    format: PlateFormat | None = None
    alternatives: tuple[tuple[str, float], ...] = ()

    @property
    def confidence(self) -> float:
        """Confidence of the whole read: the weakest character's confidence."""
        return min(self.char_confidences) if self.char_confidences else 0.0


@dataclass(frozen=True, slots=True)
class PlateDetection:
    """One plate: box, detector score, four corners and, once read, its text.

    ``corners`` is a (4, 2) float32 array in image pixels, clockwise from the top-left
    corner: left-top, right-top, right-bottom, left-bottom.
    """

    box: Box
    score: float
    corners: np.ndarray
    read: PlateText | None = None

    def with_read(self, read: PlateText) -> PlateDetection:
        return replace(self, read=read)


@dataclass(slots=True)
class Detections:
    """Everything found in one image: faces, plates, and the model time each stage took."""

    image_width: int
    image_height: int
    faces: list[FaceDetection] = field(default_factory=list)
    plates: list[PlateDetection] = field(default_factory=list)
    model_ms: dict[str, float] = field(default_factory=dict)

    @property
    def total_model_ms(self) -> float:
        return float(sum(self.model_ms.values()))


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded image with where and when it was captured.

    ``image`` is BGR uint8 (H, W, 3); ``timestamp`` is Unix seconds (wall clock at capture for
    live streams, file start + presentation time for archives).
    """

    image: np.ndarray
    camera_id: str | None = None
    timestamp: float = 0.0
    index: int = 0


# --- Cameras, sightings, watch-lists, alerts, audit: shared by tracking, index and api ---------


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


@dataclass(frozen=True, slots=True)
class Observation:
    """One sighting as the investigative analyses see it: who (``key``: a plate's text), where, and when
    (the pass from ``first`` to ``last``, best view ``at``; Unix seconds)."""

    sighting_id: int
    key: str
    camera_id: str
    first: float
    last: float
    at: float


@dataclass(frozen=True, slots=True)
class ObservationTable:
    """Many observations as columns of one length, for analyses over millions of rows: sighting ids
    (int64), who and where as integer codes into ``keys`` and ``cameras`` (so sorting and grouping stay in
    numpy), first, last and best-view times (float64)."""

    sighting_ids: np.ndarray
    key_codes: np.ndarray
    keys: tuple[str, ...]
    camera_codes: np.ndarray
    cameras: tuple[str, ...]
    first: np.ndarray
    last: np.ndarray
    at: np.ndarray

    @classmethod
    def of_rows(cls, rows: Sequence[tuple]) -> ObservationTable:
        """The table of ``rows`` (sighting id, key, camera id, first, last, best-view time)."""
        columns = list(zip(*rows, strict=True)) if rows else [()] * 6
        key_codes, keys = _codes(columns[1])
        camera_codes, cameras = _codes(columns[2])
        first, last, at = (np.array(c, np.float64) for c in columns[3:])
        return cls(np.array(columns[0], np.int64), key_codes, keys, camera_codes, cameras, first, last, at)

    def __len__(self) -> int:
        return len(self.sighting_ids)

    def row(self, i: int) -> Observation:
        return Observation(
            int(self.sighting_ids[i]),
            self.keys[self.key_codes[i]],
            self.cameras[self.camera_codes[i]],
            float(self.first[i]),
            float(self.last[i]),
            float(self.at[i]),
        )


def _codes(values: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each value's code (its index among the distinct values, in order of appearance) and those values."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), np.int64, len(values))
    return codes, tuple(index)


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    """A face (one or more reference embeddings), plate (exact or wildcard pattern) or identity key to alert on."""

    kind: SightingKind
    label: str
    reason: str
    added_by: str
    created_at: float
    expires_at: float | None = None
    plate_pattern: str | None = None
    embeddings: tuple[np.ndarray, ...] = ()
    min_similarity: float | None = None
    id: int | None = None
    recipients: tuple[str, ...] = ()  # phone numbers and e-mail addresses told of its alerts (Recipient.parse)
    cooldown_s: float | None = None  # a later pass on a camera this soon after its alert there adds no alert
    identity: Identity | None = None  # kind identity: the key watched for

    def active(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class Alert:
    """A sighting that matched a watch-list entry."""

    entry_id: int
    sighting_id: int
    camera_id: str
    created_at: float
    score: float
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    track_id: int | None = None  # the camera's track of the pass (sightings of one pass share it)
    last_seen: float | None = None  # when the pass (or the last pass folded in) was last seen, sighting time
    updated_at: float | None = None  # when a later sighting was last folded into the alert
    sightings: int = 1  # matching sightings folded into the alert (its pass's and, within the cooldown, later ones)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One append-only audit-log line: who did what, when, and the reason or case number given; the API
    token the request came with (``token_id``) and, for a token an admin minted for another user, that
    admin (``token_minted_by``), where known."""

    at: float
    actor: str
    action: str
    reason: str | None = None
    detail: dict = field(default_factory=dict)
    token_id: int | None = None
    token_minted_by: str | None = None
    id: int | None = None


class JobState(StrEnum):
    """Where a background job stands: waiting, running, or finished well or badly."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Job:
    """A background job (a re-index or re-embedding run) as stored: its parameters, state and progress counters."""

    kind: str
    created_by: str
    created_at: float
    updated_at: float
    state: JobState
    params: dict = field(default_factory=dict)
    progress: dict = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    id: int | None = None


class DeliveryState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Channel(StrEnum):
    """How a delivery leaves: a signed webhook POST, an SMS through Kannel, an e-mail over SMTP."""

    WEBHOOK = "webhook"
    SMS = "sms"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message for one target of a channel (a webhook's name, a phone number, an e-mail address), as the
    outbox keeps it; ``attempts`` counts attempts started, this one included."""

    id: int
    target: str
    body: bytes
    created_at: float
    next_attempt_at: float
    attempts: int = 0
    state: DeliveryState = DeliveryState.PENDING
    last_error: str | None = None
    delivered_at: float | None = None


_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_PHONE = re.compile(r"\+?[0-9]{3,15}")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")  # ASCII only


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who an SMS or e-mail alert goes to: a phone number (digits, an optional leading ``+``) or an e-mail
    address. Personal data: logs show :meth:`masked`."""

    channel: Channel
    address: str

    @classmethod
    def parse(cls, text: str) -> Recipient:
        """A phone number (spaces, dots, dashes and brackets dropped: ``+86 138-0000-0001`` is
        ``+8613800000001``) or an e-mail address (anything with an ``@``: ASCII, as every SMTP server takes
        it); ValueError for anything else."""
        text = text.strip()
        if "@" in text:
            if not _EMAIL.fullmatch(text):
                raise ValueError(f"{text!r} is not an e-mail address (name@example.org)")
            return cls(Channel.EMAIL, text)
        number = _PHONE_SEPARATORS.sub("", text)
        if not _PHONE.fullmatch(number):
            raise ValueError(f"{text!r} is neither a phone number (+8613800000001) nor an e-mail address")
        return cls(Channel.SMS, number)

    def masked(self) -> str:
        """The address with its middle hidden (``+86138*****01``, ``d***@example.org``), for logs."""
        if self.channel is Channel.EMAIL:
            local, _, domain = self.address.rpartition("@")
            return f"{local[:1]}***@{domain}"
        keep = min(3, len(self.address) // 4)
        hidden = "*" * (len(self.address) - 2 * keep)
        return self.address[:keep] + hidden + (self.address[-keep:] if keep else "")
