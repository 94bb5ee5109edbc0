"""An API node's view of what other nodes commit to the shared PostgreSQL store.

Camera nodes store sightings and match them against the watch-lists (each sighting once, by the one writer of its
camera); API nodes serve searches and operators. :class:`StoreFollower` keeps an API node in step: each commit that
adds sightings or alerts wakes it (``LISTEN``, the triggers of schema version 13), and it reads what is new by id:
faces go into the face indexes, live sightings and alerts onto the node's live stream. A lost notification costs
nothing but time: it also looks every ``poll_s``. Ids come from a sequence in the order writers took them, not in
the order they committed, so an id below the highest seen that is not there yet is looked for again for
``gap_s`` (a write still in flight), then given up (a write rolled back).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import psycopg

from skynet.alerts import LiveHub, alert_event, sighting_event
from skynet.index.catalog import Catalog
from skynet.records import Sighting, SightingKind

log = logging.getLogger(__name__)

CHANNELS = ("skynet_sightings", "skynet_alerts")
MAX_GAPS = 100_000
ThumbnailUrl = Callable[[Sighting], str | None]


class StoreFollower:
    """Follows new sightings and alerts in ``catalog``'s PostgreSQL store (see the module docstring)."""

    def __init__(
        self,
        database_url: str,
        catalog: Catalog,
        hub: LiveHub,
        thumbnail_url: ThumbnailUrl,
        *,
        poll_s: float = 2.0,
        gap_s: float = 30.0,
    ) -> None:
        self.database_url, self.catalog, self.hub, self.thumbnail_url = database_url, catalog, hub, thumbnail_url
        self.poll_s, self.gap_s = poll_s, gap_s
        store = catalog.store
        self.sighting_id, self.alert_id = store.sightings.last_id(), store.alerts.last_id()
        self._gaps: dict[int, float] = {}  # missing sighting id -> when it was first missed
        self.followed = 0  # sightings read from the store since the start
        self.last_error: str | None = None

    def run(self, stop: threading.Event) -> None:
        """Follow until ``stop`` is set (a thread of its own); reconnects while the database is away."""
        while not stop.is_set():
            try:
                with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as connection:
                    for channel in CHANNELS:
                        connection.execute(f"LISTEN {channel}")
                    self.catch_up()  # what was committed while nobody listened
                    while not stop.is_set():
                        woken = any(True for _ in connection.notifies(timeout=self.poll_s, stop_after=1))
                        if woken:  # a burst of commits: one read for all that arrived meanwhile
                            for _ in connection.notifies(timeout=0.0):
                                pass
                        self.catch_up()
                self.last_error = None
            except Exception as error:  # the database went away: try again (what it missed is read by id)
                self.last_error = str(error).splitlines()[0] if str(error) else type(error).__name__
                log.warning("following the store failed, retrying: %s", self.last_error)
                stop.wait(min(self.poll_s, 2.0))

    def catch_up(self) -> int:
        """Read the sightings and alerts committed since the last call; returns how many sightings."""
        count = self._follow_sightings()
        self._follow_alerts()
        return count

    def _follow_sightings(self) -> int:
        store = self.catalog.store
        ids = store.sightings.ids_after(self.sighting_id, sorted(self._gaps))
        if not ids:
            self._expire_gaps()
            return 0
        now = time.monotonic()
        found = set(ids)
        if max(ids) - self.sighting_id <= MAX_GAPS:  # else a jump (a restored database): nothing to wait for
            for missing in range(self.sighting_id + 1, max(ids)):
                if missing not in found:
                    self._gaps.setdefault(missing, now)
        for seen in found:
            self._gaps.pop(seen, None)
        self.sighting_id = max(self.sighting_id, max(ids))
        self._expire_gaps()
        sightings = store.sightings.get_many(ids)
        self._index_faces(np.array([s.id for s in sightings if s.kind == SightingKind.FACE], dtype=np.int64))
        at = time.time()
        for sighting in sightings:
            if sighting.origin.kind == "live":
                self.hub.publish(sighting_event(sighting, self.thumbnail_url(sighting), at))
        self.followed += len(sightings)
        return len(sightings)

    def _index_faces(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        for index in self.catalog.open_indexes():
            for batch in self.catalog.store.faces.batches(ids, model=index.model):
                index.add_unseen(batch)

    def _expire_gaps(self) -> None:
        cutoff = time.monotonic() - self.gap_s
        for missing in [i for i, since in self._gaps.items() if since < cutoff]:
            del self._gaps[missing]

    def _follow_alerts(self) -> None:
        store = self.catalog.store
        alerts = store.alerts.after(self.alert_id)
        if not alerts:
            return
        self.alert_id = max(a.id for a in alerts if a.id is not None)
        entries = {entry.id: entry for entry in store.watchlists.all()}
        sightings = {s.id: s for s in store.sightings.get_many([a.sighting_id for a in alerts])}
        for alert in alerts:
            entry, sighting = entries.get(alert.entry_id), sightings.get(alert.sighting_id)
            if entry is not None and sighting is not None:  # else deleted since
                self.hub.publish(alert_event(alert, entry, sighting, self.thumbnail_url(sighting)))
