"""What the API needs from the running server, gathered in one object that ``skynet serve`` fills."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import anyio
import anyio.to_thread
import numpy as np
from threadpoolctl import threadpool_limits

from skynet.accounts.model import User
from skynet.alerts.hub import LiveHub
from skynet.api.auth import Auth
from skynet.api.jobs import JobRunner
from skynet.config import Settings
from skynet.index.catalog import Catalog
from skynet.ingest.reindex import Reindexer
from skynet.ingest.status import CameraStatus
from skynet.records import AuditEvent, Camera, Detections, Frame, Job

T = TypeVar("T")


class CameraControl(Protocol):
    """The running camera workers, as the API drives them (``skynet serve`` provides one)."""

    def start_camera(self, camera: Camera) -> None:
        """Start (or restart, when already running) the worker of ``camera``."""
        ...

    def stop_camera(self, camera_id: str) -> None:
        """Stop the worker of ``camera_id`` if it runs."""
        ...

    def status(self, camera_id: str) -> CameraStatus | None:
        """The worker's status, or None when the camera has no running worker."""
        ...

    def last_analysed(self, camera_id: str) -> tuple[Frame, Detections] | None:
        """The worker's latest analysed frame and its detections (``CameraWorker.last_analysed``)."""
        ...


@dataclass
class Services:
    """Everything the routes use. ``analyze`` (an analyser pool) turns uploads into faces; without it,
    searches by image answer 503. ``cameras`` drives the live workers; without it camera changes
    are only stored. ``make_reindexer`` builds a :class:`Reindexer` for ``POST /api/jobs/reindex``;
    ``start_reembedding(user)`` starts the face re-embedding job (``POST /api/jobs/reembed``);
    ``on_watchlist_change`` is called after every watch-list change (the matcher reloads)."""

    settings: Settings
    catalog: Catalog
    auth: Auth
    hub: LiveHub = field(default_factory=LiveHub)
    analyze: Callable[[np.ndarray], Detections] | None = None
    cameras: CameraControl | None = None
    make_reindexer: Callable[[], Reindexer] | None = None
    start_reembedding: Callable[[str], Job | None] | None = None  # ServiceRuntime.start_reembedding
    # search photos while a re-embedding job runs, embedded by the model the index holds (ServiceRuntime.analyze_search)
    analyze_search: Callable[[np.ndarray], Detections] | None = None
    on_watchlist_change: Callable[[], None] = lambda: None  # e.g. WatchlistMatcher.invalidate
    clock: Callable[[], float] = time.time
    jobs: JobRunner = field(init=False)
    _search_slots: anyio.CapacityLimiter | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.jobs = JobRunner(self.catalog.store.jobs, self.clock)

    async def run_search(self, work: Callable[[], T]) -> T:
        """Run ``work`` (index and store calls of a search) off the event loop, at most
        ``settings.search_threads`` at once. More searches at once than cores only queue on the
        GIL, each handing it back and forth with FAISS and SQLite (16 clients over 1M sightings
        on 2 cores: 7.8 ms of CPU per search in 16 threads, 5.3-6.0 ms in 2)."""
        if self._search_slots is None:  # made on the event loop that uses it
            self._search_slots = anyio.CapacityLimiter(self.settings.search_threads or os.cpu_count() or 1)
        return await anyio.to_thread.run_sync(work, limiter=self._search_slots)

    def start(self) -> None:
        """Prepare the process for serving. Many searches run at once, so each gets one BLAS thread
        instead of a whole team per call (on 2 cores, 16 concurrent face searches ran 4x
        slower with the default thread teams fighting for the cores). Jobs a previous run left
        unfinished are marked failed."""
        threadpool_limits(limits=1, user_api="blas")  # process-wide for numpy's OpenBLAS; kept after stop()
        self.catalog.store.jobs.fail_unfinished(self.clock())

    def stop(self, timeout: float = 30.0) -> None:
        """Wait (up to ``timeout`` per job) for running jobs; the caller closes the catalog afterwards."""
        self.jobs.join(timeout)

    def audit(self, user: User, action: str, reason: str | None, detail: dict) -> None:
        """Append who did what, when and why to the audit log."""
        self.catalog.store.audit.append(AuditEvent(self.clock(), user.name, action, reason, detail))
