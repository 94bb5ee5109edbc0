"""One shard of a cluster's face index, in a Ray actor (docs/scale.md, "Shards across nodes").

A shard holds some of the face index's time partitions (a week each): a :class:`FaceIndex` over those weeks alone,
built from the store. Which shard holds a partition is a lease in PostgreSQL (``index_leases``, keyed
``<model>/<week>``: :mod:`skynet.store.leases`, the camera lease), renewed every third of ``cluster_lease_s`` by a
thread of its own; a lease that cannot be renewed (expired, taken) drops the partition here. Another thread claims
partitions and builds them: shard ``n`` of ``N`` claims the weeks ``w`` with ``w % N == n`` at once, and any other
week whose lease has expired (its shard lost) or that nobody has claimed for a lease's length; it then follows the
store's new vectors of the weeks it holds (the live week included), as an API node follows them, and every three
lease lengths sets right a week whose vector count differs from the store's (what following missed). Deleted faces
(retention, re-indexed files) leave the shard as the store's change log names them (:mod:`skynet.store.changes`).

A search names the partitions it wants from this shard; the shard answers the top-k over those it has loaded and
lists the rest (being built, no longer held), which the searching node reports as incomplete
(:mod:`skynet.cluster.sharded_index`).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from typing import Any

import numpy as np
import ray

from skynet.config import Settings
from skynet.index.face_index import WEEK_S, FaceIndex
from skynet.index.face_partition import span_text
from skynet.index.partition_check import set_right
from skynet.store.changes import deleted_faces
from skynet.store.errors import StoreError
from skynet.store.faces import FaceBatch
from skynet.store.id_cursor import IdCursor
from skynet.store.leases import Lease
from skynet.store.store import open_store

PREFIX = "face-shard:"  # a shard actor's name: face-shard:<number>
INDEX_DIR = "index-shards"

log = logging.getLogger(__name__)


def lease_key(model: str, week: int) -> str:
    """The lease key of ``model``'s partition ``week`` (model ids hold slashes: the week is after the last)."""
    return f"{model}/{week}"


def lease_week(key: str, model: str) -> int | None:
    """The week of lease ``key`` when it is one of ``model``'s partitions, else None."""
    owner, _, week = key.rpartition("/")
    return int(week) if owner == model and week.lstrip("-").isdigit() else None


def actor_name(holder: str) -> str:
    """The actor name in a lease's holder (``<actor name>#<instance>``)."""
    return holder.partition("#")[0]


class FaceShard:
    """Shard ``number`` of ``shards`` (see the module docstring); made a Ray actor class by
    :func:`skynet.cluster.sharded_index.place_shards`. ``settings``: the placing process's, as JSON."""

    def __init__(self, number: int, shards: int, settings: dict[str, Any], partition_s: float = WEEK_S) -> None:
        self.settings = Settings.model_validate(settings)
        self.number, self.shards, self.partition_s = number, shards, partition_s
        self.name = f"{PREFIX}{number}"
        self.holder = f"{self.name}#{uuid.uuid4().hex}"
        self.node_id = ray.get_runtime_context().get_node_id()
        self.started = time.monotonic()
        self.store = open_store(self.settings.data_dir, self.settings.database_url, sweep_orphans=False)
        self.model = self.store.faces.searched_model()
        self.directory = self.settings.data_dir / INDEX_DIR / str(number)
        shutil.rmtree(self.directory, ignore_errors=True)  # an earlier instance's files: rebuilt from the store
        self.index = FaceIndex(
            self.directory, self.store.faces.dim(self.model), model=self.model, partition_s=partition_s
        )
        self.leases: dict[int, Lease] = {}  # week -> lease held
        self.loaded: set[int] = set()  # weeks built and followed: searched
        self.followed = 0  # sighting id up to which new vectors were added
        self.deletions = IdCursor(self.store.changes.last_id())  # the change log read up to here
        self.checked = time.monotonic()  # when the weeks were last compared with the store (_reconcile)
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(self._renew,), name="shard-renew", daemon=True),
            threading.Thread(target=self._loop, args=(self._maintain,), name="shard-maintain", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self, step) -> None:
        tick = min(1.0, self.settings.cluster_lease_s / 3)
        while not self._stop.wait(tick):
            try:
                step()
                self.error = None
            except Exception as error:  # the database away: leases lapse, partitions are dropped, claimed again
                self.error = str(error)
                log.exception("face shard %s: %s failed", self.number, step.__name__)

    def _renew(self) -> None:
        """Renew every lease held; a partition whose lease cannot be renewed is dropped (another shard has it)."""
        with self._lock:
            held = dict(self.leases)
        for week, lease in held.items():
            if not self.store.index_leases.renew(lease, self.settings.cluster_lease_s):
                self._let_go(week, "its lease passed on")

    def _let_go(self, week: int, why: str) -> None:
        with self._lock:
            self.leases.pop(week, None)
            self.loaded.discard(week)
        self.index.drop(week)
        log.warning("face shard %s: partition %s dropped: %s", self.number, self._span(week), why)

    def _maintain(self) -> None:
        """Follow new vectors of the weeks held, then claim and build the weeks due to this shard."""
        if self.model is None and (model := self.store.faces.searched_model()) is not None:
            self.model, self.index.model = model, model
            self.index.dim = self.store.faces.dim(model)
        if self.model is None:
            return  # no face stored yet
        self._follow()
        self._reconcile()
        for week in self._due():
            lease = self.store.index_leases.acquire(
                lease_key(self.model, week), self.holder, self.node_id, self.settings.cluster_lease_s
            )
            if lease is None:
                continue
            with self._lock:
                self.leases[week] = lease
            self._build(week)

    def _due(self) -> list[int]:
        """The weeks this shard should claim now: its own share, and the others' whose lease has expired or that
        nobody claimed for a lease's length; newest first."""
        assert self.model is not None
        weeks = self.store.faces.partition_keys(self.partition_s, self.model)
        leases = {lease_week(lease.key, self.model): lease for lease in self.store.index_leases.all()}
        now = self.store.index_leases.now()
        patient = time.monotonic() - self.started > self.settings.cluster_lease_s
        with self._lock:
            mine = set(self.leases)
        due = []
        for week in reversed(weeks):
            lease = leases.get(week)
            if week in mine or (lease is not None and lease.expires_at > now):
                continue
            if week % self.shards == self.number or lease is not None or patient:
                due.append(week)
        return due

    def _build(self, week: int) -> None:
        """Build partition ``week`` from the store (its vectors so far; :meth:`_follow` adds later ones)."""
        assert self.model is not None
        started, added = time.monotonic(), 0
        between = (week * self.partition_s, (week + 1) * self.partition_s)
        for batch in self.store.faces.batches(model=self.model, between=between):
            with self._lock:
                if week not in self.leases:
                    return  # lost meanwhile (_let_go dropped what was added)
            added += self.index.add_unseen(batch)
            self.followed = max(self.followed, int(batch.ids.max()))
        with self._lock:
            if week in self.leases:
                self.loaded.add(week)
        log.info(
            "face shard %s: partition %s built from the store (%d vectors, %.1f s)",
            self.number,
            self._span(week),
            added,
            time.monotonic() - started,
        )

    def _follow(self) -> None:
        """Remove the vectors of the face sightings deleted since the last look (the store's change log), add the
        store's new vectors of the weeks held (sightings stored since)."""
        for page in self.store.changes.follow(self.deletions):
            self.index.remove(deleted_faces(page))
        if self.followed == 0:
            self.followed = self.store.faces.last_id()
            return
        for batch in self.store.faces.batches(after_id=self.followed, model=self.model):
            self.followed = max(self.followed, int(batch.ids.max()))
            weeks = np.floor(batch.times / self.partition_s).astype(np.int64)
            with self._lock:
                held = np.isin(weeks, list(self.leases))
            keep = np.flatnonzero(held)
            if len(keep):
                self.index.add_unseen(
                    FaceBatch(
                        batch.ids[keep], batch.vectors[keep], batch.times[keep], [batch.camera_ids[i] for i in keep]
                    )
                )

    def _reconcile(self) -> None:
        """Every three lease lengths: a week whose vector count differs from the store's is set right (deleted
        sightings removed: retention, a re-indexed file; vectors committed out of id order added)."""
        if time.monotonic() - self.checked < 3 * self.settings.cluster_lease_s:
            return
        self.checked = time.monotonic()
        with self._lock:
            weeks = set(self.loaded)
        for week, (removed, added) in set_right(self.index, self.store.faces, weeks).items():
            log.info(
                "face shard %s: partition %s set right: %d removed, %d added",
                self.number,
                self._span(week),
                removed,
                added,
            )

    def _span(self, week: int) -> str:
        return span_text(week * self.partition_s, (week + 1) * self.partition_s)

    # --- what the searching node calls ----------------------------------------------------------

    def search(
        self,
        query: np.ndarray,
        k: int,
        weeks: list[int],
        since: float | None = None,
        until: float | None = None,
        cameras: list[str] | None = None,
    ) -> tuple[list[tuple[int, float]], list[int]]:
        """The top-``k`` (sighting id, similarity) over the partitions of ``weeks`` this shard has loaded, and the
        weeks asked for that it has not (being built, or no longer held here)."""
        with self._lock:
            ready = self.loaded & set(weeks)
        missing = sorted(set(weeks) - ready)
        if not ready:
            return [], missing
        try:
            hits = self.index.search(query, k, since=since, until=until, cameras=cameras, keys=ready)
        except StoreError as error:
            log.warning("face shard %s: search failed: %s", self.number, error)
            return [], sorted(weeks)
        return [(hit.sighting_id, hit.similarity) for hit in hits], missing

    def status(self) -> dict[str, Any]:
        """Where the shard runs and what it holds: node, weeks held and loaded, vectors, whether partitions are being
        built (trained: searched exactly meanwhile), error."""
        with self._lock:
            held, loaded = sorted(self.leases), sorted(self.loaded)
        index = self.index.status()
        return {
            "name": self.name,
            "holder": self.holder,
            "node_id": self.node_id,
            "pid": os.getpid(),
            "model": self.model,
            "held": held,
            "loaded": loaded,
            "vectors": index.vectors,
            "building": index.building,
            "error": self.error,
        }

    def stop(self) -> None:
        """Stop claiming and renewing, give every lease up (another shard takes the weeks at once), drop the files."""
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        with self._lock:
            held, self.leases, self.loaded = list(self.leases.values()), {}, set()
        for lease in held:
            self.store.index_leases.release(lease)
        self.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)
