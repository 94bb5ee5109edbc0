"""Two real API nodes (``skynet serve --role api-node``) over one PostgreSQL store that a camera node writes: an
alert reaches operators connected to either node, once each; one node SIGKILLed, the other keeps serving and
alerting."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import httpx
import numpy as np
import pytest
import websockets
from servers import SkynetServe
from store_support import database, open_catalog, plate

from skynet.index.writer import CatalogWriter
from skynet.records import SightingKind, WatchlistEntry
from skynet.watchlist import WatchlistMatcher

pytestmark = [pytest.mark.models, pytest.mark.slow]

IMAGE = np.zeros((8, 8, 3), np.uint8)


def test_alerts_reach_operators_on_every_api_node_and_one_node_killed_leaves_the_other_serving(
    model_settings, tmp_path, request
):
    with database("postgresql", request) as url:
        env = {
            **os.environ,
            "SKYNET_DATA_DIR": str(tmp_path),  # shared by every node: media, the audit chain's key
            "SKYNET_MODEL_DIR": str(model_settings.models_path),
            "SKYNET_DATABASE_URL": url,
        }
        made = subprocess.run(
            [sys.executable, "-m", "skynet", "users", "create-admin", "chief"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        token = made.stdout.strip().splitlines()[-1]
        camera_node = open_catalog(tmp_path, url, indexing=False)
        camera_node.store.watchlists.add(WatchlistEntry(SightingKind.PLATE, "van", "case 7", "chief", 0.0, None, "GH*"))
        writer = CatalogWriter(camera_node)
        writer.add_listener(WatchlistMatcher(camera_node.store, lambda *_: None, 0.9))
        nodes = [SkynetServe(env, tmp_path / f"api-{n}.log", ["--role", "api-node"]) for n in range(2)]
        try:
            for node in nodes:
                node.start()
            asyncio.run(_scenario(nodes, writer, token))
        finally:
            writer.close()
            for node in nodes:
                node.stop()
            camera_node.close()


async def _scenario(nodes: list[SkynetServe], writer: CatalogWriter, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    live = [
        await websockets.connect(f"ws{node.url.removeprefix('http')}/api/live", additional_headers=headers)
        for node in nodes
    ]
    try:
        await asyncio.sleep(0.5)  # both subscribed
        writer.publish(replace(plate(time.time(), "GH001"), track_id=1), IMAGE, IMAGE)
        first = [await _next_alert(socket) for socket in live]
        assert first[0]["data"]["alert_id"] == first[1]["data"]["alert_id"], "one alert, on both nodes"
        assert first[0]["data"]["sighting"]["plate"]["text"] == "GH001"

        nodes[0].process.send_signal(signal.SIGKILL)
        nodes[0].process.wait(10)
        writer.publish(replace(plate(time.time(), "GH002"), track_id=2), IMAGE, IMAGE)
        second = await _next_alert(live[1])
        assert second["data"]["sighting"]["plate"]["text"] == "GH002"
        async with httpx.AsyncClient(base_url=nodes[1].url, headers=headers, timeout=30) as client:
            listed = (await client.get("/api/alerts")).json()
        assert sorted(a["id"] for a in listed) == sorted([first[0]["data"]["alert_id"], second["data"]["alert_id"]]), (
            "each sighting alerted once"
        )
    finally:
        for socket in live:
            await socket.close()


async def _next_alert(socket, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        event = json.loads(await asyncio.wait_for(socket.recv(), max(0.1, deadline - time.monotonic())))
        if event["type"] == "alert":
            return event
