"""Matching stored sightings against the active watch-list entries, and recording the alerts: one per
pass of a track, a later pass within the entry's cooldown folded into the alert before it."""

from __future__ import annotations

import fnmatch
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

import numpy as np

from skynet.records import Alert, PlateText, Sighting, SightingKind, WatchlistEntry
from skynet.store import Store
from skynet.store.plate_search import normalise

Notify = Callable[[Alert, WatchlistEntry, Sighting], None]

PASS_GAP_S = 10.0
"""Sightings of one camera's track this close (sighting time) belong to one pass: a track published early
and at its end, or in segments, continues within the tracker's ``lost_after_s`` (2 s); a camera restarting
its track numbers would need to reuse the number this soon."""

REACQUIRED_GAP_S = 5.0
"""Another track of the same camera that starts this soon after an alerted pass was last seen continues that
pass (for a plate, when it reads the same plate): the tracker finishes a track unseen for 2 s
(``lost_after_s``), so an object missed for a moment (hidden, not detected in a few frames, frames dropped)
comes back as a new track; leaving the view and coming back takes longer. (Seed 1 of the scenario benchmark:
a watch-listed plate not detected for 2.6 s raised two alerts.)"""


def plate_matches(pattern: str, plate: PlateText) -> float | None:
    """Score (the read's confidence) when the voted text or an alternative read matches ``pattern``.

    ``pattern`` is a plate or a wildcard pattern (``*`` any run, ``?`` one character); both sides
    are compared with OCR-confusable characters folded (0/D/Q/O, 8/B, 1/I, 5/S, 2/Z), so a
    misread 0 for D still raises the alert. ``None`` when nothing matches.
    """
    wanted = normalise(pattern)
    reads = [(plate.text, plate.confidence), *plate.alternatives]
    scores = [confidence for text, confidence in reads if fnmatchcase(normalise(text), wanted)]
    return max(scores) if scores else None


@dataclass(frozen=True, slots=True)
class _PlateTable:
    """The active plate entries, their patterns normalised once: exact plates by text, wildcard patterns
    compiled, so that a read costs one normalisation and a lookup (checkpoint feeds bring thousands a second)."""

    exact: dict[str, list[WatchlistEntry]]
    wildcards: list[tuple[re.Pattern[str], WatchlistEntry]]
    any_wildcard: re.Pattern[str] | None = None  # every wildcard pattern in one

    @classmethod
    def of(cls, entries: list[WatchlistEntry]) -> _PlateTable:
        exact: dict[str, list[WatchlistEntry]] = {}
        wildcards = []
        for entry in entries:
            wanted = normalise(entry.plate_pattern or "")
            if "*" in wanted or "?" in wanted or "[" in wanted:
                wildcards.append((re.compile(fnmatch.translate(wanted)), entry))
            else:
                exact.setdefault(wanted, []).append(entry)
        union = "|".join(dict.fromkeys(f"(?:{pattern.pattern})" for pattern, _ in wildcards))
        return cls(exact, wildcards, re.compile(union) if union else None)

    def may_match(self, plate: PlateText) -> bool:
        """Whether a read of ``plate`` matches some entry's pattern (active or not): one normalisation and a
        lookup or two per read."""
        for text, _ in ((plate.text, 0.0), *plate.alternatives):
            norm = normalise(text)
            if norm in self.exact or (self.any_wildcard is not None and self.any_wildcard.match(norm)):
                return True
        return False

    def matches(self, plate: PlateText, now: float) -> list[tuple[WatchlistEntry, float]]:
        """Each active entry one of the plate's reads matches, with the best such read's confidence."""
        best: dict[int, tuple[WatchlistEntry, float]] = {}
        for text, confidence in ((plate.text, plate.confidence), *plate.alternatives):
            norm = normalise(text)
            found = self.exact.get(norm, [])
            if self.wildcards:
                found = found + [entry for pattern, entry in self.wildcards if pattern.match(norm)]
            for entry in found:
                if entry.active(now) and confidence > best.get(id(entry), (entry, -1.0))[1]:
                    best[id(entry)] = (entry, confidence)
        return list(best.values())


@dataclass(frozen=True, slots=True)
class _FaceTable:
    """Every reference embedding of the active face entries, stacked, with its entry's position."""

    vectors: np.ndarray  # (n, d) float32
    owner: np.ndarray  # (n,) int: index into entries

    @classmethod
    def of(cls, entries: list[WatchlistEntry]) -> _FaceTable | None:
        rows = [(i, e) for i, entry in enumerate(entries) for e in entry.embeddings]
        if not rows:
            return None
        return cls(np.stack([np.asarray(e, np.float32) for _, e in rows]), np.array([i for i, _ in rows]))


class WatchlistMatcher:
    """A :class:`~skynet.index.writer.CatalogWriter` listener: matches each stored sighting, stores an
    alert per matching entry and pass and hands it to ``notify``.

    One pass, one alert: a sighting of the same camera track as the entry's last alert there (the early
    sighting of a track and its final one), or of a track that starts within :data:`REACQUIRED_GAP_S` after
    that alert's pass was last seen (the object lost for a moment), is folded into that alert, as is any pass
    that starts within the entry's cooldown (``cooldown_s``, default ``default_cooldown_s``) after the last
    alert's pass was last seen there; the alert then keeps the better-scoring sighting and counts the
    sightings folded in. ``on_update`` hears of a folded alert whose sighting changed (the live view shows the
    better one);
    webhooks, MQTT, SMS and e-mail are told once, by ``notify``.

    Identity sightings (registrations) match the identity entries with the same keyed hash. Entries are
    read from the store and cached; :meth:`invalidate` (after a watch-list change) and
    a periodic refresh keep the cache current, and expiry is checked at every match. Face sightings
    are compared with the entries' reference embeddings of ``model``, the embedding model the
    sightings come from (default: the store's searched model): vectors of two models never meet.
    """

    def __init__(
        self,
        store: Store,
        notify: Notify,
        default_min_similarity: float,
        refresh_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        model: str | None = None,
        default_cooldown_s: float = 0.0,
        on_update: Notify | None = None,
    ) -> None:
        self.store = store
        self.model = model
        self.notify = notify
        self.on_update = on_update
        self.default_cooldown_s = default_cooldown_s
        self.default_min_similarity = default_min_similarity
        self.refresh_s = refresh_s
        self.clock = clock
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._faces: list[WatchlistEntry] = []
        self._face_table: _FaceTable | None = None
        self._plates = _PlateTable({}, [])
        self._identities: dict[str, list[WatchlistEntry]] = {}

    def invalidate(self) -> None:
        """Reload the entries before the next match."""
        with self._lock:
            self._loaded_at = float("-inf")

    def _entries(self) -> tuple[list[WatchlistEntry], _FaceTable | None, _PlateTable]:
        """The active face entries (and their table) and plate entries; identity entries are loaded beside."""
        with self._lock:
            now = time.monotonic()
            if now - self._loaded_at > self.refresh_s:
                active = [e for e in self.store.watchlists.all(self.model) if e.active(self.clock())]
                self._faces = [e for e in active if e.kind == SightingKind.FACE and e.embeddings]
                self._face_table = _FaceTable.of(self._faces)
                self._plates = _PlateTable.of([e for e in active if e.kind == SightingKind.PLATE and e.plate_pattern])
                self._identities = {}
                for entry in active:
                    if entry.kind == SightingKind.IDENTITY and entry.identity is not None:
                        self._identities.setdefault(entry.identity.key_hash, []).append(entry)
                self._loaded_at = now
            return self._faces, self._face_table, self._plates

    def candidates(self, sightings: Sequence[Sighting]) -> list[int]:
        """The positions of those of ``sightings`` (stored or not) that may match an entry: every sighting
        that raises an alert is among them. A batch of tens of thousands of checkpoint reads is narrowed to
        these before it is matched."""
        _, table, plates = self._entries()
        with self._lock:
            identities = set(self._identities)
        found = []
        for i, sighting in enumerate(sightings):
            kind = sighting.kind
            if kind == SightingKind.PLATE:
                wanted = sighting.plate is not None and plates.may_match(sighting.plate)
            elif kind == SightingKind.IDENTITY:
                identity = sighting.feed.identity if sighting.feed is not None else None
                wanted = identity is not None and identity.key_hash in identities
            else:
                wanted = table is not None
            if wanted:
                found.append(i)
        return found

    def __call__(self, sightings: list[Sighting]) -> list[Alert]:
        """Match ``sightings`` (stored: ids set); returns the alerts created (not those folded into)."""
        faces, table, plates = self._entries()
        alerts = []
        now = self.clock()
        for sighting in sightings:
            for entry, score in self._matches(sighting, faces, table, plates, now):
                if sighting.id is None or entry.id is None:
                    raise ValueError("an alert needs a stored sighting and entry (with ids)")
                if self.store.alerts.exists(entry.id, sighting.id):
                    continue  # matched before (its write was retried): alerted then
                earlier = self._alert_to_fold_into(entry.id, entry, sighting)
                if earlier is not None and earlier.id is not None:
                    folded = self.store.alerts.fold(earlier.id, sighting.id, score, sighting.last_seen, now)
                    if folded is not None and folded.sighting_id != earlier.sighting_id and self.on_update:
                        self.on_update(folded, entry, sighting)
                    continue
                alert = Alert(
                    entry.id,
                    sighting.id,
                    sighting.camera_id,
                    now,
                    score,
                    track_id=sighting.track_id,
                    last_seen=sighting.last_seen,
                )
                stored = replace(alert, id=self.store.alerts.add(alert))
                alerts.append(stored)
                self.notify(stored, entry, sighting)
        return alerts

    def _alert_to_fold_into(self, entry_id: int, entry: WatchlistEntry, sighting: Sighting) -> Alert | None:
        """Entry ``entry_id``'s last alert at the sighting's camera when the sighting continues its pass or
        comes within the entry's cooldown after it; None when the sighting deserves an alert of its own."""
        last = self.store.alerts.last_of(entry_id, sighting.camera_id)
        if last is None or last.last_seen is None:
            return None
        gap = sighting.first_seen - last.last_seen
        same_track = last.track_id is not None and last.track_id == sighting.track_id and gap <= PASS_GAP_S
        same_pass = same_track or (gap <= REACQUIRED_GAP_S and self._same_object(last, sighting))
        cooldown = self.default_cooldown_s if entry.cooldown_s is None else entry.cooldown_s
        return last if same_pass or (cooldown > 0 and gap < cooldown) else None

    def _same_object(self, alert: Alert, sighting: Sighting) -> bool:
        """Whether ``sighting`` can show what ``alert``'s sighting shows: for a plate the same text (a wildcard
        entry matches many vehicles); a face or identity entry is one person."""
        if sighting.kind is not SightingKind.PLATE:
            return True
        alerted = self.store.sightings.get(alert.sighting_id)
        texts = [s.plate.text for s in (alerted, sighting) if s is not None and s.plate is not None]
        return len(texts) == 2 and normalise(texts[0]) == normalise(texts[1])

    def _matches(self, sighting: Sighting, faces, table, plates, now: float) -> list[tuple[WatchlistEntry, float]]:
        if sighting.kind == SightingKind.FACE and table is not None and sighting.embedding is not None:
            similarity = table.vectors @ np.asarray(sighting.embedding, np.float32)
            best: dict[int, float] = {}
            for owner, value in zip(table.owner, similarity, strict=False):
                best[int(owner)] = max(best.get(int(owner), -1.0), float(value))
            return [
                (faces[i], score)
                for i, score in best.items()
                if faces[i].active(now) and score >= self._threshold(faces[i])
            ]
        if sighting.kind == SightingKind.PLATE and sighting.plate is not None:
            return plates.matches(sighting.plate, now)
        identity = sighting.feed.identity if sighting.feed is not None else None
        if sighting.kind == SightingKind.IDENTITY and identity is not None:
            return [(entry, 1.0) for entry in self._identities.get(identity.key_hash, []) if entry.active(now)]
        return []

    def _threshold(self, entry: WatchlistEntry) -> float:
        """The similarity a face must reach for ``entry``: its own (0.0 included), else the default."""
        return self.default_min_similarity if entry.min_similarity is None else entry.min_similarity
