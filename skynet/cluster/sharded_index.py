"""An API node's face search over the cluster's index shards: scatter-gather with a deadline, merged top-k.

The shards (:class:`~skynet.cluster.face_shard.FaceShard`, ``cluster_index_shards`` detached Ray actors spread over
the nodes, reserving ``cluster_index_shard_resources``) hold the face index's week partitions by lease. A search
lists the partitions its time filter overlaps (the store's weeks that hold vectors), asks each shard holding some of
them for its top-k over those (all at once), waits at most ``cluster_index_search_timeout_s``, and merges the
answers as one index merges its partitions (:func:`~skynet.index.face_search.merge_hits`: each shard re-ranked its
own candidates with exact vectors, so similarities compare). A partition that no live lease covers, whose shard did
not answer in time (node lost, actor dead) or is still building it, becomes its time range in
:attr:`FaceHits.incomplete`: the answer is partial and says so, until another shard has claimed the partition and
rebuilt it from the store.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from functools import cache
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayError

from skynet.cluster.face_shard import PREFIX, FaceShard, actor_name, lease_week
from skynet.cluster.placement import MB, kept_running
from skynet.config import Settings
from skynet.index.face_index import WEEK_S
from skynet.index.face_search import FaceHit, FaceHits, checked_query, merge_hits
from skynet.store.store import Store

WEEKS_FOR_S = 5.0  # how long the list of the store's weeks is reused (a new week appears once a week)


@cache
def shard_class():
    """:class:`FaceShard` as a Ray actor class (made once, on first use)."""
    return ray.remote(FaceShard)


def place_shards(settings: Settings) -> list[str]:
    """Start the ``cluster_index_shards`` shard actors that are not running (detached, restarted by Ray forever,
    spread over the nodes with the shard resources); idempotent. Returns the names of every shard."""
    names = [f"{PREFIX}{number}" for number in range(settings.cluster_index_shards)]
    payload = settings.model_dump(mode="json")
    for number, name in enumerate(names):
        shard_class().options(
            **kept_running(settings, name),
            max_concurrency=8,  # searches side by side, beside status calls
            num_cpus=settings.cluster_index_shard_cpus,
            memory=settings.cluster_index_shard_memory_mb * MB,
            resources=settings.cluster_index_shard_resources or None,
            scheduling_strategy="SPREAD",
        ).remote(number, settings.cluster_index_shards, payload)
    return names


def remove_shards(settings: Settings, timeout_s: float = 30.0) -> int:
    """Stop every shard actor of the namespace (each gives its leases up), then end them; returns how many."""
    handles: list[Any] = []
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] == settings.cluster_namespace and entry["name"].startswith(PREFIX):
            try:
                handles.append(ray.get_actor(entry["name"], namespace=settings.cluster_namespace))
            except ValueError:
                continue
    stops = [handle.stop.remote() for handle in handles]
    if stops:
        ray.wait(stops, num_returns=len(stops), timeout=timeout_s)
    for handle in handles:
        ray.kill(handle, no_restart=True)
    return len(handles)


class ShardedFaceIndex:
    """The searched model's face index as the cluster's shards hold it (see the module docstring): what
    :meth:`skynet.index.catalog.Catalog.search_faces` searches on an API node of a sharded cluster."""

    def __init__(self, settings: Settings, store: Store, model: str, partition_s: float = WEEK_S) -> None:
        self.settings, self.store, self.model, self.partition_s = settings, store, model, partition_s
        self.dim = store.faces.dim(model)
        self._weeks: tuple[float, list[int]] = (-math.inf, [])

    def search(
        self,
        embedding: np.ndarray,
        k: int = 10,
        *,
        since: float | None = None,
        until: float | None = None,
        cameras: list[str] | None = None,
        min_similarity: float | None = None,
        model: str | None = None,
    ) -> FaceHits:
        """As :meth:`skynet.index.face_index.FaceIndex.search`, over the shards."""
        self.dim = self.dim or self.store.faces.dim(self.model)
        query = checked_query(embedding, k, model, self.model, self.dim)
        lo, hi = -math.inf if since is None else since, math.inf if until is None else until
        wanted = {w for w in self._store_weeks() if (w + 1) * self.partition_s > lo and w * self.partition_s <= hi}
        by_shard, missing = self._holders(wanted)
        answers, unanswered = self._gather(by_shard, query, k, since, until, cameras)
        hits = merge_hits(answers, k)
        if min_similarity is not None:
            hits = [h for h in hits if h.similarity >= min_similarity]
        missing |= unanswered
        return FaceHits(hits, tuple((w * self.partition_s, (w + 1) * self.partition_s) for w in sorted(missing)))

    def _store_weeks(self) -> list[int]:
        """The weeks that hold vectors of the model in the store (reused for :data:`WEEKS_FOR_S`)."""
        at, weeks = self._weeks
        if time.monotonic() - at > WEEKS_FOR_S:
            weeks = self.store.faces.partition_keys(self.partition_s, self.model)
            self._weeks = (time.monotonic(), weeks)
        return weeks

    def _holders(self, wanted: set[int]) -> tuple[dict[str, list[int]], set[int]]:
        """Shard actor name -> the wanted weeks it holds by a live lease; and the wanted weeks no live lease covers."""
        by_shard: dict[str, list[int]] = defaultdict(list)
        covered = set()
        for lease in self.store.index_leases.live():
            week = lease_week(lease.key, self.model)
            if week in wanted:
                by_shard[actor_name(lease.holder)].append(week)
                covered.add(week)
        return by_shard, wanted - covered

    def _gather(
        self,
        by_shard: dict[str, list[int]],
        query: np.ndarray,
        k: int,
        since: float | None,
        until: float | None,
        cameras: list[str] | None,
    ) -> tuple[list[list[FaceHit]], set[int]]:
        """Ask every shard at once; (their answers, the weeks not answered by the deadline or not loaded)."""
        asked: dict[Any, list[int]] = {}
        missing: set[int] = set()
        for name, weeks in by_shard.items():
            try:
                shard = ray.get_actor(name, namespace=self.settings.cluster_namespace)
            except ValueError:  # no such actor (removed)
                missing.update(weeks)
                continue
            asked[shard.search.remote(query, k, weeks, since, until, cameras)] = weeks
        if not asked:
            return [], missing
        ready, _ = ray.wait(list(asked), num_returns=len(asked), timeout=self.settings.cluster_index_search_timeout_s)
        answers = []
        for ref, weeks in asked.items():
            if ref not in ready:
                missing.update(weeks)  # its answer, if any, arrives to nobody
                continue
            try:
                hits, not_loaded = ray.get(ref)
            except RayError:  # the actor died while answering
                missing.update(weeks)
                continue
            answers.append([FaceHit(int(i), float(s)) for i, s in hits])
            missing.update(not_loaded)
        return answers, missing
