"""Face and plate search: index and store hits joined with their sightings and cameras. The searches
an investigator makes are audited with the reason given; the trajectory and export use cases select
through the same searches (and audit what they do with them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skynet.accounts.model import User
from skynet.index.catalog import Catalog
from skynet.index.face_search import FaceHit, FaceHits
from skynet.services.audit import Auditor
from skynet.services.faces import FaceQueries, FaceQuery, SimilarityBands
from skynet.services.sightings import Found, SightingService
from skynet.store.plates import PlateHit, PlateMode


@dataclass(frozen=True, slots=True)
class Filters:
    """What narrows a search: the best-view time (Unix seconds) and the cameras."""

    since: float | None = None
    until: float | None = None
    cameras: list[str] | None = None

    def audited(self) -> dict[str, Any]:
        """The filters as the audit log records them."""
        return {"since": self.since, "until": self.until, "cameras": self.cameras}


class FoundFaces(list):
    """Found face sightings, most similar first; ``incomplete``: the (since, until) time ranges the
    search could not cover (face index partitions being rebuilt from the store), empty when complete."""

    def __init__(self, found: list[Found], incomplete: tuple[tuple[float, float], ...] = ()) -> None:
        super().__init__(found)
        self.incomplete = incomplete


class SearchService:
    """Searches the catalog's face index and the store's plate reads. A face search finds what reaches the
    calibrated threshold (``bands.match``) unless asked for weaker results."""

    def __init__(
        self,
        catalog: Catalog,
        sightings: SightingService,
        faces: FaceQueries,
        auditor: Auditor,
        bands: SimilarityBands,
    ) -> None:
        self.catalog = catalog
        self.sightings = sightings
        self.faces = faces
        self.auditor = auditor
        self.bands = bands

    def face_floor(self, min_similarity: float | None, include_weaker: bool) -> float | None:
        """The least similarity a face search returns: ``min_similarity`` when given, none when weaker
        results are asked for, else the calibrated threshold."""
        if min_similarity is not None:
            return min_similarity
        return None if include_weaker else self.bands.match

    # --- what a search finds (not audited: the use case that asks audits) -------------------------

    def face_hits(self, embedding: np.ndarray, limit: int, filters: Filters, min_similarity: float | None) -> FaceHits:
        """The face sightings most similar to ``embedding``, most similar first (saying which time
        ranges it could not cover, if any)."""
        return self.catalog.search_faces(
            embedding,
            limit,
            since=filters.since,
            until=filters.until,
            cameras=filters.cameras,
            min_similarity=min_similarity,
        )

    def plate_hits(self, text: str, mode: PlateMode, limit: int, filters: Filters) -> list[PlateHit]:
        """The plate sightings whose reads match ``text`` (exactly, by wildcard or fuzzily), best first."""
        return self.catalog.store.plates.search(
            text, mode, limit=limit, since=filters.since, until=filters.until, cameras=filters.cameras
        )

    def found_faces(self, hits: list[FaceHit]) -> list[Found]:
        """``hits`` joined with their sightings and cameras, in order."""
        return self.sightings.found(
            [h.sighting_id for h in hits], similarity={h.sighting_id: h.similarity for h in hits}
        )

    def found_plates(self, hits: list[PlateHit]) -> list[Found]:
        """``hits`` joined with their sightings and cameras, in order."""
        return self.sightings.found(
            [h.sighting_id for h in hits],
            plate_distance={h.sighting_id: h.distance for h in hits},
            matched_read={h.sighting_id: h.matched_read for h in hits},
        )

    # --- an investigator's searches ----------------------------------------------------------------

    def search_faces(
        self,
        user: User,
        reason: str,
        query: FaceQuery,
        top_k: int,
        min_similarity: float | None,
        filters: Filters,
        include_weaker: bool = False,
    ) -> FoundFaces:
        """Sightings of the face of ``query``, most similar first, at least as similar as
        :meth:`face_floor`; audited as ``search.face`` with the number of sightings returned (and the time
        ranges the search could not cover, if any). Runs index and store calls: call it off the event loop."""
        reason = self.auditor.reason(reason)
        floor = self.face_floor(min_similarity, include_weaker)
        hits = self.face_hits(self.faces.embedding(query), top_k, filters, floor)
        found = self.found_faces(hits)
        self.auditor.record(
            user,
            "search.face",
            reason,
            {
                "image": query.photo_name,
                "sighting_id": query.sighting_id,
                "top_k": top_k,
                "min_similarity": floor,
                **filters.audited(),
                "results": len(found),
                **({"incomplete": [list(r) for r in hits.incomplete]} if hits.incomplete else {}),
            },
        )
        return FoundFaces(found, hits.incomplete)

    def search_plates(
        self, user: User, reason: str, text: str, mode: PlateMode, limit: int, filters: Filters
    ) -> list[Found]:
        """Plate sightings whose text matches ``text``, best first; audited as ``search.plate`` with the number
        of sightings returned."""
        reason = self.auditor.reason(reason)
        found = self.found_plates(self.plate_hits(text, mode, limit, filters))
        self.auditor.record(
            user,
            "search.plate",
            reason,
            {"q": text, "mode": mode.value, **filters.audited(), "results": len(found)},
        )
        return found
