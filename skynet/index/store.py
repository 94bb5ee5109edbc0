"""The store interface every backend (SQLite, PostgreSQL) implements, and the values it passes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np

from skynet.accounts.model import ApiToken, User
from skynet.records import Alert, AuditEvent, Box, Camera, Sighting, WatchlistEntry


@dataclass(frozen=True, slots=True)
class SightingMedia:
    """JPEG bytes the store writes next to a sighting: its best-view thumbnail and a context frame."""

    thumbnail: bytes | None = None
    context: bytes | None = None


@dataclass(frozen=True, slots=True)
class FaceBatch:
    """Face sightings as columns, for building the derived face index."""

    ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, d) float32, L2-normalised
    times: np.ndarray  # (n,) float64, best_time
    camera_ids: list[str]


@dataclass(frozen=True, slots=True)
class FaceSource:
    """A face sighting as a re-embedding job sees it: where the face is, and its stored images."""

    id: int
    camera_id: str
    best_time: float
    box: Box  # in the analysed frame
    thumbnail_path: str | None
    context_path: str | None


class PlateMode(StrEnum):
    EXACT = "exact"
    WILDCARD = "wildcard"
    FUZZY = "fuzzy"


@dataclass(frozen=True, slots=True)
class PlateHit:
    """A plate sighting matching a query; ``distance`` 0 is an exact match, lower ranks first."""

    sighting_id: int
    text: str
    matched_read: str
    distance: float
    camera_id: str
    best_time: float


@dataclass(frozen=True, slots=True)
class DeletedSightings:
    """What a deletion removed: every sighting id, the face ones among them, and media files."""

    ids: np.ndarray
    face_ids: np.ndarray
    files: int


@dataclass(frozen=True, slots=True)
class FileState:
    """Re-index state of one archive file: which model pack read it, how far, with what result."""

    path: str
    size: int
    mtime: float
    model_pack: str
    status: str  # pending | running | done | failed
    frames_done: int = 0
    sha256: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Job:
    """A background job (a re-index or re-embedding run) as stored: its parameters, state and progress counters."""

    kind: str
    created_by: str
    created_at: float
    updated_at: float
    state: str  # queued | running | done | failed
    params: dict = field(default_factory=dict)
    progress: dict = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    id: int | None = None


class SightingStore(Protocol):
    """The metadata store: source of truth for cameras, sightings, watch-lists, alerts, audit."""

    def add_camera(self, camera: Camera) -> None: ...

    def delete_camera(self, camera_id: str) -> bool: ...

    def cameras(self) -> list[Camera]: ...

    def add_sightings(
        self,
        sightings: Sequence[Sighting],
        media: Sequence[SightingMedia | None] | None = None,
        *,
        model: str | None = None,
    ) -> list[int]: ...

    def get_sighting(self, sighting_id: int) -> Sighting | None: ...

    def get_sightings(self, sighting_ids: Sequence[int]) -> list[Sighting]:
        """The sightings with these ids that exist, in the order asked."""
        ...

    def count_sightings(self) -> dict[str, int]: ...

    # face vectors per embedding model (skynet.index.face_models); model None: the searched model
    def face_model(self) -> str | None: ...

    def set_face_model(self, model: str) -> None: ...

    def embedding_dim(self, model: str | None = None) -> int | None: ...

    def face_models(self) -> dict[str, int]: ...

    def face_ids(self, model: str | None = None) -> np.ndarray: ...

    def face_batches(
        self, ids: np.ndarray | None = None, *, after_id: int = 0, batch_size: int = 50_000, model: str | None = None
    ) -> Iterator[FaceBatch]: ...

    def face_vector(self, sighting_id: int, model: str | None = None) -> np.ndarray | None: ...

    def faces_to_embed(self, model: str, *, after_id: int = 0, limit: int = 256) -> list[FaceSource]: ...

    def count_faces_to_embed(self, model: str) -> int: ...

    def add_face_embeddings(self, model: str, ids: Sequence[int], vectors: Sequence[np.ndarray]) -> np.ndarray: ...

    def search_plates(
        self,
        query: str,
        mode: PlateMode = PlateMode.FUZZY,
        *,
        limit: int = 50,
        max_edits: int = 1,
        since: float | None = None,
        until: float | None = None,
        cameras: Sequence[str] | None = None,
    ) -> list[PlateHit]: ...

    def delete_sightings_before(self, cutoff: float) -> DeletedSightings: ...

    def delete_sightings_from_file(self, path: str) -> DeletedSightings: ...

    def add_watchlist_entry(
        self, entry: WatchlistEntry, *, model: str | None = None, photos: Sequence[bytes] = ()
    ) -> int: ...

    def watchlist(self, model: str | None = None) -> list[WatchlistEntry]: ...

    def watchlist_photos(self, entry_id: int) -> list[bytes]: ...

    def set_watchlist_embeddings(self, entry_id: int, model: str, vectors: Sequence[np.ndarray]) -> None: ...

    def delete_watchlist_entry(self, entry_id: int) -> bool: ...

    def add_alert(self, alert: Alert) -> int: ...

    def alerts(self, limit: int = 100) -> list[Alert]: ...

    def acknowledge_alert(self, alert_id: int, by: str, at: float) -> Alert | None: ...

    def add_job(self, job: Job) -> int: ...

    def update_job(self, job: Job) -> None: ...

    def get_job(self, job_id: int) -> Job | None: ...

    def jobs(self, limit: int = 50, state: str | None = None) -> list[Job]: ...

    def fail_unfinished_jobs(self, now: float) -> int: ...

    def append_audit(self, event: AuditEvent) -> int: ...

    def audit_events(
        self,
        limit: int = 100,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[AuditEvent]: ...

    def file_state(self, path: str) -> FileState | None: ...

    def set_file_state(self, state: FileState) -> None: ...

    # users and API tokens: a store is also a skynet.accounts.model.UserStore
    def get_user(self, name: str) -> User | None: ...

    def users(self) -> list[User]: ...

    def add_user(self, user: User) -> User: ...

    def update_user(self, user: User) -> bool: ...

    def delete_user(self, name: str) -> bool: ...

    def find_token(self, token_hash: str) -> ApiToken | None: ...

    def tokens(self, user_name: str) -> list[ApiToken]: ...

    def add_token(self, token: ApiToken) -> ApiToken: ...

    def revoke_token(self, token_hash: str) -> bool: ...

    def integrity_problems(self) -> list[str]: ...

    def close(self) -> None: ...
