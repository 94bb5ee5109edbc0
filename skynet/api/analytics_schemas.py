"""Requests and answers of the analysis routes (:mod:`skynet.api.analytics`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from skynet.api.schemas import Reason, SightingOut, Strict

Time = Annotated[float, Field(allow_inf_nan=False, description="Unix seconds.")]
Export = Annotated[bool, Field(description="Answer with the evidence ZIP of the sightings found instead of JSON.")]
Limit = Annotated[int, Field(ge=1, le=500)]


class AreaIn(Strict):
    """Cameras by id, or a circle: every camera within ``radius_m`` of a point."""

    cameras: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=1000)
    latitude: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    radius_m: float | None = Field(default=None, gt=0, le=100_000, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_kind(self) -> AreaIn:
        circle = [v is not None for v in (self.latitude, self.longitude, self.radius_m)]
        if not (all(circle) if not self.cameras else not any(circle)):
            raise ValueError("an area is either cameras or a circle (latitude, longitude and radius_m)")
        return self


class Ranged(Strict):
    reason: Reason
    since: Time
    until: Time
    export: Export = False

    @model_validator(mode="after")
    def _ordered(self) -> Ranged:
        if self.until <= self.since:
            raise ValueError("until must be later than since")
        return self


class ClonedPlatesRequest(Ranged):
    area: AreaIn | None = Field(default=None, description="Only these cameras (default: all).")
    max_speed_kmh: float | None = Field(
        default=None, gt=0, le=10_000, allow_inf_nan=False, description="Default SKYNET_ANALYSIS_MAX_SPEED_KMH."
    )
    limit: Limit = 50


class ClonedPlateOut(BaseModel):
    plate: str
    first: SightingOut
    second: SightingOut
    distance_m: float
    gap_s: float = Field(description="From the end of the first pass to the start of the second (0: overlapping).")
    speed_kmh: float | None = Field(description="The speed the move needs; null when both passes overlap in time.")
    simultaneous: bool
    implausible_moves: int


class TargetIn(Strict):
    plate: str | None = Field(default=None, min_length=1, max_length=20, description="A plate's exact text.")
    face_sighting_id: int | None = Field(default=None, ge=1, description="The face of this sighting.")
    identity_id: int | None = Field(default=None, ge=1, description="An unknown-face identity (person #n).")

    @model_validator(mode="after")
    def _one(self) -> TargetIn:
        if sum(v is not None for v in (self.plate, self.face_sighting_id, self.identity_id)) != 1:
            raise ValueError("a target is a plate, a face_sighting_id or an identity_id (one of them)")
        return self


class CompanionsRequest(Ranged):
    target: TargetIn
    window_s: float = Field(default=60.0, gt=0, allow_inf_nan=False, description="Seconds either side of a pass.")
    min_cameras: int = Field(default=2, ge=1, le=100)
    limit: Limit = 50


class CompanionOut(BaseModel):
    key: str = Field(description="A plate's text, or an unknown-face identity (person #n).")
    identity_id: int | None
    cameras: list[str]
    surprise: float = Field(description="-log10 of the chance of being seen this way by chance: higher, rarer.")
    pairs: list[dict[str, int]]


class CompanionsResponse(BaseModel):
    target_sightings: list[int]
    companions: list[CompanionOut]


class PlaceIn(Strict):
    area: AreaIn
    since: Time
    until: Time

    @model_validator(mode="after")
    def _ordered(self) -> PlaceIn:
        if self.until <= self.since:
            raise ValueError("until must be later than since")
        return self


class IntersectionsRequest(Strict):
    reason: Reason
    places: list[PlaceIn] = Field(min_length=2, max_length=50)
    min_places: int | None = Field(default=None, ge=1, description="Default: every place.")
    export: Export = False


class IntersectionOut(BaseModel):
    key: str = Field(description="A plate's text, or an unknown-face identity (person #n).")
    identity_id: int | None
    places: list[int] = Field(description="The places (indexes into the request's list) it was present at.")


class FirstSeenRequest(Ranged):
    area: AreaIn
    lookback_days: float = Field(default=30.0, gt=0, le=3660, allow_inf_nan=False)
    limit: Limit = 200


class FirstSeenOut(BaseModel):
    plate: str
    first: SightingOut
    sightings: int


class NightActivityRequest(Ranged):
    area: AreaIn
    min_sightings: int = Field(default=3, ge=1, le=10_000)
    min_fraction: float = Field(default=0.7, gt=0, le=1, allow_inf_nan=False)
    limit: Limit = 200


class NightActivityOut(BaseModel):
    plate: str
    sightings: int
    night: int
    fraction: float
    night_sighting_ids: list[int]
