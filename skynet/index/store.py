"""The store interface every backend (SQLite, PostgreSQL) implements, and the values it passes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from skynet.records import Alert, AuditEvent, Camera, Sighting, WatchlistEntry


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


class SightingStore(Protocol):
    """The metadata store: source of truth for cameras, sightings, watch-lists, alerts, audit."""

    def add_camera(self, camera: Camera) -> None: ...

    def cameras(self) -> list[Camera]: ...

    def add_sightings(self, sightings: Sequence[Sighting],
                      media: Sequence[SightingMedia | None] | None = None) -> list[int]: ...

    def get_sighting(self, sighting_id: int) -> Sighting | None: ...

    def count_sightings(self) -> dict[str, int]: ...

    def embedding_dim(self) -> int | None: ...

    def face_ids(self) -> np.ndarray: ...

    def face_batches(self, ids: np.ndarray | None = None, *, after_id: int = 0,
                     batch_size: int = 50_000) -> Iterator[FaceBatch]: ...

    def search_plates(self, query: str, mode: PlateMode = PlateMode.FUZZY, *, limit: int = 50,
                      max_edits: int = 1) -> list[PlateHit]: ...

    def delete_sightings_before(self, cutoff: float) -> DeletedSightings: ...

    def delete_sightings_from_file(self, path: str) -> DeletedSightings: ...

    def add_watchlist_entry(self, entry: WatchlistEntry) -> int: ...

    def watchlist(self) -> list[WatchlistEntry]: ...

    def add_alert(self, alert: Alert) -> int: ...

    def alerts(self, limit: int = 100) -> list[Alert]: ...

    def append_audit(self, event: AuditEvent) -> int: ...

    def audit_events(self, limit: int = 100) -> list[AuditEvent]: ...

    def file_state(self, path: str) -> FileState | None: ...

    def set_file_state(self, state: FileState) -> None: ...

    def integrity_problems(self) -> list[str]: ...

    def close(self) -> None: ...
