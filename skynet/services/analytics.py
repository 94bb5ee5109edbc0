"""The investigative analyses as use cases: cloned plates, companions, place-and-time intersections,
first sightings in an area and night-time activity (:mod:`skynet.analytics`).

Each is its own permission (the API checks it), needs a reason, is limited in span by the settings
(time range, number of places and cameras), and is audited with its parameters and result size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from skynet.accounts.model import User
from skynet.analytics.clones import ClonedPlate, cloned_plates
from skynet.analytics.companions import Companion, companions
from skynet.analytics.intersections import Present, intersect
from skynet.analytics.patterns import FirstSeen, NightActivity, first_seen, night_activity
from skynet.config import Settings
from skynet.errors import InvalidInputError, NotFoundError
from skynet.records import Camera, Observation, SightingKind
from skynet.services.audit import Auditor
from skynet.services.faces import FaceQuery
from skynet.services.search import Filters, SearchService
from skynet.store import Store
from skynet.store.identities import identity_of, person
from skynet.store.observations import MAX_PASS_S
from skynet.trajectory.geo import haversine_m, valid_position

FACE_TARGET = "(target face)"
"""The key of a face target's own passes (faces have no key of their own)."""


@dataclass(frozen=True, slots=True)
class Area:
    """Cameras by id, or every camera within ``radius_m`` of (``latitude``, ``longitude``)."""

    cameras: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    radius_m: float | None = None

    def camera_ids(self, cameras: Sequence[Camera]) -> list[str]:
        """The cameras of the area; :class:`InvalidInputError` for an area that names none or is both."""
        by_circle = self.radius_m is not None
        if bool(self.cameras) == by_circle:
            raise InvalidInputError("an area is either a list of cameras or a circle (latitude, longitude, radius_m)")
        if not by_circle:
            known = {c.id for c in cameras}
            if unknown := sorted(set(self.cameras) - known):
                raise NotFoundError(f"unknown cameras: {', '.join(unknown)}")
            return sorted(set(self.cameras))
        latitude, longitude, radius = self.latitude, self.longitude, float(self.radius_m or 0)
        if latitude is None or longitude is None or not valid_position(latitude, longitude) or not 0 < radius <= 1e5:
            raise InvalidInputError("a circle needs a valid latitude and longitude and a radius of 0-100 km")
        return sorted(
            c.id
            for c in cameras
            if c.latitude is not None
            and c.longitude is not None
            and valid_position(c.latitude, c.longitude)
            and haversine_m(latitude, longitude, c.latitude, c.longitude) <= radius
        )


@dataclass(frozen=True, slots=True)
class Place:
    """An area during a time window (Unix seconds)."""

    area: Area
    since: float
    until: float


@dataclass(frozen=True, slots=True)
class Target:
    """Whose companions: a plate (its voted text), a face (the sightings like face sighting
    ``face_sighting_id``), or an unknown-face identity (``person #identity_id``'s sightings)."""

    plate: str | None = None
    face_sighting_id: int | None = None
    identity_id: int | None = None


class AnalyticsService:
    """The analyses over the store, within the limits of ``settings``."""

    def __init__(self, store: Store, search: SearchService, auditor: Auditor, settings: Settings) -> None:
        self.store = store
        self.search = search
        self.auditor = auditor
        self.settings = settings

    # --- 1. cloned plates ----------------------------------------------------------------------------

    def cloned_plates(
        self,
        user: User,
        reason: str,
        since: float,
        until: float,
        area: Area | None = None,
        max_speed_kmh: float | None = None,
        limit: int = 50,
    ) -> list[ClonedPlate]:
        """Plates that moved between two cameras faster than ``max_speed_kmh`` (default: the setting)."""
        reason = self.auditor.reason(reason)
        self._span(since, until)
        speed = self.settings.analysis_max_speed_kmh if max_speed_kmh is None else max_speed_kmh
        if not (math.isfinite(speed) and speed > 0):
            raise InvalidInputError("max_speed_kmh must be a positive number")
        cameras = self._cameras()
        ids = None if area is None else self._area(area, cameras)
        found = cloned_plates(
            self.store.observations.plates(since, until, ids), cameras, speed, self.settings.analysis_min_distance_m
        )[:limit]
        self._audit(user, "analysis.cloned_plates", reason, since, until, len(found), max_speed_kmh=speed, cameras=ids)
        return found

    # --- 2. companions -------------------------------------------------------------------------------

    def companions(
        self,
        user: User,
        reason: str,
        target: Target,
        since: float,
        until: float,
        window_s: float = 60.0,
        min_cameras: int = 2,
        limit: int = 50,
    ) -> tuple[list[Observation], list[Companion]]:
        """The target's passes, and the plates and identities (``person #n``) seen within ``window_s`` of
        them at ``min_cameras`` or more distinct cameras, least likely by chance first."""
        reason = self.auditor.reason(reason)
        self._span(since, until)
        if not 0 < window_s <= self.settings.analysis_max_window_s:
            raise InvalidInputError(f"window_s must be in (0, {self.settings.analysis_max_window_s:g}] seconds")
        if min_cameras < 1:
            raise InvalidInputError("min_cameras must be at least 1")
        passes = self._passes(target, since, until)
        observations, identities = self.store.observations, self.store.identities
        near = {
            i: observations.plates_at(p.camera_id, p.first - window_s, p.last + window_s)
            + identities.faces_at(p.camera_id, p.first - window_s, p.last + window_s, MAX_PASS_S)
            for i, p in enumerate(passes)
        }
        keys = {o.key for seen in near.values() for o in seen}
        persons = {i for k in keys if (i := identity_of(k)) is not None}
        at = sorted({p.camera_id for p in passes})
        counts = observations.plate_counts(keys - {person(i) for i in persons}, at, since, until)
        counts |= identities.counts(persons, at, since, until)
        # the target is no companion of itself: its plate, or the identities of its own face sightings
        exclude = frozenset({target.plate} if target.plate else ()) | {
            person(i) for i in identities.of(p.sighting_id for p in passes).values()
        }
        found = companions(passes, near, counts, window_s, until - since, min_cameras, exclude)[:limit]
        self._audit(
            user,
            "analysis.companions",
            reason,
            since,
            until,
            len(found),
            target=asdict(target),
            window_s=window_s,
            min_cameras=min_cameras,
            target_sightings=len(passes),
        )
        return passes, found

    def _passes(self, target: Target, since: float, until: float) -> list[Observation]:
        if sum(v is not None for v in (target.plate, target.face_sighting_id, target.identity_id)) != 1:
            raise InvalidInputError("a target is a plate, a face sighting or an identity (one of them)")
        if target.plate is not None:
            return self.store.observations.plates_of([target.plate], since, until)
        if target.identity_id is not None:
            if not self.store.identities.exists(target.identity_id):
                raise NotFoundError(f"no identity {person(target.identity_id)} (or it was merged into another)")
            ids = self.store.identities.sightings(target.identity_id)
            key = person(target.identity_id)
            return [
                Observation(int(s.id or 0), key, s.camera_id, s.first_seen, s.last_seen, s.best_time)
                for s in self.store.sightings.get_many(ids)
                if since <= s.best_time <= until
            ]
        embedding = self.search.faces.embedding(FaceQuery(sighting_id=target.face_sighting_id))
        threshold = self.settings.watchlist_min_similarity
        hits = self.search.face_hits(embedding, 1000, Filters(since, until), threshold)
        sightings = self.store.sightings.get_many([h.sighting_id for h in hits])
        passes = [
            Observation(int(s.id or 0), FACE_TARGET, s.camera_id, s.first_seen, s.last_seen, s.best_time)
            for s in sightings
            if s.kind is SightingKind.FACE
        ]
        return sorted(passes, key=lambda o: (o.at, o.sighting_id))

    # --- 3. intersections ----------------------------------------------------------------------------

    def intersections(
        self, user: User, reason: str, places: Sequence[Place], min_places: int | None = None
    ) -> list[Present]:
        """Plates and identities present at every place (or at ``min_places`` of them), most places first."""
        reason = self.auditor.reason(reason)
        if not 2 <= len(places) <= self.settings.analysis_max_places:
            raise InvalidInputError(f"give 2 to {self.settings.analysis_max_places} places")
        need = len(places) if min_places is None else min_places
        if not 1 <= need <= len(places):
            raise InvalidInputError(f"min_places must be between 1 and {len(places)}")
        cameras = self._cameras()
        present = []
        for place in places:
            self._span(place.since, place.until)
            ids = self._area(place.area, cameras)
            plates = self.store.observations.plate_texts(ids, place.since, place.until)
            present.append(plates | self.store.identities.present(ids, place.since, place.until))
        found = intersect(present, need)
        self.auditor.record(
            user,
            "analysis.intersections",
            reason,
            {
                "places": [{**asdict(p.area), "since": p.since, "until": p.until} for p in places],
                "min_places": need,
                "results": len(found),
            },
        )
        return found

    # --- 4. first seen, unusual hours ----------------------------------------------------------------

    def first_seen(
        self, user: User, reason: str, area: Area, since: float, until: float, lookback_s: float, limit: int = 200
    ) -> list[FirstSeen]:
        """Plates seen in ``area`` during the period and never in the ``lookback_s`` seconds before it."""
        reason = self.auditor.reason(reason)
        self._span(since - lookback_s, until)
        if lookback_s <= 0:
            raise InvalidInputError("lookback_s must be positive")
        ids = self._area(area, self._cameras())
        observations = self.store.observations
        before = observations.plate_texts(ids, since - lookback_s, since)
        found = first_seen(observations.plates(since, until, ids), before)[:limit]
        self._audit(user, "analysis.first_seen", reason, since, until, len(found), cameras=ids, lookback_s=lookback_s)
        return found

    def night_activity(
        self,
        user: User,
        reason: str,
        area: Area,
        since: float,
        until: float,
        min_sightings: int = 3,
        min_fraction: float = 0.7,
        limit: int = 200,
    ) -> list[NightActivity]:
        """Plates seen in ``area`` at least ``min_sightings`` times, mostly (``min_fraction``) at night
        (``SKYNET_ANALYSIS_NIGHT_HOURS`` in ``SKYNET_ALERT_TIME_ZONE``, default the server's)."""
        reason = self.auditor.reason(reason)
        self._span(since, until)
        if min_sightings < 1 or not 0 < min_fraction <= 1:
            raise InvalidInputError("min_sightings must be at least 1 and min_fraction in (0, 1]")
        ids = self._area(area, self._cameras())
        zone = ZoneInfo(self.settings.alert_time_zone) if self.settings.alert_time_zone else None
        night = self.settings.analysis_night_hours
        found = night_activity(
            self.store.observations.plates(since, until, ids), zone, night, min_sightings, min_fraction
        )[:limit]
        self._audit(
            user,
            "analysis.night_activity",
            reason,
            since,
            until,
            len(found),
            cameras=ids,
            night_hours=list(night),
            min_sightings=min_sightings,
            min_fraction=min_fraction,
        )
        return found

    # --- limits and audit ----------------------------------------------------------------------------

    def _span(self, since: float, until: float) -> None:
        if not (math.isfinite(since) and math.isfinite(until)) or until <= since:
            raise InvalidInputError("a time range needs finite since < until (Unix seconds)")
        days = self.settings.analysis_max_span_days
        if until - since > days * 86400:
            raise InvalidInputError(
                f"the time range spans {(until - since) / 86400:.1f} days; analyses may span {days:g}",
                "narrow the range, or ask an admin to raise SKYNET_ANALYSIS_MAX_SPAN_DAYS",
            )

    def _cameras(self) -> dict[str, Camera]:
        return {c.id: c for c in self.store.cameras.all()}

    def _area(self, area: Area, cameras: dict[str, Camera]) -> list[str]:
        ids = area.camera_ids(list(cameras.values()))
        if len(ids) > self.settings.analysis_max_cameras:
            raise InvalidInputError(
                f"the area holds {len(ids)} cameras; analyses may cover {self.settings.analysis_max_cameras}",
                "narrow the area, or ask an admin to raise SKYNET_ANALYSIS_MAX_CAMERAS",
            )
        return ids

    def _audit(
        self, user: User, action: str, reason: str, since: float, until: float, results: int, **params: Any
    ) -> None:
        self.auditor.record(user, action, reason, {"since": since, "until": until, **params, "results": results})
