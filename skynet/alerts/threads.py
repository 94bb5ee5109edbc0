"""Handing work to an asyncio loop from any thread (camera workers are threads)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def call_in_loop(loop: asyncio.AbstractEventLoop | None, callback: Callable[[], object]) -> bool:
    """Runs ``callback`` on ``loop``: now when called from the loop's own thread, otherwise soon.

    Returns False (and does nothing) when there is no loop or it has been closed.
    """
    if loop is None or loop.is_closed():
        return False
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        callback()
        return True
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:  # closed between the check and the call
        return False
    return True
