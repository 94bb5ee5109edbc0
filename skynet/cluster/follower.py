"""An API node's view of what other nodes commit to the shared PostgreSQL store.

Camera nodes store sightings and match them against the watch-lists (each sighting once, by the one writer of its
camera); API nodes serve searches and operators. :class:`StoreFollower` keeps an API node in step: each commit that
adds sightings or alerts, deletes face sightings or updates an alert wakes it (``LISTEN``, the triggers of schema
versions 13 and 18), and it reads what is new by id: faces go into the face indexes, deleted faces leave them (the
store's change log, :mod:`skynet.store.changes`), live sightings and alerts go onto the node's live stream, and so do
the updates of alerts already announced (a pass seen again: score, best view; an acknowledgement: by whom,
when). A lost notification costs nothing but time: it also looks every ``poll_s``. Ids come from sequences in the
order writers took them, not in the order they committed: :class:`~skynet.store.id_cursor.IdCursor` looks again
for the ones skipped. At each (re)connection and every ``check_s`` the face indexes are also compared with the store
by counts per partition (:meth:`Catalog.check_indexes`): what the change log no longer holds after a long absence
is set right.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import psycopg

from skynet.alerts import LiveHub, sighting_event
from skynet.index.catalog import Catalog
from skynet.records import Alert, Sighting, SightingKind
from skynet.store.changes import updated_alerts
from skynet.store.id_cursor import IdCursor
from skynet.watchlist.fanout import publish_alerts

log = logging.getLogger(__name__)

CHANNELS = ("skynet_sightings", "skynet_alerts", "skynet_store_changes")
ThumbnailUrl = Callable[[Sighting], str | None]


class StoreFollower:
    """Follows what other nodes commit to ``catalog``'s PostgreSQL store (see the module docstring)."""

    def __init__(
        self,
        database_url: str,
        catalog: Catalog,
        hub: LiveHub,
        thumbnail_url: ThumbnailUrl,
        *,
        poll_s: float = 2.0,
        gap_s: float = 30.0,
        check_s: float = 600.0,
    ) -> None:
        self.database_url, self.catalog, self.hub, self.thumbnail_url = database_url, catalog, hub, thumbnail_url
        self.poll_s, self.check_s = poll_s, check_s
        store = catalog.store
        self.sightings = IdCursor(store.sightings.last_id(), gap_s)
        self.alerts = IdCursor(store.alerts.last_id(), gap_s)
        self.changes = IdCursor(store.changes.last_id(), gap_s)  # alert updates (deletions: the catalog's own)
        self.checked = time.monotonic()  # when the face indexes were last compared with the store
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
                    self.check()  # and what the change log may no longer hold
                    while not stop.is_set():
                        woken = any(True for _ in connection.notifies(timeout=self.poll_s, stop_after=1))
                        if woken:  # a burst of commits: one read for all that arrived meanwhile
                            for _ in connection.notifies(timeout=0.0):
                                pass
                        self.catch_up()
                        if time.monotonic() - self.checked > self.check_s:
                            self.check()
                self.last_error = None
            except Exception as error:  # the database went away: try again (what it missed is read by id)
                self.last_error = str(error).splitlines()[0] if str(error) else type(error).__name__
                log.warning("following the store failed, retrying: %s", self.last_error)
                stop.wait(min(self.poll_s, 2.0))

    def catch_up(self) -> int:
        """Read the sightings, deletions, alerts and alert updates committed since the last call; returns how many
        sightings."""
        count = self._follow_sightings()
        self.catalog.forget_deleted()
        self._follow_alerts()
        return count

    def check(self) -> None:
        """Compare the face indexes with the store by counts per partition and set right those that differ."""
        self.checked = time.monotonic()
        for model, fixed in self.catalog.check_indexes().items():
            removed, added = sum(r for r, _ in fixed.values()), sum(a for _, a in fixed.values())
            log.info("face index %s set right by the store: %d vectors removed, %d added", model, removed, added)

    def _follow_sightings(self) -> int:
        store = self.catalog.store
        ids = store.sightings.ids_after(self.sightings.last, self.sightings.pending())
        self.sightings.seen(ids)
        if not ids:
            return 0
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

    def _follow_alerts(self) -> None:
        """New alerts go out as new (an operator's page rings), then the updates of those announced before."""
        store = self.catalog.store
        new = store.alerts.after(self.alerts.last, self.alerts.pending())
        self.alerts.seen(a.id for a in new if a.id is not None)
        self._publish(new, updated=False)
        # an update of an alert not read yet goes out with it (its row as it is then)
        for page in store.changes.follow(self.changes):
            changed = [i for i in updated_alerts(page) if self.alerts.read(i)]
            self._publish(store.alerts.get_many(changed), updated=True)

    def _publish(self, alerts: Sequence[Alert], *, updated: bool) -> None:
        publish_alerts(self.catalog.store, self.hub, self.thumbnail_url, alerts, updated=updated)
