"""Request and response bodies of the HTTP API (pydantic models; they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from skynet.api.time_range import TimeRange
from skynet.ingest.archive_time import ARCHIVE_TIME_MIN
from skynet.records import Alert, AuditEvent, Job
from skynet.services.faces import SimilarityBand
from skynet.services.media_links import Linker
from skynet.services.sightings import Found
from skynet.services.watchlists import Watched
from skynet.store.plates import PlateMode

Reason = Annotated[
    str,
    Field(
        min_length=3,
        max_length=500,
        description="Why, or the case number (audited): at least 5 letters or digits (SKYNET_REASON_MIN_CHARACTERS) "
        "and, where the server sets SKYNET_REASON_CASE_PATTERN, a case number in that format; else 422.",
    ),
]


class Strict(BaseModel):
    """A request body: no unknown fields, and every number finite (JSON's NaN and Infinity are refused)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorBody(BaseModel):
    """An error answer: the message and, where there is one, the fix (a request that does not fit the
    schema: each field and what is wrong with it, never the value sent)."""

    detail: str
    hint: str | None = None


class BoxOut(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


MEDIA_LINK = (
    "A signed link to the JPEG, for the user and token of this request only, valid for 10 minutes (no token "
    "needed to open it; every opening is audited). None: no such file."
)


class SightingOut(BaseModel):
    id: int
    kind: str
    camera_id: str
    camera_name: str | None
    first_seen: float
    last_seen: float
    best_time: float
    box: BoxOut
    quality: float
    plate: str | None
    thumbnail_url: str | None = Field(description=MEDIA_LINK)
    context_url: str | None = Field(description=MEDIA_LINK)
    source: str = Field(default="video", description="video, checkpoint or registration.")
    direction: str | None = Field(default=None, description="A checkpoint read's direction of travel.")
    place: str | None = Field(default=None, description="A registration's kind of place (hotel, ...).")
    person_name: str | None = Field(default=None, description="A registration's name.")
    identity: str | None = Field(default=None, description="A registration's identity key, masked.")

    @classmethod
    def of(cls, found: Found, link: Linker) -> SightingOut:
        """``found`` with links to its media made by ``link``."""
        sighting, camera, urls = found.sighting, found.camera, found.media_links(link)
        feed = sighting.feed
        return cls(
            id=int(sighting.id or 0),
            kind=sighting.kind.value,
            camera_id=sighting.camera_id,
            camera_name=camera.name if camera else None,
            first_seen=sighting.first_seen,
            last_seen=sighting.last_seen,
            best_time=sighting.best_time,
            box=BoxOut(**dict(zip(("x1", "y1", "x2", "y2"), sighting.box.as_list(), strict=False))),
            quality=sighting.quality,
            plate=sighting.plate.text if sighting.plate else None,
            thumbnail_url=urls["thumbnail"],
            context_url=urls["context"],
            source=sighting.source.value,
            direction=feed.direction if feed else None,
            place=feed.place.value if feed and feed.place else None,
            person_name=feed.person_name if feed else None,
            identity=feed.identity.masked if feed and feed.identity else None,
        )


class SightingPage(BaseModel):
    items: list[SightingOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; None: this is the last.")


class HourCount(BaseModel):
    camera_id: str
    hour: float = Field(description="Start of the hour (Unix seconds).")
    count: int


class FaceMatch(BaseModel):
    similarity: float
    band: SimilarityBand = Field(
        description="match: at or above the calibrated threshold; possible: below it, where 99 % of same-person "
        "pairs and 1 % of different-person pairs are; unlikely: below that (DEV calibration, eval_faces)."
    )
    below_threshold: bool = Field(description="Under the calibrated threshold: shown only because it was asked for.")
    sighting: SightingOut


class FaceSearchResponse(BaseModel):
    query_box: BoxOut | None = Field(description="The face searched for, in the uploaded image (None: by sighting).")
    faces_in_image: int
    threshold: float = Field(description="The calibrated threshold (SKYNET_WATCHLIST_MIN_SIMILARITY).")
    min_similarity: float | None = Field(description="The least similarity returned (None: any).")
    results: list[FaceMatch]
    incomplete: list[TimeRange] = Field(
        default_factory=list,
        description="Time ranges (Unix seconds) this search could not cover: the face index is being rebuilt "
        "from the store there, so results are partial. Empty when the search is complete.",
    )


class PlateMatch(BaseModel):
    match: PlateMode = Field(description="How the read matched: exact, by the wildcard pattern, or fuzzily.")
    distance: float = Field(description="Edit distance of the read that matched (0: exact); lower ranks first.")
    matched_read: str
    sighting: SightingOut


class PlateSearchResponse(BaseModel):
    results: list[PlateMatch]


class TrajectoryResponse(BaseModel):
    """``trajectory_json``: stops, transitions (implausible ones flagged), GeoJSON, notes."""

    model_config = ConfigDict(extra="allow")
    sightings: int


class WatchlistOut(BaseModel):
    id: int
    kind: str
    label: str
    reason: str
    added_by: str
    created_at: float
    expires_at: float | None
    active: bool
    plate_pattern: str | None
    photos: int
    min_similarity: float | None
    cooldown_s: float | None = Field(description="Its own alert cooldown, seconds (None: SKYNET_ALERT_COOLDOWN_S).")
    identity: str | None = Field(default=None, description="kind=identity: the key, masked.")

    @classmethod
    def of(cls, watched: Watched) -> WatchlistOut:
        entry = watched.entry
        return cls(
            id=int(entry.id or 0),
            kind=entry.kind.value,
            label=entry.label,
            reason=entry.reason,
            added_by=entry.added_by,
            created_at=entry.created_at,
            expires_at=entry.expires_at,
            active=watched.active,
            plate_pattern=entry.plate_pattern,
            photos=len(entry.embeddings),
            min_similarity=entry.min_similarity,
            cooldown_s=entry.cooldown_s,
            identity=entry.identity.masked if entry.identity else None,
        )


class AlertOut(BaseModel):
    id: int
    entry_id: int
    sighting_id: int
    camera_id: str
    created_at: float
    score: float
    acknowledged_by: str | None
    acknowledged_at: float | None
    thumbnail_url: str = Field(description=MEDIA_LINK)
    context_url: str = Field(description=MEDIA_LINK)
    sightings: int = Field(description="Matching sightings in it: those of its pass, and passes within the cooldown.")
    updated_at: float | None = Field(description="When the last of them was added (None: only the first).")

    @classmethod
    def of(cls, alert: Alert, link: Linker) -> AlertOut:
        """``alert`` with links to its sighting's media made by ``link``."""
        return cls(
            id=int(alert.id or 0),
            entry_id=alert.entry_id,
            sighting_id=alert.sighting_id,
            camera_id=alert.camera_id,
            created_at=alert.created_at,
            score=alert.score,
            acknowledged_by=alert.acknowledged_by,
            acknowledged_at=alert.acknowledged_at,
            thumbnail_url=link(alert.sighting_id, "thumbnail"),
            context_url=link(alert.sighting_id, "context"),
            sightings=alert.sightings,
            updated_at=alert.updated_at,
        )


class AcknowledgeAll(Strict):
    reason: Reason
    entry_id: int | None = Field(default=None, ge=1, le=2**62, description="Only this watch-list entry's alerts.")


class AcknowledgedOut(BaseModel):
    acknowledged: int
    alert_ids: list[int]


class ReindexRequest(Strict):
    paths: list[str] = Field(min_length=1, max_length=1000, description="Video files or directories on the server.")
    camera: str = Field(min_length=1, max_length=100)
    start: float | None = Field(
        default=None,
        ge=ARCHIVE_TIME_MIN,
        description="Unix time of the first frame, 2000-01-01 or later (default: from the file). A file indexed "
        "before keeps its camera and start time.",
    )
    force: bool = Field(
        default=False,
        description="Redo files already done, deleting their earlier sightings first but held evidence (admins only).",
    )
    reason: Reason


class JobRequest(Strict):
    reason: Reason


class AcknowledgeRequest(Strict):
    reason: Reason


class JobOut(BaseModel):
    id: int
    kind: str
    state: Literal["queued", "running", "done", "failed"]
    created_by: str
    created_at: float
    updated_at: float
    params: dict[str, Any]
    files_total: int
    files_done: int
    frames: int
    sightings: int
    errors: list[str]
    progress: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Every progress counter of the job (a re-embedding job: faces_total, faces_done, faces_failed, "
            "watchlist_done, watchlist_without_photos, switched)."
        ),
    )

    @classmethod
    def of(cls, job: Job) -> JobOut:
        p = job.progress
        return cls(
            id=int(job.id or 0),
            kind=job.kind,
            state=job.state.value,  # type: ignore[arg-type]
            created_by=job.created_by,
            created_at=job.created_at,
            updated_at=job.updated_at,
            params=job.params,
            files_total=p.get("files_total", 0),
            files_done=p.get("files_done", 0),
            frames=p.get("frames", 0),
            sightings=p.get("sightings", 0),
            errors=list(job.errors),
            progress=dict(p),
        )


class AuditOut(BaseModel):
    id: int
    at: float
    actor: str
    action: str
    reason: str | None
    detail: dict[str, Any]
    token_id: int | None = Field(description="The id of the API token the action was done with (None: no token).")
    token_minted_by: str | None = Field(
        description="Who minted that token: the user (logging in), an admin who issued it, or 'cli'."
    )

    @classmethod
    def of(cls, event: AuditEvent) -> AuditOut:
        return cls(
            id=int(event.id or 0),
            at=event.at,
            actor=event.actor,
            action=event.action,
            reason=event.reason,
            detail=event.detail,
            token_id=event.token_id,
            token_minted_by=event.token_minted_by,
        )


# --- exports ---------------------------------------------------------------------------------

EXPORT_LIMIT = 5000
"""At most this many sightings in one export."""


class PlateQuery(Strict):
    q: str = Field(min_length=1, max_length=20)
    mode: PlateMode = PlateMode.EXACT


class FaceQuery(Strict):
    sighting_id: int = Field(ge=1, le=2**62, description="The face sighting to look for.")
    min_similarity: float | None = Field(
        default=None,
        ge=-1.0,
        le=1.0,
        description=("Default: the watch-list threshold (SKYNET_WATCHLIST_MIN_SIMILARITY)."),
    )


class ExportRequest(TimeRange, Strict):
    """What to export: exactly one of ``sighting_ids``, ``plate`` and ``face``; ``since``, ``until`` and
    ``cameras`` narrow the plate and face queries."""

    reason: Reason
    sighting_ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(
        default=None, min_length=1, max_length=EXPORT_LIMIT
    )
    plate: PlateQuery | None = None
    face: FaceQuery | None = None
    cameras: list[str] | None = Field(default=None, max_length=1000, description="Only these camera ids.")
    limit: int = Field(default=1000, ge=1, le=EXPORT_LIMIT, description="At most this many query matches.")
    media: bool = Field(default=True, description="Include thumbnails and context frames.")
    trajectory: bool = Field(default=False, description="Include the trajectory as trajectory.geojson.")
    max_speed_kmh: float | None = Field(default=None, gt=0, le=10_000)

    @model_validator(mode="after")
    def _one_selection(self) -> ExportRequest:
        chosen = [n for n in ("sighting_ids", "plate", "face") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError(f"give exactly one of 'sighting_ids', 'plate' and 'face' (got {len(chosen)})")
        return self
