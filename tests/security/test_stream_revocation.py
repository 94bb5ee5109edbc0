"""Issue 14, item 1: a token that stops counting ends its open streams within a second: the live WebSocket
(closed with code 1008 and the reason) and the MJPEG preview (its body ends). Disabling the user, revoking
the token, a role change and the token's expiry are each tried on a real ``skynet serve``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

import pytest
from waiting import wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

pytestmark = [pytest.mark.models, pytest.mark.slow]

PREVIEW = "/api/cameras/cam-1/preview"
REASON = "probe: revocation ends streams"


class Streams:
    """One token's live WebSocket and MJPEG preview, each read until it ends."""

    def __init__(self, service, token: str, stack: ExitStack) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        url = service.url.replace("http://", "ws://") + "/api/live"
        self.live = stack.enter_context(connect(url, additional_headers=headers, open_timeout=10))
        self.live_closed: ConnectionClosed | None = None
        self.preview_ended = threading.Event()
        self.preview_status = 0
        opened = threading.Event()

        def read_preview() -> None:
            with service.client() as client, client.stream("GET", PREVIEW, headers=headers, timeout=60) as answer:
                self.preview_status = answer.status_code
                opened.set()
                for _ in answer.iter_raw():
                    pass
            self.preview_ended.set()

        self.reader = threading.Thread(target=read_preview, daemon=True)
        self.reader.start()
        assert opened.wait(30) and self.preview_status == 200

    def closed(self) -> bool:
        """Whether the WebSocket was closed by the server (reading what came until then)."""
        try:
            _drain(self.live)
        except ConnectionClosed as closed:
            self.live_closed = closed
        return self.live_closed is not None and self.preview_ended.is_set()

    def still_open(self) -> bool:
        return not self.closed()


def _drain(live: ClientConnection) -> None:
    while True:
        try:
            live.recv(timeout=0.02)
        except TimeoutError:
            return


def _ends_within_a_second(streams: Streams, change: Callable[[], object], what: str) -> None:
    assert streams.still_open(), f"streams closed before {what}"
    change()
    started = time.monotonic()
    wait_for(streams.closed, 1.0, f"the live WebSocket and the preview to end after {what}", interval_s=0.02)
    assert time.monotonic() - started < 1.0
    assert streams.live_closed.rcvd is not None and streams.live_closed.rcvd.code == 1008, what
    streams.reader.join(5)


def test_disabling_revoking_expiry_and_role_changes_end_open_streams(seeded_service):
    service = seeded_service  # shared: the probe changes only the users it creates
    with service.client("admin") as admin, ExitStack() as stack:

        def create(name: str, role: str) -> str:
            answer = admin.post("/api/users", json={"name": name, "role": role, "reason": REASON})
            assert answer.status_code == 201, answer.text
            return answer.json()["token"]["token"]

        def mint(name: str, days: float) -> dict:
            answer = admin.post(f"/api/users/{name}/tokens", json={"days": days, "reason": REASON, "label": "probe"})
            assert answer.status_code == 201, answer.text
            return answer.json()

        # disabling a user
        streams = Streams(service, create("rev-operator", "operator"), stack)
        _ends_within_a_second(
            streams,
            lambda: admin.patch(
                "/api/users/rev-operator", json={"disabled": True, "reason": REASON}
            ).raise_for_status(),
            "disabling the user",
        )
        assert "revoked, or its user disabled" in streams.live_closed.rcvd.reason

        # revoking one token (another token of the same user keeps its streams)
        first = create("rev-investigator", "investigator")
        minted = mint("rev-investigator", 1)
        streams, other = Streams(service, minted["token"], stack), Streams(service, first, stack)
        _ends_within_a_second(
            streams,
            lambda: admin.delete(
                f"/api/users/rev-investigator/tokens/{minted['token_id']}", params={"reason": REASON}
            ).raise_for_status(),
            "revoking the token",
        )
        assert other.still_open()

        # a role change
        _ends_within_a_second(
            other,
            lambda: admin.patch(
                "/api/users/rev-investigator", json={"role": "operator", "reason": REASON}
            ).raise_for_status(),
            "a role change",
        )
        assert "role" in other.live_closed.rcvd.reason

        # expiry: a token valid for 4 seconds
        minted = mint("rev-investigator", 4 / 86400)
        streams = Streams(service, minted["token"], stack)
        assert streams.still_open() and time.time() < minted["expires_at"]
        wait_for(streams.closed, 10, "the streams of an expiring token to end")
        assert time.time() - minted["expires_at"] < 1.0
        assert streams.live_closed.rcvd.code == 1008 and "expired" in streams.live_closed.rcvd.reason
