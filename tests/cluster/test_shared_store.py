"""What a cluster relies on in the shared store, without Ray: a retried write never duplicates (idempotency key,
alerts once per entry and sighting), a camera's lease fences a stale instance's writes, and an API node follows what
camera nodes commit (face index and alerts on its live stream, measured against the 1 s target)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import numpy as np
from store_support import database, database_url, face, open_catalog, plate  # noqa: F401 (fixture)
from waiting import wait_for

from skynet.alerts import EventType, LiveHub
from skynet.app import build
from skynet.config import Settings
from skynet.index.writer import CatalogWriter
from skynet.records import SightingKind, WatchlistEntry
from skynet.store.errors import LeaseLostError
from skynet.system import SystemRole
from skynet.watchlist import WatchlistMatcher


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_a_retried_write_stores_each_live_sighting_once_and_alerts_once(tmp_path, database_url):  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        store = catalog.store
        entry_id = store.watchlists.add(
            WatchlistEntry(SightingKind.PLATE, "van", "case 1", "admin", 0.0, None, "AB123")
        )
        batch = [replace(plate(100.0 + 60 * i, "AB123"), track_id=i) for i in range(3)]  # three passes
        archive = replace(plate(100.0, "AB123"), track_id=0, origin=replace(batch[0].origin, kind="archive"))
        first = catalog.add_sightings([*batch, archive])
        again = catalog.add_sightings([*batch, archive])  # the same batch again, as after an unanswered commit
        assert again[:3] == first[:3], "a live sighting keeps its row and id"
        assert again[3] != first[3], "archive rows carry no idempotency key (a re-index deletes first)"
        assert store.sightings.counts()["plate"] == 5
        matcher = WatchlistMatcher(store, lambda *_: None, 0.9)
        stored = [replace(s, id=i) for s, i in zip(batch, first[:3], strict=True)]
        assert len(matcher(stored)) == 3
        assert matcher(stored) == [], "matching a sighting again alerts nobody twice"
        assert len([a for a in store.alerts.latest() if a.entry_id == entry_id]) == 3


def test_a_lease_passes_on_expiry_and_fences_the_old_holders_writes(tmp_path, database_url):  # noqa: F811
    with open_catalog(tmp_path, database_url) as catalog:
        leases = catalog.store.leases
        old = leases.acquire("cam-a", "instance-1", "node-b", ttl_s=0.5)
        assert old is not None and old.token >= 1
        assert leases.acquire("cam-a", "instance-2", "node-a", ttl_s=0.5) is None, "held: nobody else takes it"
        assert leases.renew(old, 0.5)
        new = wait_for(lambda: leases.acquire("cam-a", "instance-2", "node-a", 5.0), 5, "the lease to expire")
        assert new.token == old.token + 1 and new.node == "node-a"
        assert not leases.renew(old, 0.5), "the old holder cannot renew a lease that passed on"

        def fence() -> None:
            if not leases.renew(old, 0.5):
                raise LeaseLostError("lost")

        writer = CatalogWriter(catalog, fence=fence)
        writer.publish(
            replace(plate(200.0, "CD456"), track_id=7), np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
        )
        writer.flush(10)
        writer.close()
        assert writer.stored == 0 and writer.failed == 1 and "lost" in (writer.last_error or "")
        assert catalog.store.sightings.counts()["plate"] == 0, "a fenced-off instance writes nothing"


def test_an_api_node_follows_what_a_camera_node_commits_within_a_second(tmp_path, request):
    with database("postgresql", request) as url:
        # every node shares the data directory (media, the audit chain's key); a camera node keeps no index, an API
        # node keeps its own (index_dir: not shared with another API node)
        camera_node = open_catalog(tmp_path, url, indexing=False)
        settings = Settings(data_dir=tmp_path, database_url=url, index_dir=tmp_path / "own-index")
        api = build(settings, SystemRole.API_NODE, analysers=0)
        try:
            assert api.follower is not None
            asyncio.run(_follow(camera_node, api))
        finally:
            api.close()
            camera_node.close()
        assert any(path.is_file() for path in (tmp_path / "own-index").rglob("*")), "the API node saved its index"
        assert not any(path.is_file() for path in (tmp_path / "index").rglob("*")), "nothing in the shared directory"


async def _follow(camera_node, api) -> None:
    store = camera_node.store
    store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "van", "case 1", "admin", 0.0, None, "EF789"))
    hub: LiveHub = api.hub
    async with api.running():
        with hub.subscribe({EventType.ALERT}) as alerts:
            writer = CatalogWriter(camera_node)
            writer.add_listener(WatchlistMatcher(store, lambda *_: None, 0.9))
            lags = []
            for i in range(20):
                committed = time.monotonic()
                sighting = replace(face(300.0 + i, _unit(i)), track_id=i)
                (sid,) = await asyncio.to_thread(camera_node.add_sightings, [sighting])
                found = await asyncio.to_thread(
                    wait_for, lambda sid=sid: sid in set(api.catalog.faces.ids().tolist()), 5, "the API node's index"
                )
                assert found
                lags.append(time.monotonic() - committed)
            writer.publish(replace(plate(400.0, "EF789"), track_id=99), *[np.zeros((8, 8, 3), np.uint8)] * 2)
            sent = time.monotonic()
            event = await asyncio.wait_for(alerts.get(), 10)
            alert_lag = time.monotonic() - sent
            writer.close()
    assert event.type == EventType.ALERT and event.data["entry"]["label"] == "van"
    hits = api.catalog.search_faces(_unit(3), k=1)
    assert hits and hits[0].similarity > 0.99, "a followed face is searchable on the API node"
    lags.sort()
    print(f"index catch-up lag: median {lags[10]:.3f} s, max {lags[-1]:.3f} s; alert {alert_lag:.3f} s")
    assert lags[-1] < 1.0 and alert_lag < 1.0, (lags, alert_lag)
