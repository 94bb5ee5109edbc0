"""Webhook delivery against a real HTTP server on 127.0.0.1: signatures, retries, timeouts, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from waiting import WaitTimeout, wait_for

from skynet.alerts import MemoryOutbox, RetryPolicy, WebhookDispatcher, WebhookTarget
from skynet.alerts.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify_signature
from skynet.errors import ConfigError
from skynet.records import DeliveryState

pytestmark = pytest.mark.anyio
SECRET = "whsec-test-secret"
BODY = b'{"type":"alert","at":1.0,"data":{"alert_id":1}}'
FAST_RETRY = RetryPolicy(base_s=0.2, cap_s=1.0, max_attempts=3)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A threaded HTTP server: /ok answers 200, /flaky 500 then 200 (per delivery id), /bad 400,
    /down 500 always, /hang never in time."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                path = self.path.split("?")[0]
                receiver.requests.append(Received(path, dict(self.headers), body, time.monotonic()))
                if path == "/hang":
                    receiver.release.wait(10)
                seen = sum(
                    r.path == path and r.headers[DELIVERY_HEADER] == self.headers[DELIVERY_HEADER]
                    for r in receiver.requests
                )
                code = {"/ok": 200, "/bad": 400, "/down": 500, "/flaky": 500 if seen == 1 else 200}.get(path, 200)
                with contextlib.suppress(OSError):
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def target(name: str, url: str, timeout_s: float = 2.0) -> WebhookTarget:
    return WebhookTarget(name, url, SECRET, timeout_s)


@contextlib.asynccontextmanager
async def running(dispatcher: WebhookDispatcher) -> AsyncIterator[WebhookDispatcher]:
    task = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(0)  # let it start
    try:
        yield dispatcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settled(outbox: MemoryOutbox, delivery_id: int, state: DeliveryState, timeout_s: float = 10.0):
    """The delivery once in ``state``, waited for off the event loop (the dispatcher runs on it)."""
    try:
        await asyncio.to_thread(wait_for, lambda: outbox.get(delivery_id).state is state, timeout_s, f"{state}")
    except WaitTimeout as error:
        raise WaitTimeout(f"{error}: delivery {delivery_id} is {outbox.get(delivery_id)}") from None
    return outbox.get(delivery_id)


def test_signature_matches_an_independent_hmac_and_refuses_tampering_and_replay():
    body = b'{"type":"alert"}'
    # printf '1700000000.{"type":"alert"}' | openssl dgst -sha256 -hmac topsecret
    expected = "sha256=f2f5fd625215a012c403eba6e2c71564f8d6a5633a3e3ffc869020db65af3373"
    assert sign("topsecret", 1700000000, body) == expected
    assert verify_signature("topsecret", body, expected, "1700000000", now=1700000100)
    assert not verify_signature("topsecret", body + b" ", expected, "1700000000", now=1700000100)
    assert not verify_signature("other", body, expected, "1700000000", now=1700000100)
    assert not verify_signature("topsecret", body, expected, "1700000001", now=1700000100)
    assert not verify_signature("topsecret", body, expected, "1700000000", now=1700000000 + 301)  # replayed late
    assert not verify_signature("topsecret", body, expected, "soon", now=1700000000)


async def test_delivery_is_signed_and_verifiable_by_the_receiver(receiver):
    outbox = MemoryOutbox()
    async with running(WebhookDispatcher(outbox, [target("siem", receiver.url + "/ok")])) as dispatcher:
        (delivery_id,) = dispatcher.submit(BODY)
        delivered = await settled(outbox, delivery_id, DeliveryState.DONE)
    assert delivered.attempts == 1
    (request,) = receiver.at("/ok")
    assert request.body == BODY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers[DELIVERY_HEADER] == str(delivery_id)
    assert request.headers[SIGNATURE_HEADER].startswith("sha256=")
    assert verify_signature(
        SECRET, request.body, request.headers[SIGNATURE_HEADER], request.headers[TIMESTAMP_HEADER], now=time.time()
    )


async def test_500_is_retried_with_back_off_until_200(receiver):
    outbox = MemoryOutbox()
    async with running(WebhookDispatcher(outbox, [target("flaky", receiver.url + "/flaky")], FAST_RETRY)) as d:
        (delivery_id,) = d.submit(BODY)
        delivered = await settled(outbox, delivery_id, DeliveryState.DONE)
    assert delivered.attempts == 2 and delivered.last_error == "HTTP 500"
    first, second = receiver.at("/flaky")
    assert second.at - first.at >= FAST_RETRY.delay(1) - 0.05
    assert first.headers[DELIVERY_HEADER] == second.headers[DELIVERY_HEADER] == str(delivery_id)
    for request in (first, second):
        assert verify_signature(
            SECRET, request.body, request.headers[SIGNATURE_HEADER], request.headers[TIMESTAMP_HEADER], now=time.time()
        )


async def test_hanging_target_times_out_is_retried_then_given_up_and_holds_up_no_one(receiver):
    outbox = MemoryOutbox()
    targets = [target("slow", receiver.url + "/hang", timeout_s=0.5), target("fast", receiver.url + "/ok")]
    async with running(WebhookDispatcher(outbox, targets, RetryPolicy(0.1, 1.0, max_attempts=2))) as d:
        hang_id, ok_id = d.submit(BODY)
        await settled(outbox, ok_id, DeliveryState.DONE)
        hanging = outbox.get(hang_id)
        assert (hanging.attempts, hanging.last_error) == (1, None)  # delivered while the first attempt hangs
        failed = await settled(outbox, hang_id, DeliveryState.FAILED)
    assert failed.attempts == 2
    assert failed.last_error == "no answer within 0.5 s"
    assert len(receiver.at("/hang")) == 2


async def test_permanent_failures_are_not_retried_and_are_kept(receiver):
    outbox = MemoryOutbox()
    async with running(WebhookDispatcher(outbox, [target("bad", receiver.url + "/bad")], FAST_RETRY)) as d:
        (delivery_id,) = d.submit(BODY)
        failed = await settled(outbox, delivery_id, DeliveryState.FAILED)
    assert (failed.attempts, failed.last_error, failed.body) == (1, "HTTP 400", BODY)
    assert len(receiver.at("/bad")) == 1


async def test_5xx_forever_gives_up_after_max_attempts(receiver):
    outbox = MemoryOutbox()
    async with running(WebhookDispatcher(outbox, [target("down", receiver.url + "/down")], FAST_RETRY)) as d:
        (delivery_id,) = d.submit(BODY)
        failed = await settled(outbox, delivery_id, DeliveryState.FAILED)
    assert failed.attempts == FAST_RETRY.max_attempts == len(receiver.at("/down"))


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A 127.0.0.1 port bound but not listening, held for the test: every connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_pending_deliveries_survive_a_restart(receiver, refused_port, caplog):
    outbox = MemoryOutbox()  # stands in for the store's table, which outlives the dispatcher
    unreachable = f"http://127.0.0.1:{refused_port}/ok?token=s3cret"
    with caplog.at_level(logging.WARNING, logger="skynet.alerts.webhooks"):
        async with running(WebhookDispatcher(outbox, [target("siem", unreachable)], FAST_RETRY)) as d:
            (delivery_id,) = d.submit(BODY)
            await asyncio.to_thread(
                wait_for, lambda: outbox.get(delivery_id).last_error is not None, 10, "the first failed attempt"
            )
    pending = outbox.get(delivery_id)
    assert pending.state is DeliveryState.PENDING and "ConnectError" in (pending.last_error or "")
    assert "s3cret" not in caplog.text and "ConnectError" in caplog.text

    # The service restarts with the receiver reachable: the same delivery goes out.
    async with running(WebhookDispatcher(outbox, [target("siem", receiver.url + "/ok")], FAST_RETRY)):
        delivered = await settled(outbox, delivery_id, DeliveryState.DONE)
    assert delivered.attempts == 2
    assert [r.body for r in receiver.at("/ok")] == [BODY]


async def test_a_delivery_claimed_by_a_crashed_worker_is_retried_after_its_lease(receiver):
    outbox = MemoryOutbox()
    delivery_id = outbox.enqueue("siem", BODY, time.time())
    assert [d.id for d in outbox.claim(time.time(), 10, lease_s=0.5)] == [delivery_id]  # then "crash"
    async with running(WebhookDispatcher(outbox, [target("siem", receiver.url + "/ok")], lease_s=5.0)):
        delivered = await settled(outbox, delivery_id, DeliveryState.DONE)
    assert delivered.attempts == 2
    assert len(receiver.at("/ok")) == 1


async def test_submit_from_a_camera_thread_wakes_the_worker(receiver):
    outbox = MemoryOutbox()
    dispatcher = WebhookDispatcher(outbox, [target("siem", receiver.url + "/ok")])
    early = dispatcher.submit(b'{"n":0}')  # before the worker runs: kept, sent once it starts
    async with running(dispatcher):
        later = await asyncio.to_thread(dispatcher.submit, b'{"n":1}')
        for delivery_id in early + later:
            await settled(outbox, delivery_id, DeliveryState.DONE)
    assert sorted(r.body for r in receiver.at("/ok")) == [b'{"n":0}', b'{"n":1}']


async def test_deliveries_for_a_removed_target_are_failed_not_dropped(receiver):
    outbox = MemoryOutbox()
    orphan = outbox.enqueue("old-siem", BODY, time.time())
    async with running(WebhookDispatcher(outbox, [target("siem", receiver.url + "/ok")])):
        failed = await settled(outbox, orphan, DeliveryState.FAILED)
    assert failed.last_error == "webhook target 'old-siem' is no longer configured"


def test_bad_webhook_settings_are_refused_without_showing_the_url():
    with pytest.raises(ConfigError, match="names must be unique"):
        WebhookDispatcher(MemoryOutbox(), [target("a", "http://x"), target("a", "http://y")])
    with pytest.raises(ConfigError, match=r"lease_s \(3\) must exceed the longest webhook timeout \(5.0\)"):
        WebhookDispatcher(MemoryOutbox(), [target("a", "http://x", timeout_s=5.0)], lease_s=3)
    for url in ("ftp://user:pw@host/x", "not a url", "http://", "https://[::1"):
        with pytest.raises(ConfigError, match="'a': the URL is not an http:// or https:// address") as caught:
            target("a", url)
        assert "pw" not in str(caught.value)
    with pytest.raises(ConfigError, match="has no secret"):
        WebhookTarget("a", "https://hooks.example/x", "")
    with pytest.raises(ConfigError, match="timeout_s must be > 0"):
        target("a", "https://hooks.example/x", timeout_s=0)


def test_retry_policy_doubles_up_to_its_cap():
    policy = RetryPolicy(base_s=2.0, cap_s=60.0)
    assert [policy.delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_targets_hide_url_and_secret_from_repr():
    text = repr(WebhookTarget("siem", "https://hooks.example/x?token=abc", "sekrit"))
    assert "abc" not in text and "sekrit" not in text and "siem" in text
