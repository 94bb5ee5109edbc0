"""Unknown faces grouped into persistent pseudo-identities ("person #12") as they are stored.

Each new face sighting looks up its nearest stored faces in the face index (of the model it was
embedded with) above the calibrated threshold; it joins the identity with the most similarity among
them, or starts a new one. Investigators merge and split identities afterwards
(:mod:`skynet.services.identities`). :meth:`IdentityGrouper.group_all` groups what was stored before
(an upgrade, a re-index) in id order, as if it had arrived then."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from skynet.index.catalog import Catalog
from skynet.records import Sighting, SightingKind

log = logging.getLogger(__name__)
NEIGHBOURS = 10


class IdentityGrouper:
    """A writer listener: puts each stored face sighting in an identity (faces at ``threshold`` cosine
    similarity or more are the same person)."""

    def __init__(self, catalog: Catalog, threshold: float, clock: Callable[[], float] = time.time) -> None:
        self.catalog = catalog
        self.threshold = threshold
        self.clock = clock

    def __call__(self, stored: Sequence[Sighting]) -> None:
        faces = [(int(s.id), s.embedding) for s in stored if s.kind is SightingKind.FACE and s.id is not None]
        self.group([(i, e) for i, e in faces if e is not None])

    def group(self, faces: Sequence[tuple[int, np.ndarray]]) -> dict[int, int]:
        """Put each (sighting id, embedding) in an identity, in order; returns sighting id -> identity."""
        store = self.catalog.store
        index = self.catalog.index(self.catalog.live_model)
        chosen: dict[int, int] = {}
        for sighting_id, embedding in faces:
            hits = [
                h
                for h in index.search(embedding, NEIGHBOURS + 1, min_similarity=self.threshold)
                if h.sighting_id != sighting_id
            ]
            known = {**store.identities.of(h.sighting_id for h in hits), **chosen}
            votes: dict[int, float] = {}
            for hit in hits:
                if (identity := known.get(hit.sighting_id)) is not None:
                    votes[identity] = votes.get(identity, 0.0) + hit.similarity
            chosen[sighting_id] = max(votes, key=votes.__getitem__) if votes else store.identities.new(self.clock())
        if chosen:
            store.identities.assign(sorted(chosen.items()))
        return chosen

    def group_all(self, batch: int = 1000) -> int:
        """Group every stored face sighting that has no identity yet; returns how many."""
        store, done, after = self.catalog.store, 0, 0
        while ids := store.identities.ungrouped(after, batch):
            faces = [(i, v) for i in ids if (v := self.catalog.face_embedding(i)) is not None]
            done += len(self.group(faces))
            after = ids[-1]
        if done:
            log.info("grouped %d stored face sightings into identities", done)
        return done
