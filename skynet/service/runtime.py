"""Everything ``skynet serve`` runs beside the HTTP routes: cameras, the store writer, watch-list
matching, alert channels, retention and camera-status events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

from skynet.alerts import (
    DeliveryOutbox,
    LiveHub,
    MqttOptions,
    MqttPublisher,
    WebhookDispatcher,
    WebhookTarget,
    camera_status_event,
    channels_from_settings,
)
from skynet.config import Settings
from skynet.detectors.pool import AnalyzerPool
from skynet.errors import ConfigError, SkynetError
from skynet.index.catalog import Catalog
from skynet.index.face_models import face_model_id
from skynet.index.reembed import Reembedder, ReembedJob, pending_switch
from skynet.index.retention import run_retention_policy
from skynet.index.writer import CatalogWriter
from skynet.ingest.cameras import CameraSet
from skynet.ingest.reindex import Reindexer
from skynet.ingest.source_policy import SourcePolicy
from skynet.ingest.worker import WorkerOptions
from skynet.records import Detections, Job, Sighting
from skynet.store.errors import QueryError
from skynet.watchlist import AlertFanout, WatchlistMatcher

if TYPE_CHECKING:
    from skynet.detectors.analyzer import ImageAnalyzer

log = logging.getLogger(__name__)
STATUS_EVERY_S = 2.0


def thumbnail_url(sighting: Sighting) -> str | None:
    """Where the API serves a sighting's thumbnail."""
    return f"/api/sightings/{sighting.id}/thumbnail" if sighting.id is not None else None


def mqtt_options(settings: Settings) -> MqttOptions | None:
    """Broker options from ``SKYNET_MQTT_URL`` (``mqtt://[user:password@]host[:port]``, ``mqtts://`` for TLS)."""
    if not settings.mqtt_url:
        return None
    url = urlsplit(settings.mqtt_url)
    if url.scheme not in ("mqtt", "mqtts") or not url.hostname:
        raise ConfigError("SKYNET_MQTT_URL must look like mqtt://host:1883 or mqtts://user:password@host:8883")
    return MqttOptions(
        host=url.hostname,
        port=url.port or (8883 if url.scheme == "mqtts" else 1883),
        topic_prefix=settings.mqtt_topic_prefix,
        username=url.username,
        password=url.password,
        tls=url.scheme == "mqtts",
    )


def webhook_targets(settings: Settings) -> list[WebhookTarget]:
    """Targets from ``SKYNET_WEBHOOKS``; each needs a name, a URL and a signing secret."""
    targets = []
    for number, item in enumerate(settings.webhooks, 1):
        missing = [key for key in ("name", "url", "secret") if not item.get(key)]
        if missing:
            raise ConfigError(f"webhook {number} in SKYNET_WEBHOOKS lacks {', '.join(missing)}")
        targets.append(WebhookTarget(item["name"], item["url"], item["secret"]))
    return targets


class ServiceRuntime:
    """Builds and runs the non-HTTP parts; :meth:`lifespan` ties them to the web server's life."""

    def __init__(self, settings: Settings, catalog: Catalog, pool: AnalyzerPool, outbox: DeliveryOutbox) -> None:
        self.settings = settings
        self.catalog = catalog
        self.pool = pool
        self.hub = LiveHub()
        self.writer = CatalogWriter(catalog)
        targets = webhook_targets(settings)
        self.webhooks = WebhookDispatcher(outbox, targets) if targets else None
        options = mqtt_options(settings)
        self.mqtt = MqttPublisher(options) if options else None
        # SMS and e-mail alerts: built here, run by lifespan() beside the webhooks (skynet.alerts.channels)
        self.messages = channels_from_settings(settings, outbox, catalog.store.cameras.name)
        fanout = AlertFanout(thumbnail_url, self.hub, self.webhooks, self.mqtt, self.messages)
        # live sightings carry the configured pack's embeddings: match them with that model's references
        self.matcher = WatchlistMatcher(
            catalog.store, fanout.alert, settings.watchlist_min_similarity, model=catalog.live_model
        )
        self.writer.add_listener(self.matcher)
        self.writer.add_listener(fanout.sightings)
        self.worker_options = WorkerOptions.from_settings(settings)
        self.cameras = CameraSet(
            pool,
            self.writer,
            self.worker_options,
            embed=pool.embed,
            read=pool.read,
            policy=SourcePolicy.from_settings(settings),
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.reembed: ReembedJob | None = None
        self._search_lock = threading.Lock()
        self._search_analyzer: tuple[str, ImageAnalyzer] | None = None  # (model, its pack's analyser)

    def start(self) -> None:
        """Start the alert channels, every stored camera, retention and status events."""
        if self.mqtt is not None:
            self.mqtt.start()
        for camera in self.catalog.store.cameras.all():
            self.cameras.start_camera(camera)
        for name, target in (
            ("retention", lambda: run_retention_policy(self.catalog, self.settings, self._stop)),
            ("camera-status", self._publish_statuses),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def reindexer(self, jobs: int) -> Reindexer:
        """A re-indexer of archive files into this runtime's store, ``jobs`` files at a time, with the
        cameras' analysers: faces embedded and plates read as each track needs (the pool is lazy)."""
        return Reindexer(
            self.catalog,
            self.writer,
            self.writer.flush,
            self.pool,
            self.settings.model_pack,
            jobs=jobs,
            options=self.worker_options,
            embed=self.pool.embed,
            read=self.pool.read,
        )

    def start_reembedding(self, user: str = "system") -> Job | None:
        """When the configured pack embeds faces with another model than searches use, start (or
        resume) the re-embedding job, unless one runs; returns the running job's record, None when
        none is due. ``skynet serve`` calls this once the API is up, so a pack switch starts the job
        by itself."""
        if self.reembed is not None and self.reembed.running:
            return self.reembed.job
        if not pending_switch(self.catalog):
            return None
        from skynet.detectors.analyzer import ImageAnalyzer  # the job's own analyser, beside the cameras'

        reembedder = Reembedder(
            self.catalog,
            ImageAnalyzer.from_settings(self.settings),
            self.catalog.live_model,
            on_watchlist_change=self.matcher.invalidate,
        )
        self.reembed = ReembedJob(reembedder, user, time.time).start()
        log.info(
            "re-embedding faces for model %s (job %s); searches use %s until it completes",
            self.catalog.live_model,
            self.reembed.job.id,
            self.catalog.face_model,
        )
        return self.reembed.job

    def analyze_search(self, image: np.ndarray) -> Detections:
        """Faces of a search photo embedded by the model the face index holds: the cameras' analysers
        once that is the configured pack's model; while a re-embedding job runs, the searched model's
        own pack (loaded on first use), so searches keep working on the old index."""
        searched = self.catalog.face_model
        if searched is None or searched == self.catalog.live_model:
            self._search_analyzer = None  # after the switch the old pack is not needed any more
            return self.pool.analyze(image)
        with self._search_lock:
            if self._search_analyzer is None or self._search_analyzer[0] != searched:
                self._search_analyzer = (searched, self._pack_analyzer(searched))
            return self._search_analyzer[1].analyze(image, plates=False)

    def _pack_analyzer(self, model: str) -> ImageAnalyzer:
        from skynet.detectors.analyzer import ImageAnalyzer

        pack = model.split("/", 1)[0]
        try:
            if face_model_id(pack) != model:
                raise ConfigError(f"pack {pack!r} no longer embeds faces as {model}")
            return ImageAnalyzer.from_settings(self.settings.model_copy(update={"model_pack": pack}))
        except SkynetError as error:
            raise QueryError(
                f"search by photo needs model pack {pack!r} (the face index holds {model} vectors "
                f"until the re-embedding to {self.catalog.live_model} completes): {error.message}",
                "install that pack again, or search by sighting_id until the job completes",
            ) from None

    def stop(self) -> None:
        """Stop a re-embedding job (it resumes at the next start), cameras (open tracks are stored),
        flush the writer, stop the channels."""
        self._stop.set()
        if self.reembed is not None:
            self.reembed.stop()
        self.cameras.stop_all()
        self.writer.close()
        if self.mqtt is not None:
            self.mqtt.stop()
        for thread in self._threads:
            thread.join(5.0)

    def _publish_statuses(self) -> None:
        while not self._stop.wait(STATUS_EVERY_S):
            now = time.time()
            for status in self.cameras.statuses():
                self.hub.publish(camera_status_event(status, now))

    @contextlib.asynccontextmanager
    async def lifespan(self, app) -> AsyncIterator[None]:
        """FastAPI lifespan: everything runs while the server serves."""
        self.start()
        deliveries = [asyncio.create_task(w.run()) for w in (self.webhooks, self.messages) if w is not None]
        try:
            yield
        finally:
            for task in deliveries:
                task.cancel()
            await asyncio.gather(*deliveries, return_exceptions=True)
            await asyncio.to_thread(self.stop)
