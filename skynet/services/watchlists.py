"""Watch-lists: entries from photos (faces) or plate patterns, listed and deleted; the alerts they raise,
listed and acknowledged. Every change is audited with its reason; the matcher reloads after each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from skynet.accounts.model import User
from skynet.errors import InvalidInputError, NotFoundError, UnusableInputError
from skynet.index.catalog import Catalog
from skynet.records import Alert, SightingKind, WatchlistEntry
from skynet.services.audit import Auditor
from skynet.services.faces import FaceQueries
from skynet.services.feed_rows import RejectedRecord, identity_value
from skynet.store import plate_search
from skynet.store.holds import HoldCause

MAX_PHOTOS = 20
"""At most this many photos make one face entry."""

EntryState = Literal["active", "expired", "all"]


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo of a face entry, as uploaded: the file's name and its bytes."""

    name: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class Watched:
    """A watch-list entry and whether it still matches (it has not expired)."""

    entry: WatchlistEntry
    active: bool


class WatchlistService:
    """Watch-list entries and alerts in ``catalog``'s store; a face entry is embedded by ``faces`` with the
    catalog's live model; ``on_change`` is called after every change (e.g. ``WatchlistMatcher.invalidate``),
    ``on_acknowledged`` with the alerts each acknowledgement marked (e.g. to show them on the live stream where no
    store follower does)."""

    def __init__(
        self,
        catalog: Catalog,
        faces: FaceQueries,
        auditor: Auditor,
        clock: Callable[[], float],
        on_change: Callable[[], None] = lambda: None,
        on_acknowledged: Callable[[Sequence[Alert]], None] = lambda _alerts: None,
    ) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self.faces = faces
        self.auditor = auditor
        self.clock = clock
        self.on_change = on_change
        self.on_acknowledged = on_acknowledged

    def add(
        self,
        user: User,
        kind: SightingKind,
        label: str,
        reason: str,
        photos: Sequence[Photo] | None = None,
        pattern: str | None = None,
        expires_at: float | None = None,
        min_similarity: float | None = None,
        cooldown_s: float | None = None,
        identity: str | None = None,
        id_type: str | None = None,
    ) -> Watched:
        """Watch for a face (the largest face of each of 1 to :data:`MAX_PHOTOS` photos, which are kept
        to re-embed it when the model pack changes), a plate (exact or wildcard ``pattern``) or an identity
        key (``identity``, of ``id_type``: registrations with that key alert; kept sealed, shown masked).
        ``cooldown_s``: a later pass at a camera this soon after the alert there adds to that alert
        (default: the ``alert_cooldown_s`` setting)."""
        reason = self.auditor.reason(reason)
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise UnusableInputError("expires_at is in the past")
        if cooldown_s is not None and cooldown_s < 0:
            raise InvalidInputError("cooldown_s must be 0 or more seconds")
        embeddings: tuple[np.ndarray, ...] = ()
        kept: list[bytes] = []
        sealed = None
        if (kind is SightingKind.IDENTITY) != (identity is not None):
            raise InvalidInputError("an identity entry (and only one) needs an 'identity' key")
        if kind is SightingKind.IDENTITY:
            if photos or pattern is not None:
                raise InvalidInputError("an identity entry needs an 'identity' and no 'photos' or 'pattern'")
            try:
                sealed = self.store.identity_keys.seal(identity_value(id_type, identity))
            except RejectedRecord as error:
                raise InvalidInputError(str(error)) from None
        elif kind is SightingKind.FACE:
            if not photos or pattern is not None:
                raise InvalidInputError("a face entry needs 'photos' and no 'pattern'")
            if len(photos) > MAX_PHOTOS:
                raise InvalidInputError(f"at most {MAX_PHOTOS} photos per entry")
            embeddings = tuple(self.faces.embedding(self.faces.from_photo(p.data, p.name)) for p in photos)
            kept = [p.data for p in photos]
        else:
            if not pattern or photos:
                raise InvalidInputError("a plate entry needs a 'pattern' and no 'photos'")
            plate_search.wildcard_plan(pattern)  # QueryError (400) for a bad or too broad pattern
            pattern = plate_search.clean(pattern)
        entry = WatchlistEntry(
            kind,
            label,
            reason,
            user.name,
            now,
            expires_at,
            pattern,
            embeddings,
            min_similarity if kind is SightingKind.FACE else None,
            cooldown_s=cooldown_s,
            identity=sealed,
        )
        entry_id = self.store.watchlists.add(entry, model=self.catalog.live_model, photos=kept)
        self.auditor.record(
            user,
            "watchlist.add",
            reason,
            {
                "entry": entry_id,
                "kind": kind.value,
                "label": label,
                "pattern": pattern,
                "identity": sealed.masked if sealed else None,
                "photos": len(embeddings),
                "expires_at": expires_at,
                "cooldown_s": cooldown_s,
            },
        )
        self.on_change()
        entry = self.entry(entry_id)
        return Watched(entry, entry.active(now))

    def entries(self, state: EntryState = "active") -> list[Watched]:
        """The active entries, the expired ones, or all."""
        now = self.clock()
        entries = [Watched(e, e.active(now)) for e in self.store.watchlists.all()]
        return [w for w in entries if state == "all" or w.active == (state == "active")]

    def entry(self, entry_id: int) -> WatchlistEntry:
        """Entry ``entry_id``; :class:`NotFoundError` if there is none."""
        for entry in self.store.watchlists.all():
            if entry.id == entry_id:
                return entry
        raise NotFoundError(f"no watch-list entry with id {entry_id}")

    def delete(self, user: User, entry_id: int, reason: str) -> None:
        """Remove an entry: it matches no more and its photos and embeddings go; its alerts stay."""
        reason = self.auditor.reason(reason)
        entry = self.entry(entry_id)
        self.store.watchlists.delete(entry_id, user.name, self.clock())
        self.auditor.record(
            user, "watchlist.delete", reason, {"entry": entry_id, "kind": entry.kind.value, "label": entry.label}
        )
        self.on_change()

    def alerts(self, limit: int = 100) -> list[Alert]:
        """The newest alerts first."""
        return self.store.alerts.latest(limit)

    def acknowledge(self, user: User, alert_id: int, reason: str) -> Alert:
        """Mark an alert handled for ``reason`` (the first acknowledgement is kept; every one is audited); its
        sighting is held as evidence from then on (no deletion removes it: :mod:`skynet.store.holds`)."""
        reason = self.auditor.reason(reason)
        now = self.clock()
        alert = self.store.alerts.acknowledge(alert_id, user.name, now)
        if alert is None:
            raise NotFoundError(f"no alert with id {alert_id}")
        self.store.holds.hold([alert.sighting_id], HoldCause.ALERT, str(alert_id), user.name, now)
        detail = {"alert": alert_id, "sighting": alert.sighting_id, "acknowledged_by": alert.acknowledged_by}
        self.auditor.record(user, "alert.ack", reason, detail)
        if alert.acknowledged_at == now:  # marked now (not the kept first acknowledgement)
            self.on_acknowledged([alert])
        return alert

    def acknowledge_all(self, user: User, reason: str, entry_id: int | None = None) -> list[int]:
        """Mark every open alert handled (of entry ``entry_id`` only, when given): audited once, with the
        reason and the alerts' ids; their sightings are held as evidence, as one acknowledgement holds its
        sighting. Returns those ids (none: nothing was open)."""
        reason = self.auditor.reason(reason)
        if entry_id is not None:
            self.entry(entry_id)  # NotFoundError for an unknown entry
        now = self.clock()
        ids = self.store.alerts.acknowledge_all(user.name, now, entry_id)
        acknowledged = self.store.alerts.get_many(ids)
        for alert in acknowledged:
            self.store.holds.hold([alert.sighting_id], HoldCause.ALERT, str(alert.id), user.name, now)
        self.auditor.record(user, "alert.ack_all", reason, {"entry": entry_id, "count": len(ids), "alerts": ids})
        self.on_acknowledged(acknowledged)
        return ids
