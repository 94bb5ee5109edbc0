"""The /api/live fan-out hub: every subscriber gets its events, a slow one holds up no one."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Query, WebSocket
from fastapi.testclient import TestClient
from waiting import wait_for
from websockets.sync.client import connect

from skynet.alerts import EventType, LiveEvent, LiveHub, alert_event, camera_status_event, sighting_event
from skynet.records import Alert, Box, Sighting, SightingKind, WatchlistEntry


def event(n: int, kind: EventType = EventType.SIGHTING, pad: int = 0) -> LiveEvent:
    return LiveEvent(kind, float(n), {"n": n, "pad": "x" * pad})


def live_app(hub: LiveHub) -> FastAPI:
    app = FastAPI()

    @app.websocket("/api/live")
    async def live(websocket: WebSocket, types: list[EventType] | None = Query(None)) -> None:  # noqa: B008
        await hub.serve(websocket, types)

    return app


@pytest.mark.anyio
async def test_slow_subscriber_drops_its_oldest_events_and_no_one_waits_for_it():
    hub = LiveHub(queue_size=3)
    with hub.subscribe() as fast, hub.subscribe() as slow:
        got: list[int] = []

        async def consume() -> None:
            while len(got) < 10:
                got.append((await fast.get()).data["n"])

        consumer = asyncio.create_task(consume())
        for n in range(10):
            hub.publish(event(n))
            await asyncio.sleep(0)  # the loop serves the fast consumer between events
        await asyncio.wait_for(consumer, 5)
        assert got == list(range(10)) and fast.dropped == 0
        assert slow.dropped == 7
        assert [(await slow.get()).data["n"] for _ in range(3)] == [7, 8, 9]
    assert hub.subscriber_count == 0


@pytest.mark.anyio
async def test_subscribers_get_only_the_types_they_asked_for():
    hub = LiveHub()
    with hub.subscribe([EventType.ALERT]) as alerts_only:
        hub.publish(event(1, EventType.SIGHTING))
        hub.publish(event(2, EventType.CAMERA_STATUS))
        hub.publish(event(3, EventType.ALERT))
        assert (await asyncio.wait_for(alerts_only.get(), 1)).data["n"] == 3


def test_publishing_without_subscribers_or_loop_is_a_no_op():
    LiveHub().publish(event(1))
    with pytest.raises(ValueError, match="queue_size must be >= 1"):
        LiveHub(queue_size=0)


@pytest.mark.timeout(30)
def test_websocket_clients_receive_events_published_from_another_thread():
    hub = LiveHub()
    client = TestClient(live_app(hub))
    sighting = Sighting("gate-1", SightingKind.FACE, 10.0, 12.0, 11.0, Box(0, 0, 4, 4), 0.7, id=5)
    entry = WatchlistEntry(SightingKind.FACE, "missing person", "case 9", "alice", 0.0, id=2)
    with (
        client.websocket_connect("/api/live") as everything,
        client.websocket_connect("/api/live?types=alert&types=camera_status") as some,
    ):
        wait_for(lambda: hub.subscriber_count == 2, 10, "two subscribers")
        hub.publish(sighting_event(sighting, "/api/sightings/5/thumbnail", at=12.5))
        hub.publish(alert_event(Alert(2, 5, "gate-1", 13.0, 0.93, id=1), entry, sighting, "/t/5"))
        hub.publish(camera_status_event({"camera_id": "gate-1", "state": "online"}, at=14.0))

        assert [m["type"] for m in (everything.receive_json() for _ in range(3))] == [
            "sighting",
            "alert",
            "camera_status",
        ]
        alert, status = some.receive_json(), some.receive_json()
        assert alert["type"] == "alert" and alert["at"] == 13.0
        assert alert["data"]["entry"] == {"id": 2, "kind": "face", "label": "missing person"}
        assert alert["data"]["score"] == 0.93 and alert["data"]["sighting"]["thumbnail_url"] == "/t/5"
        assert status == {"type": "camera_status", "at": 14.0, "data": {"camera_id": "gate-1", "state": "online"}}
    wait_for(lambda: hub.subscriber_count == 0, 10, "the subscribers to leave")


@pytest.fixture
def live_server() -> Iterator[tuple[LiveHub, str]]:
    """A real uvicorn serving the hub on 127.0.0.1 (its own thread and event loop)."""
    hub = LiveHub(queue_size=64)
    server = uvicorn.Server(
        uvicorn.Config(live_app(hub), host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    yield hub, f"ws://127.0.0.1:{port}/api/live"
    server.should_exit = True
    thread.join(10)


def _small_buffer_socket(url: str) -> socket.socket:
    """A connected socket with a small fixed receive buffer, so a client that stops reading
    pushes back on the server quickly."""
    host, port = url.split("/")[2].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect((host, int(port)))
    return sock


@pytest.mark.timeout(60)
def test_a_client_that_stops_reading_is_told_what_it_missed_while_others_get_everything(live_server):
    hub, url = live_server
    total, pad = 400, 32 * 1024  # ~13 MB: more than the server's send buffer (at most 4 MB here)
    # No compression for the slow one: its padding would compress to nothing and never back up.
    slow_socket = _small_buffer_socket(url)
    with connect(url, sock=slow_socket, max_queue=4, compression=None) as slow, connect(url, max_size=None) as fast:
        wait_for(lambda: hub.subscriber_count == 2, 10, "two subscribers")
        fast_got: list[dict] = []
        reader = threading.Thread(
            target=lambda: fast_got.extend(json.loads(fast.recv(timeout=20)) for _ in range(total))
        )
        reader.start()
        for n in range(total):
            hub.publish(event(n, pad=pad))
            time.sleep(0.002)  # a busy camera network's pace, not one burst
        reader.join(30)
        assert [m["data"]["n"] for m in fast_got] == list(range(total))

        received, dropped = [], 0
        while len(received) + dropped < total:
            message = json.loads(slow.recv(timeout=10))
            if message["type"] == "dropped":
                dropped += message["count"]
            else:
                received.append(message["data"]["n"])
        assert dropped > 0  # it really fell behind
        assert received == sorted(received) and received[-1] == total - 1  # oldest dropped, newest kept
