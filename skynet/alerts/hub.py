"""WebSocket fan-out for ``/api/live``: every subscriber gets every event it asked for, and a slow
one never holds up the others.

Each subscriber has a bounded queue; when it is full the oldest event is dropped and counted, and
the subscriber is told how many it missed (``{"type": "dropped", "count": n}``) before its next
event. Alerts are stored and can be listed through the API, so a lagging screen can catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from skynet.alerts.events import EventType, LiveEvent
from skynet.alerts.threads import call_in_loop


class Subscription:
    """One subscriber's bounded queue of events of the types it wants, on its event loop."""

    def __init__(self, types: frozenset[EventType], size: int) -> None:
        self.types = types
        self.dropped = 0
        self.loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue(size)

    def offer(self, event: LiveEvent) -> None:
        """Queues ``event`` if wanted, dropping (and counting) the oldest when full. Loop thread only."""
        if event.type not in self.types:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> LiveEvent:
        return await self._queue.get()


class LiveHub:
    """Fans events out to subscribers. :meth:`publish` may be called from any thread."""

    def __init__(self, queue_size: int = 256) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._subscriptions: set[Subscription] = set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: LiveEvent) -> None:
        """Hands ``event`` to every current subscriber; never blocks. No subscribers: nothing to do."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            call_in_loop(subscription.loop, functools.partial(subscription.offer, event))

    @contextlib.contextmanager
    def subscribe(self, types: Iterable[EventType] | None = None) -> Iterator[Subscription]:
        """A subscription for the enclosed block, fed on the running event loop."""
        subscription = Subscription(frozenset(EventType) if types is None else frozenset(types), self.queue_size)
        with self._lock:
            self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                self._subscriptions.discard(subscription)

    async def serve(
        self,
        websocket: WebSocket,
        types: Iterable[EventType] | None = None,
        *,
        view: View | None = None,
        until: Callable[[], Awaitable[str | None]] | None = None,
    ) -> None:
        """Streams events to ``websocket`` (accepting it) until the client goes away, or until ``until``
        returns: then the connection is closed with code 1008 and the reason it returned. ``view`` is
        what this subscriber sees of each event (None: nothing)."""
        await websocket.accept()
        with self.subscribe(types) as subscription:
            async with anyio.create_task_group() as group:
                group.start_soon(_send_events, websocket, subscription, group.cancel_scope, view)
                if until is not None:
                    group.start_soon(_close_when, websocket, until, group.cancel_scope)
                await _wait_for_close(websocket)
                group.cancel_scope.cancel()


View = Callable[[LiveEvent], LiveEvent | None]
"""What one subscriber sees of an event: the event, another one (a link made for them), or None."""


async def _send_events(
    websocket: WebSocket, subscription: Subscription, scope: anyio.CancelScope, view: View | None
) -> None:
    reported = 0
    try:
        while True:
            shown = await subscription.get()
            event = shown if view is None else view(shown)
            if event is None:
                continue
            if subscription.dropped > reported:
                await websocket.send_json({"type": "dropped", "count": subscription.dropped - reported})
                reported = subscription.dropped
            await websocket.send_text(event.to_json())
    except (WebSocketDisconnect, RuntimeError, OSError):  # the client went away mid-send
        scope.cancel()


async def _close_when(
    websocket: WebSocket, until: Callable[[], Awaitable[str | None]], scope: anyio.CancelScope
) -> None:
    reason = await until()
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        # a close frame's reason: at most 123 bytes
        await websocket.close(1008, (reason or "").encode()[:120].decode(errors="ignore"))
    scope.cancel()


async def _wait_for_close(websocket: WebSocket) -> None:
    """Reads (and ignores) client messages until the client disconnects."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
