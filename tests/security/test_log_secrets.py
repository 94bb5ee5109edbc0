"""Issue 14, item 2: no API token (nor a stream ticket, nor a password in a query) reaches the server's log.
The streams are opened as the web UI opens them: a single-use ticket for the WebSocket, the token in a
header for the MJPEG preview it reads with fetch; a ticket also opens the preview for an <img>."""

from __future__ import annotations

import re

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from skynet.services.demo import DEMO_CAMERA_ID

pytestmark = [pytest.mark.models, pytest.mark.slow]

PREVIEW = f"/api/cameras/{DEMO_CAMERA_ID}/preview"
PASSWORD = "correct horse battery staple"  # tests/security/conftest.py's


def _first_frame(client, path: str, **params) -> bytes:
    """The first JPEG part of a preview stream (the demo camera needs some seconds for its first frame)."""
    with client.stream("GET", path, params={"fps": 5, "frames": 1, **params}, timeout=90) as answer:
        assert answer.status_code == 200, answer.read()
        return answer.read()


def test_streams_opened_as_the_web_ui_opens_them_leave_no_secret_in_the_log(start_service):
    service = start_service(demo=True)
    ws_url = service.url.replace("http://", "ws://")
    secrets: list[str] = list(service.tokens.values())
    with service.client() as anonymous:
        login = anonymous.post("/api/login", json={"user": "operator", "password": PASSWORD})  # the UI's sign-in
    token = login.json()["token"]
    secrets.append(token)
    with service.client() as ui:
        ui.headers["Authorization"] = f"Bearer {token}"
        assert ui.get("/ui/session").json()["user"] == "operator"
        # the live connection: a ticket, then the WebSocket with it
        ticket = ui.post("/api/stream-tickets", json={"path": "/api/live"}).json()["ticket"]
        secrets.append(ticket)
        with connect(f"{ws_url}/api/live?ticket={ticket}", open_timeout=10) as live:
            live.ping().wait(10)
        with pytest.raises(InvalidStatus):  # a ticket opens one connection
            connect(f"{ws_url}/api/live?ticket={ticket}", open_timeout=10)
        # the wall's preview: fetch with the token in the header
        assert _first_frame(ui, PREVIEW).startswith(b"--skynetframe")
        # a preview for an <img>: a ticket for that path
        img_ticket = ui.post("/api/stream-tickets", json={"path": PREVIEW}).json()["ticket"]
        secrets.append(img_ticket)
        with service.client() as img:
            assert _first_frame(img, PREVIEW, ticket=img_ticket).startswith(b"--skynetframe")
            assert img.get(PREVIEW, params={"ticket": img_ticket, "frames": 1}).status_code == 401  # used up

    # an old client with the token in the URL is refused, and the log masks it (and any password sent so)
    with pytest.raises(InvalidStatus):
        connect(f"{ws_url}/api/live?access_token={token}", open_timeout=10)
    with service.client() as careless:
        assert (
            careless.get("/api/cameras", params={"access_token": token, "password": "hunter2-in-a-url"}).status_code
            == 401
        )
    secrets.append("hunter2-in-a-url")

    log = service.server.stop()
    leaked = [secret for secret in secrets if secret in log]
    assert not leaked, f"{len(leaked)} secrets in the server log"
    assert not re.search(r"skynet_(ticket_)?[A-Za-z0-9_-]{20,}", log)
    # the requests were logged, with their secrets masked
    assert '"WebSocket /api/live?ticket=***"' in log
    assert f"GET {PREVIEW}?fps=5&frames=1&ticket=*** HTTP/1.1" in log
    assert "GET /api/cameras?access_token=***&password=*** HTTP/1.1" in log
