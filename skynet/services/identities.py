"""Unknown-face identities as investigators use them: an identity's sightings, merging two identities,
splitting sightings off one; each audited with its reason (:mod:`skynet.index.identities` groups)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from skynet.accounts.model import User
from skynet.errors import NotFoundError
from skynet.services.audit import Auditor
from skynet.services.sightings import Found, SightingService
from skynet.store import Store
from skynet.store.identities import person


class IdentityService:
    """Reads and edits the identities of ``store``."""

    def __init__(self, store: Store, sightings: SightingService, auditor: Auditor, clock: Callable[[], float]) -> None:
        self.store = store
        self.sightings = sightings
        self.auditor = auditor
        self.clock = clock

    def sighting_ids(self, identity_id: int) -> list[int]:
        """The sightings of an identity, oldest first; :class:`NotFoundError` for none or one merged away."""
        if not self.store.identities.exists(identity_id):
            raise NotFoundError(f"no identity {person(identity_id)} (or it was merged into another)")
        return self.store.identities.sightings(identity_id)

    def show(self, user: User, reason: str, identity_id: int) -> list[Found]:
        """An identity's sightings; audited as ``identity.read``."""
        reason = self.auditor.reason(reason)
        ids = self.sighting_ids(identity_id)
        self.auditor.record(user, "identity.read", reason, {"identity": identity_id, "results": len(ids)})
        return self.sightings.found(ids)

    def merge(self, user: User, reason: str, into: int, source: int) -> int:
        """Move ``source``'s sightings into ``into`` (the same person); audited as ``identity.merge``."""
        reason = self.auditor.reason(reason)
        moved = self.store.identities.merge(into, source)
        self.auditor.record(user, "identity.merge", reason, {"into": into, "from": source, "sightings": moved})
        return moved

    def split(self, user: User, reason: str, identity_id: int, sighting_ids: Sequence[int]) -> int:
        """Move ``sighting_ids`` off ``identity_id`` into a new identity (another person); audited as
        ``identity.split``. Returns the new identity's id."""
        reason = self.auditor.reason(reason)
        self.sighting_ids(identity_id)
        new = self.store.identities.split(identity_id, list(sighting_ids), self.clock())
        self.auditor.record(
            user, "identity.split", reason, {"from": identity_id, "into": new, "sighting_ids": sorted(sighting_ids)}
        )
        return new
