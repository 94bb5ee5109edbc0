"""Alert latency: from a sighting committed in the store to the alert arriving on ``/api/live``.

    python benchmarks/bench_alerts.py [--n 300] [--rate 20] [--json PATH]

The real path of ``skynet serve`` (an API node built by the composition root): plate sightings go
through the batching store writer (SQLite in a temporary directory), the watch-list matcher (one
wildcard entry they all match), the alert fan-out and the live hub, to a WebSocket client of a real
uvicorn on 127.0.0.1. The
latency of each alert is its receipt time minus the moment its sighting's batch was committed;
``--rate`` sightings per second are published from a camera-like thread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import uvicorn
import websockets

from skynet.accounts.credentials import issue_token
from skynet.accounts.model import Role, User
from skynet.app import SystemRole, build
from skynet.config import Settings
from skynet.records import Box, Camera, PlateText, Sighting, SightingKind, WatchlistEntry


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _receive(url: str, token: str, n: int, received: dict[int, float], ready: threading.Event) -> None:
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as live:
        ready.set()
        while len(received) < n:
            event = json.loads(await asyncio.wait_for(live.recv(), 30))
            if event["type"] == "alert":
                received[event["data"]["sighting"]["id"]] = time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="sightings (each raises one alert)")
    parser.add_argument("--rate", type=float, default=20.0, help="sightings published per second")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_alerts_") as tmp:
        data_dir = Path(tmp)
        system = build(Settings(data_dir=data_dir), SystemRole.API_NODE, analysers=0)
        store = system.catalog.store
        store.cameras.save(Camera("gate", "Gate", "rtsp://10.0.0.1/gate"))
        store.watchlists.add(
            WatchlistEntry(SightingKind.PLATE, "bench", "benchmark", "bench", time.time(), plate_pattern="桂B*")
        )
        user = store.users.add_user(User("bench", Role.ADMIN, time.time()))
        token, _ = issue_token(store.users, user, time.time(), ttl_s=3600)
        writer, catalog = system.writer, system.catalog
        committed: dict[int, float] = {}
        store_batch = catalog.add_sightings

        def stored_at(sightings, media):  # the writer's commit, timed before its listeners (the matcher) run
            ids = store_batch(sightings, media)
            committed.update(dict.fromkeys(ids, time.time()))
            return ids

        catalog.add_sightings = stored_at  # type: ignore[method-assign]
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(system.api, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")
        )
        serving = threading.Thread(target=server.run, daemon=True)
        serving.start()
        while not server.started:
            time.sleep(0.05)
        received: dict[int, float] = {}
        ready = threading.Event()
        client = threading.Thread(
            target=lambda: asyncio.run(_receive(f"ws://127.0.0.1:{port}/api/live", token, args.n, received, ready))
        )
        client.start()
        ready.wait(10)
        image = np.zeros((32, 32, 3), np.uint8)
        for i in range(args.n):
            now = time.time()
            plate = PlateText(f"桂B{i:05d}", (0.95,) * 7)
            writer.publish(
                Sighting("gate", SightingKind.PLATE, now - 2, now, now - 1, Box(0, 0, 90, 30), 0.9, plate=plate),
                image,
                image,
            )
            time.sleep(1.0 / args.rate)
        client.join(60)
        server.should_exit = True  # the system's lifespan stores what is queued and stops the writer
        serving.join(30)
        system.close()
    latencies = np.array([received[i] - committed[i] for i in received if i in committed]) * 1000.0
    result = {
        "alerts": len(latencies),
        "sightings": args.n,
        "alert_recall": len(latencies) / args.n,
        "alert_latency_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "alert_latency_p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "alert_latency_max_ms": round(float(latencies.max()), 2),
    }
    print(f"{'alerts':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}")
    print(
        f"{result['alerts']:8d} {result['alert_latency_p50_ms']:8.2f} {result['alert_latency_p99_ms']:8.2f} "
        f"{result['alert_latency_max_ms']:8.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
