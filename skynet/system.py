"""The running system of one process: its role, the parts the role runs, and the start, stop and lifespan of what
runs. :mod:`skynet.app` composes it from settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from skynet.alerts import LiveHub, MqttPublisher, WebhookDispatcher
from skynet.alerts.channels import AlertChannels
from skynet.api.auth import Auth
from skynet.cluster.follower import StoreFollower
from skynet.config import Settings
from skynet.detectors.pool import AnalyzerPool
from skynet.index.catalog import Catalog
from skynet.index.retention import run_retention_policy
from skynet.index.writer import CatalogWriter
from skynet.ingest.camera_config import CameraConfig
from skynet.ingest.cameras import CameraSet
from skynet.ingest.source_policy import SourcePolicy
from skynet.ingest.worker import WorkerOptions
from skynet.services.analytics import AnalyticsService
from skynet.services.audit import Auditor
from skynet.services.browse import BrowseService
from skynet.services.cameras import CameraService, publish_statuses
from skynet.services.export import ExportService
from skynet.services.faces import FaceQueries
from skynet.services.feeds import FeedService
from skynet.services.holds import EvidenceHoldService
from skynet.services.identities import IdentityService
from skynet.services.identity_keys import IdentityKeyService
from skynet.services.jobs import JobRunner, JobService
from skynet.services.search import SearchService
from skynet.services.sightings import SightingService
from skynet.services.trajectory import TrajectoryService
from skynet.services.users import UserService
from skynet.services.watchlists import WatchlistService
from skynet.watchlist import WatchlistMatcher

if TYPE_CHECKING:
    from fastapi import FastAPI


log = logging.getLogger(__name__)


class SystemRole(StrEnum):
    """What a process runs (see the module's table)."""

    ALL_IN_ONE = "all-in-one"
    CAMERA_NODE = "camera-node"
    API_NODE = "api-node"


class Part(StrEnum):
    CAMERAS = "cameras"
    API = "api"
    BACKGROUND = "background"


PARTS: dict[SystemRole, frozenset[Part]] = {
    SystemRole.ALL_IN_ONE: frozenset({Part.CAMERAS, Part.API, Part.BACKGROUND}),
    SystemRole.CAMERA_NODE: frozenset({Part.CAMERAS}),
    SystemRole.API_NODE: frozenset({Part.API, Part.BACKGROUND}),
}


@dataclass(eq=False)
class System:
    """The running parts of one process and the use-case services over them. :meth:`running` (the API's
    lifespan, or ``skynet run``'s loop) starts and stops what runs; :meth:`close` releases the rest."""

    settings: Settings
    role: SystemRole
    catalog: Catalog
    clock: Callable[[], float]
    auditor: Auditor
    hub: LiveHub
    writer: CatalogWriter
    matcher: WatchlistMatcher
    webhooks: WebhookDispatcher | None
    mqtt: MqttPublisher | None
    messages: AlertChannels | None
    camera_workers: CameraSet | None
    pool: AnalyzerPool | None
    camera_configs: Sequence[CameraConfig] | None
    only_cameras: Sequence[str] | None
    follower: StoreFollower | None
    runner: JobRunner
    sightings: SightingService
    faces: FaceQueries
    search: SearchService
    analytics: AnalyticsService
    identities: IdentityService
    trajectories: TrajectoryService
    exports: ExportService
    watchlists: WatchlistService
    cameras: CameraService
    jobs: JobService
    users: UserService
    feeds: FeedService
    identity_keys: IdentityKeyService
    browse: BrowseService
    holds: EvidenceHoldService
    auth: Auth
    api: FastAPI | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def parts(self) -> frozenset[Part]:
        return PARTS[self.role]

    def start(self) -> None:
        """Start the role's parts: the MQTT channel, the cameras, retention and camera-status events; then
        the jobs (those a previous process left unfinished are marked failed, and the due ones start: a
        re-embedding job when the configured pack embeds faces with another model than searches use)."""
        if self.mqtt is not None:
            self.mqtt.start()
        if self.camera_workers is not None:
            self._start_cameras(self.camera_workers)
        threads: list[tuple[str, Callable[[], None]]] = []
        if Part.BACKGROUND in self.parts:
            threads.append(("retention", lambda: run_retention_policy(self.catalog, self.settings, self._stop)))
        if Part.API in self.parts:  # faces another process stored (a CLI re-index) become searchable
            threads.append(("index-refresh", self._refresh_indexes))
        if self.camera_workers is not None and Part.API in self.parts:
            workers = self.camera_workers
            threads.append(("camera-status", lambda: publish_statuses(workers, self.hub, self._stop)))
        if (follower := self.follower) is not None:
            threads.append(("store-follower", lambda: follower.run(self._stop)))
        for name, target in threads:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        if Part.BACKGROUND in self.parts:
            self.runner.start()

    def _refresh_indexes(self) -> None:
        while not self._stop.wait(self.settings.index_refresh_s):
            try:
                self.catalog.refresh()
            except Exception:  # the next round tries again; searches go on with what is indexed
                log.exception("indexing faces stored by another process failed")

    def _start_cameras(self, workers: CameraSet) -> None:
        if self.camera_configs is None:  # the stored cameras with a stream (or those chosen), as the API changes them
            for camera in self.catalog.store.cameras.all():
                if camera.live and (self.only_cameras is None or camera.id in self.only_cameras):
                    workers.start_camera(camera)
            return
        policy = SourcePolicy.from_settings(self.settings)
        for config in self.camera_configs:  # a cameras file's, each with its own source options and rate
            workers.start(config.source(policy), WorkerOptions.from_settings(self.settings, config.analysis_fps))

    def stop(self) -> None:
        """Stop the jobs (a re-embedding job resumes at the next start), the cameras (open tracks are
        stored), flush the writer, stop the channels and the background threads."""
        self._stop.set()
        self.runner.stop()
        if self.camera_workers is not None:
            self.camera_workers.stop_all()
        self.writer.close()
        if self.mqtt is not None:
            self.mqtt.stop()
        for thread in self._threads:
            thread.join(5.0)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[System]:
        """Everything the role runs, while the caller's block runs (webhooks, SMS and e-mail are delivered on
        this loop); the caller closes the system afterwards."""
        self.start()
        deliveries = [asyncio.create_task(w.run()) for w in (self.webhooks, self.messages) if w is not None]
        try:
            yield self
        finally:
            for task in deliveries:
                task.cancel()
            await asyncio.gather(*deliveries, return_exceptions=True)
            await asyncio.to_thread(self.stop)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """The API's lifespan: the system runs while the server serves."""
        from skynet.api.app import serving

        async with self.running(), serving(self.auth):
            yield

    def close(self) -> None:
        """Release the writer and the catalog (after :meth:`running`, or without ever starting)."""
        try:
            self.writer.close()
        finally:
            self.catalog.close()
