"""Checkpoint reads pushed to a real ``skynet serve`` that is killed (SIGKILL) mid-stream and started again:
every acknowledged record is kept, and pushing everything again adds only what was never acknowledged."""

from __future__ import annotations

import os
import threading
import time

import httpx
import pytest
from servers import SkynetServe

from skynet.accounts.credentials import issue_token
from skynet.accounts.model import Role, User
from skynet.index.catalog import Catalog
from skynet.records import Camera, SightingSource
from skynet.store import open_store

pytestmark = pytest.mark.slow
BATCH = 50


def _records(count: int) -> list[dict]:
    now = time.time() - 3600
    return [{"plate": f"桂B{i:05d}", "checkpoint": "cp-1", "time": now + i, "id": f"r{i}"} for i in range(count)]


def test_acknowledged_pushes_survive_a_killed_server(tmp_path, model_settings):
    data = tmp_path / "data"
    with Catalog.open(data) as catalog:
        catalog.store.cameras.save(Camera("cp-1", "Checkpoint 1", "", 22.9, 108.4))
        user = catalog.store.users.add_user(User("gate", Role.FEED, time.time()))
        token, _ = issue_token(catalog.store.users, user, time.time())
    env = {**os.environ, "SKYNET_DATA_DIR": str(data), "SKYNET_MODEL_DIR": str(model_settings.models_path)}
    records = _records(4000)
    acknowledged: set[str] = set()
    server = SkynetServe(env, data / "serve1.log").start()
    pushing_done = threading.Event()

    def push() -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            for start in range(0, len(records), BATCH):
                batch = records[start : start + BATCH]
                try:
                    answer = client.post("/api/feeds/checkpoint-reads", json={"records": batch})
                except httpx.HTTPError:
                    break  # the server is gone: this batch was never acknowledged
                assert answer.status_code == 200, answer.text
                outcomes = answer.json()["records"]
                acknowledged.update(batch[o["index"]]["id"] for o in outcomes if o["outcome"] != "rejected")
        pushing_done.set()

    pusher = threading.Thread(target=push)
    pusher.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 500 and time.monotonic() < deadline and not pushing_done.is_set():
        time.sleep(0.01)
    assert server.process is not None
    server.process.kill()  # no shutdown: whatever was acknowledged must be committed already
    server.process.wait()
    pusher.join(30)
    assert 500 <= len(acknowledged) < len(records), "the kill should land mid-stream"
    with open_store(data, sweep_orphans=False) as store:
        kept = {s.plate.text for s in store.sighting_list.page(_checkpoints(), 10_000).sightings}
    assert {f"桂B{int(r[1:]):05d}" for r in acknowledged} <= kept

    again = SkynetServe(env, data / "serve2.log").start()
    try:
        with httpx.Client(base_url=again.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            outcomes = []
            for start in range(0, len(records), 1000):
                answer = client.post("/api/feeds/checkpoint-reads", json={"records": records[start : start + 1000]})
                outcomes += answer.json()["records"]
    finally:
        again.stop()
    added = sum(o["outcome"] == "added" for o in outcomes)
    assert added == len(records) - len(kept) and sum(o["outcome"] == "duplicate" for o in outcomes) == len(kept)
    with open_store(data, sweep_orphans=False) as store:
        assert store.sightings.counts()["plate"] == len(records)


def _checkpoints():
    from skynet.store.sighting_list import SightingFilter

    return SightingFilter(sources=[SightingSource.CHECKPOINT])
