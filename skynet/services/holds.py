"""Evidence holds as an admin manages them: listed, and released with a reason (audited in the same transaction
as the release), after which retention or a forced re-index may delete the sightings again."""

from __future__ import annotations

from collections.abc import Sequence

from skynet.accounts.model import User
from skynet.errors import InvalidInputError, NotFoundError
from skynet.services.audit import Auditor
from skynet.store import Store
from skynet.store.holds import Hold, HoldCause
from skynet.store.sightings import id_runs


class EvidenceHoldService:
    """Lists and releases the holds of :mod:`skynet.store.holds` (the route checks the permission)."""

    def __init__(self, store: Store, auditor: Auditor) -> None:
        self.store = store
        self.auditor = auditor

    def find(
        self,
        sighting_ids: Sequence[int] | None = None,
        cause: HoldCause | None = None,
        ref: str | None = None,
        limit: int = 1000,
    ) -> list[Hold]:
        """The holds on ``sighting_ids``, of ``cause`` and ``ref`` (None: any), newest first."""
        return self.store.holds.find(sighting_ids, cause, ref, limit)

    def release(
        self,
        user: User,
        reason: str,
        sighting_ids: Sequence[int] | None = None,
        cause: HoldCause | None = None,
        ref: str | None = None,
    ) -> list[Hold]:
        """Release the holds on ``sighting_ids`` and/or of one export or alert (``cause`` and ``ref``); audited as
        ``evidence.release`` with the reason, in the same transaction. :class:`NotFoundError` when none match."""
        reason = self.auditor.reason(reason)
        if not sighting_ids and ref is None:
            raise InvalidInputError("name the held sightings, or the export or alert (cause and ref) whose holds go")
        if ref is not None and cause is None:
            raise InvalidInputError("a ref names an export or an alert: give its cause too")
        with self.store.db.write("releasing evidence holds"):
            released = self.store.holds.release(sighting_ids or None, cause, ref)
            if not released:
                raise NotFoundError("no evidence hold matches")
            self.auditor.record(
                user,
                "evidence.release",
                reason,
                {
                    "holds": len(released),
                    "sighting_ids": id_runs([h.sighting_id for h in released]),
                    "causes": sorted({f"{h.cause.value}:{h.ref}" for h in released})[:100],
                },
            )
        return released
