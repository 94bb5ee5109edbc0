"""Trajectories of a face or a plate: the sightings a search finds, grouped into stops and moves between
cameras (:mod:`skynet.trajectory`). Built here for the search routes and the evidence export alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from skynet.accounts.model import User
from skynet.errors import InvalidInputError, NotFoundError
from skynet.records import Sighting
from skynet.services.audit import Auditor
from skynet.services.faces import FaceQueries, FaceQuery
from skynet.services.feed_rows import RejectedRecord, identity_value, shown
from skynet.services.search import Filters, SearchService
from skynet.store import Store
from skynet.store.identity_keys import mask
from skynet.store.plates import PlateMode
from skynet.trajectory import Trajectory, TrajectoryOptions, build_trajectory

TRAJECTORY_LIMIT = 1000
"""At most this many sightings make one trajectory."""


@dataclass(frozen=True, slots=True)
class Traced:
    """A trajectory and how many sightings it was built from."""

    sightings: int
    trajectory: Trajectory


class TrajectoryService:
    """Builds trajectories over the store's cameras; a face trajectory's default threshold is
    ``default_min_similarity`` (the watch-list's)."""

    def __init__(
        self, search: SearchService, faces: FaceQueries, store: Store, auditor: Auditor, default_min_similarity: float
    ) -> None:
        self.search = search
        self.faces = faces
        self.store = store
        self.auditor = auditor
        self.default_min_similarity = default_min_similarity

    def build(self, sightings: Sequence[Sighting], max_speed_kmh: float | None = None) -> Trajectory:
        """The trajectory of ``sightings``; moves faster than ``max_speed_kmh`` are flagged implausible."""
        options = TrajectoryOptions() if max_speed_kmh is None else TrajectoryOptions(max_speed_kmh=max_speed_kmh)
        try:
            return build_trajectory(sightings, self.store.cameras.all(), options)
        except ValueError as error:
            raise InvalidInputError(str(error)) from None

    def threshold(self, min_similarity: float | None) -> float:
        """The similarity a face sighting must reach to count: ``min_similarity``, or the default."""
        return self.default_min_similarity if min_similarity is None else min_similarity

    def of_face(
        self,
        user: User,
        reason: str,
        query: FaceQuery,
        min_similarity: float | None,
        filters: Filters,
        max_speed_kmh: float | None = None,
    ) -> Traced:
        """Where the face of ``query`` was seen; audited as ``trajectory.face``. Runs index and store calls:
        call it off the event loop."""
        reason = self.auditor.reason(reason)
        threshold = self.threshold(min_similarity)
        hits = self.search.face_hits(self.faces.embedding(query), TRAJECTORY_LIMIT, filters, threshold)
        traced = self._traced([h.sighting_id for h in hits], max_speed_kmh)
        self.auditor.record(
            user,
            "trajectory.face",
            reason,
            {
                "image": query.photo_name,
                "sighting_id": query.sighting_id,
                "min_similarity": threshold,
                **filters.audited(),
                "sightings": traced.sightings,
            },
        )
        return traced

    def of_plate(
        self,
        user: User,
        reason: str,
        text: str,
        mode: PlateMode,
        filters: Filters,
        max_speed_kmh: float | None = None,
    ) -> Traced:
        """Where a plate was seen; audited as ``trajectory.plate``."""
        reason = self.auditor.reason(reason)
        hits = self.search.plate_hits(text, mode, TRAJECTORY_LIMIT, filters)
        traced = self._traced([h.sighting_id for h in hits], max_speed_kmh)
        self.auditor.record(
            user,
            "trajectory.plate",
            reason,
            {"q": text, "mode": mode.value, **filters.audited(), "sightings": traced.sightings},
        )
        return traced

    def of_identity(self, user: User, reason: str, identity_id: int, max_speed_kmh: float | None = None) -> Traced:
        """Where an unknown-face identity (person #n) was seen; audited as ``trajectory.identity``."""
        reason = self.auditor.reason(reason)
        if not self.store.identities.exists(identity_id):
            raise NotFoundError(f"no identity person #{identity_id} (or it was merged into another)")
        ids = self.store.identities.sightings(identity_id)
        self.auditor.record(user, "trajectory.identity", reason, {"identity": identity_id, "sightings": len(ids)})
        return self._traced(ids, max_speed_kmh)

    def of_identity_key(
        self, user: User, reason: str, identity: str, id_type: str | None, max_speed_kmh: float | None = None
    ) -> Traced:
        """Where a person was registered (hotels, internet cafés, ...) by identity key; audited as
        ``trajectory.identity_key`` with the key masked."""
        reason = self.auditor.reason(reason)
        try:
            key_hash = self.store.identity_keys.key_hash(identity_value(id_type, identity))
        except RejectedRecord as error:
            raise InvalidInputError(str(error)) from None
        ids = self.store.feeds.with_identity(key_hash, TRAJECTORY_LIMIT)
        self.auditor.record(
            user,
            "trajectory.identity_key",
            reason,
            {"identity": mask(shown(identity_value(id_type, identity))), "sightings": len(ids)},
        )
        return self._traced(ids, max_speed_kmh)

    def _traced(self, ids: list[int], max_speed_kmh: float | None) -> Traced:
        sightings = self.store.sightings.get_many(ids)
        return Traced(len(sightings), self.build(sightings, max_speed_kmh))
