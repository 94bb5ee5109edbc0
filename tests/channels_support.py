"""SMS and e-mail alert channels for tests and ``benchmarks/bench_alerts.py``: their settings against the
test gateways, and their workers running on an event loop of their own, as ``skynet serve`` runs them."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from message_servers import Kannel, SmtpServer

from skynet.alerts import AlertChannels
from skynet.config import Settings
from skynet.records import Box, PlateText, Sighting, SightingKind

SENDER = "skynet@example.org"
IMAGE = np.zeros((32, 32, 3), np.uint8)


def channel_settings(
    data_dir: Path, kannel: Kannel | None, smtp: SmtpServer | None, recipients: list[str], **more: Any
) -> Settings:
    """Settings that send alerts to ``recipients`` (role ``duty``) through ``kannel`` and ``smtp`` (plain SMTP)."""
    gateways: dict[str, Any] = {}
    if kannel is not None:
        gateways.update(kannel_url=kannel.url, kannel_username=kannel.username, kannel_password=kannel.password)
    if smtp is not None:
        gateways.update(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none", smtp_from=SENDER)
    return Settings(data_dir=data_dir, alert_recipients={"duty": recipients}, **{**gateways, **more})


def plate_sighting(camera_id: str, text: str, at: float) -> Sighting:
    """A plate sighting whose best view is at ``at``."""
    plate = PlateText(text, (0.95,) * len(text))
    return Sighting(camera_id, SightingKind.PLATE, at - 1, at + 1, at, Box(0, 0, 90, 30), 0.9, plate=plate)


@contextlib.contextmanager
def running(channels: AlertChannels) -> Iterator[AlertChannels]:
    """``channels`` delivering from a thread with its own event loop until the block ends."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    task: asyncio.Task | None = None

    async def main() -> None:
        nonlocal task
        task = asyncio.current_task()
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await channels.run()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="alert-channels", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield channels
    finally:
        loop.call_soon_threadsafe(task.cancel)  # type: ignore[union-attr]
        thread.join(30)
        loop.close()
