"""Identity keys as people see them: masked everywhere, searched by their keyed hash, and shown in full
only to a role allowed to (the route checks the permission), each unmasking audited with its reason."""

from __future__ import annotations

from skynet.accounts.model import User
from skynet.errors import InvalidInputError, NotFoundError
from skynet.records import Identity
from skynet.services.audit import Auditor
from skynet.services.feed_rows import RejectedRecord, identity_value
from skynet.services.sightings import Found, SightingService
from skynet.store import Store


class IdentityKeyService:
    """Searches registrations by identity key and unmasks the keys of sightings and watch-list entries."""

    def __init__(self, store: Store, sightings: SightingService, auditor: Auditor) -> None:
        self.store = store
        self.sightings = sightings
        self.auditor = auditor

    def key_hash(self, identity: str, id_type: str | None = None) -> str:
        """The keyed hash of an identity key as typed (:class:`InvalidInputError` for a malformed one)."""
        try:
            return self.store.identity_keys.key_hash(identity_value(id_type, identity))
        except RejectedRecord as error:
            raise InvalidInputError(str(error)) from None

    def sighting_ids(self, identity: str, id_type: str | None, limit: int) -> list[int]:
        """The registrations of an identity key, newest first (not audited: the use case that asks audits)."""
        return self.store.feeds.with_identity(self.key_hash(identity, id_type), limit)

    def search(self, user: User, reason: str, identity: str, id_type: str | None, limit: int) -> list[Found]:
        """Registrations of an identity key, newest first; audited as ``search.identity`` (the key masked)."""
        reason = self.auditor.reason(reason)
        ids = self.sighting_ids(identity, id_type, limit)
        found = self.sightings.found(ids)
        shown = found[0].sighting.feed.identity.masked if found and found[0].sighting.feed else None  # type: ignore[union-attr]
        self.auditor.record(user, "search.identity", reason, {"identity": shown, "results": len(ids)})
        return found

    def reveal_sighting(self, user: User, reason: str, sighting_id: int) -> str:
        """The identity key of registration ``sighting_id`` in full; audited as ``identity.reveal``."""
        reason = self.auditor.reason(reason)
        found = self.store.sightings.get(sighting_id)
        if found is None or found.feed is None or found.feed.identity is None:
            raise NotFoundError(f"no registration with id {sighting_id}")
        return self._reveal(user, reason, found.feed.identity, {"sighting": sighting_id})

    def reveal_entry(self, user: User, reason: str, entry_id: int) -> str:
        """The identity key of watch-list entry ``entry_id`` in full; audited as ``identity.reveal``."""
        reason = self.auditor.reason(reason)
        for entry in self.store.watchlists.all():
            if entry.id == entry_id and entry.identity is not None:
                return self._reveal(user, reason, entry.identity, {"entry": entry_id})
        raise NotFoundError(f"no identity watch-list entry with id {entry_id}")

    def _reveal(self, user: User, reason: str, identity: Identity, detail: dict) -> str:
        value = self.store.identity_keys.unseal(identity)
        self.auditor.record(user, "identity.reveal", reason, {**detail, "identity": identity.masked})
        return value.rpartition(":")[2]
