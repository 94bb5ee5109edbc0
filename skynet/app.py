"""The composition root: the running system built from :class:`Settings` for a role. Only this module
knows every part; the roles differ only in the parts they choose.

=============  ======================================================  ==============================
role           parts                                                   today's command
=============  ======================================================  ==============================
all-in-one     cameras, HTTP API, background work                      ``skynet serve``
camera-node    cameras                                                 ``skynet run``
api-node       HTTP API, background work                               (a cluster's API machines)
=============  ======================================================  ==============================

Every role has the catalog (store and face indexes), the auditor, the store writer with watch-list
matching, the alert channels (the live hub, webhooks, MQTT, SMS and e-mail) and the use-case services over them.
*Cameras* are the camera workers and their analysers; the *HTTP API* is the FastAPI app, whose
``lifespan`` starts and stops the system; *background work* is the job runner (re-index and
re-embedding jobs), retention, and the re-embedding job due after a model-pack switch. Where cameras
and the API run together, camera statuses go out on the live stream.

Over PostgreSQL an API node (no cameras) *follows* the store (:mod:`skynet.cluster.follower`): what camera nodes
commit reaches its face indexes and its live stream (alerts included), and its own writes reach its live stream the
same way, once. With ``cluster_index_shards`` an API node keeps no face index: it searches the cluster's index
shards (:mod:`skynet.cluster.sharded_index`), which hold the index's week partitions. A cluster's camera actor and
re-index tasks are handed their parts by this module (:func:`camera_node`, :func:`archive_node`): the camera-node role
for one camera, with a fenced writer that retries, and the same role running no camera for archive files; nothing in
:mod:`skynet.cluster` imports this module.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from skynet.accounts.throttle import LoginThrottle, TokenThrottle
from skynet.alerts import LiveHub, MqttPublisher, WebhookDispatcher
from skynet.alerts.channels import channels_from_settings, mqtt_options, webhook_targets
from skynet.api.auth import Auth
from skynet.cluster.follower import StoreFollower
from skynet.config import Settings
from skynet.detectors.batching import camera_pool
from skynet.detectors.cpu_features import cpu_flags, has_vnni, int8_speed_note
from skynet.detectors.pool import AnalyzerPool
from skynet.detectors.runtime import runs_int8
from skynet.index.catalog import Catalog
from skynet.index.face_search import FaceSearcher
from skynet.index.identities import IdentityGrouper
from skynet.index.writer import CatalogWriter
from skynet.ingest.archive_roots import ArchiveRoots
from skynet.ingest.camera_config import CameraConfig
from skynet.ingest.cameras import CameraSet
from skynet.ingest.reindex import Reindexer
from skynet.ingest.source_policy import SourcePolicy
from skynet.ingest.worker import WorkerOptions
from skynet.records import Alert
from skynet.services.analytics import AnalyticsService
from skynet.services.audit import Auditor
from skynet.services.browse import BrowseService
from skynet.services.cameras import CameraService
from skynet.services.export import ExportService
from skynet.services.faces import Analyze, FaceQueries, SearchedModelAnalyzer, SimilarityBands
from skynet.services.feed_jobs import FeedImportJobs
from skynet.services.feeds import FeedService
from skynet.services.holds import EvidenceHoldService
from skynet.services.identities import IdentityService
from skynet.services.identity_keys import IdentityKeyService
from skynet.services.jobs import JobRunner, JobService
from skynet.services.media_links import KEY_PURPOSE as MEDIA_KEY_PURPOSE
from skynet.services.media_links import MediaLinks
from skynet.services.reasons import ReasonRule
from skynet.services.reembed import ReembedJobs
from skynet.services.reindex import ReindexJobs
from skynet.services.search import SearchService
from skynet.services.sightings import SightingService
from skynet.services.trajectory import TrajectoryService
from skynet.services.users import UserService
from skynet.services.watchlists import WatchlistService
from skynet.system import PARTS, Part, System, SystemRole
from skynet.watchlist import AlertFanout, WatchlistMatcher
from skynet.watchlist.fanout import publish_alerts

if TYPE_CHECKING:
    from skynet.detectors.analyzer import ImageAnalyzer

log = logging.getLogger(__name__)


def analyser_pool(settings: Settings, size: int) -> AnalyzerPool:
    """The ``size`` analysers of the configured pack that camera workers and re-index jobs share (one
    thread per model each; faces embedded and plates read only as each track needs)."""
    pool = camera_pool(
        settings.model_copy(update={"intra_op_threads": 1}), size=size, lazy_embedding=True, lazy_reading=True
    )
    if runs_int8(settings.precision, settings.execution_providers):
        flags = cpu_flags()
        if flags is not None and not has_vnni(flags):  # an x86 CPU without VNNI: about twice the CPU per camera
            log.warning(int8_speed_note(flags))
    return pool


def reindexer(settings: Settings, catalog: Catalog, writer: CatalogWriter, pool: AnalyzerPool, jobs: int) -> Reindexer:
    """A re-indexer of archive files into ``catalog`` through ``writer``, ``jobs`` files at a time, with the
    analysers of ``pool``."""
    return Reindexer(
        catalog,
        writer,
        writer.flush,
        pool,
        settings.model_pack,
        jobs=jobs,
        name_pattern=settings.archive_name_pattern,
        options=WorkerOptions.from_settings(settings),
        embed=pool.embed,
        read=pool.read,
    )


def camera_node(settings: Settings, camera_id: str, fence: Callable[[], None]) -> System:
    """A cluster's camera actor (:class:`skynet.cluster.camera_actor.CameraActor`): the camera-node role for the
    stored camera ``camera_id`` alone: one analyser, no face index (the API nodes index what it stores), a writer
    fenced by the camera's lease (``fence``) that retries an unanswered commit for ``cluster_write_retry_s``."""
    return build(
        settings,
        SystemRole.CAMERA_NODE,
        analysers=1,
        catalog=Catalog.from_settings(settings, indexing=False),
        only_cameras=[camera_id],
        fence=fence,
        write_retry_s=settings.cluster_write_retry_s,
    )


def archive_node(settings: Settings) -> Reindexer:
    """A cluster's re-index task (:mod:`skynet.cluster.reindex`): the camera-node role running no camera (its writer
    with watch-list matching and its alert channels started) and a re-indexer of one file at a time over it."""
    system = build(
        settings,
        SystemRole.CAMERA_NODE,
        analysers=1,
        catalog=Catalog.from_settings(settings, indexing=False),
        only_cameras=[],
        write_retry_s=settings.cluster_write_retry_s,
    )
    system.start()
    assert system.pool is not None  # the camera-node role has analysers
    return reindexer(settings, system.catalog, system.writer, system.pool, jobs=1)


def build(
    settings: Settings,
    role: SystemRole = SystemRole.ALL_IN_ONE,
    *,
    analysers: int | None = None,
    analyzer: Analyze | None = None,
    catalog: Catalog | None = None,
    cameras: Sequence[CameraConfig] | None = None,
    only_cameras: Sequence[str] | None = None,
    fence: Callable[[], None] | None = None,
    write_retry_s: float = 0.0,
    clock: Callable[[], float] = time.time,
) -> System:
    """The system of ``role`` over ``settings``' data directory (or ``catalog``, which it then owns).

    ``analysers``: how many analysers of the configured model pack the cameras, re-index jobs and photo
    searches share (default one per core; 0: none, so photo searches answer 503 and no re-index job
    runs). ``analyzer``: analyse photos with this instead (tests; no pack is loaded then). ``cameras``:
    run these (stored first) instead of the stored cameras; ``only_cameras``: run only the stored cameras
    with these ids. ``fence`` and ``write_retry_s``: see :class:`CatalogWriter` (a cluster's camera actor).
    ``clock``: the time of audit events, jobs, tokens and watch-list entries."""
    # an API node of a sharded cluster keeps no face index: it searches the index shards
    sharded = catalog is None and role is SystemRole.API_NODE and bool(settings.cluster_address)
    sharded = sharded and settings.cluster_index_shards > 0
    catalog = catalog if catalog is not None else Catalog.from_settings(settings, indexing=not sharded)
    try:
        if sharded:
            catalog.searcher = _index_shards(settings, catalog)
        return _compose(
            settings, role, catalog, analysers, analyzer, cameras, clock, only_cameras, fence, write_retry_s
        )
    except BaseException:
        catalog.close()
        raise


def _compose(
    settings: Settings,
    role: SystemRole,
    catalog: Catalog,
    analysers: int | None,
    analyzer: Analyze | None,
    cameras: Sequence[CameraConfig] | None,
    clock: Callable[[], float],
    only_cameras: Sequence[str] | None,
    fence: Callable[[], None] | None,
    write_retry_s: float,
) -> System:
    parts = PARTS[role]
    store = catalog.store
    size = (os.cpu_count() or 1) if analysers is None else analysers
    pool = analyser_pool(settings, size) if analyzer is None and size > 0 else None
    if Part.CAMERAS in parts and pool is None:
        raise ValueError(f"role {role} runs cameras: it needs analysers of the model pack")
    for config in cameras or ():
        store.cameras.save(config.camera())

    auditor = Auditor(store.audit, clock, ReasonRule.from_settings(settings))
    hub = LiveHub()
    writer = CatalogWriter(catalog, retry_s=write_retry_s, fence=fence)
    targets = webhook_targets(settings)
    webhooks = WebhookDispatcher(store.outbox, targets) if targets else None
    options = mqtt_options(settings)
    mqtt = MqttPublisher(options) if options else None
    messages = channels_from_settings(settings, store.outbox, store.cameras.name)
    # events leave without media links: each live subscriber gets links made for its own token
    # (skynet.api.live); webhooks, MQTT, SMS and e-mail name the sighting, a receiver asks the API for it
    no_link = lambda _sighting: None  # noqa: E731
    # an API node over PostgreSQL follows the store: every node's sightings and alerts (its own too) reach its
    # live stream from there, once
    follower = None
    if settings.database_url and Part.API in parts and Part.CAMERAS not in parts:
        follower = StoreFollower(settings.database_url, catalog, hub, no_link)
    fanout = AlertFanout(no_link, hub if follower is None else None, webhooks, mqtt, messages)

    def show_acknowledged(alerts: Sequence[Alert]) -> None:
        """Acknowledged alerts go onto the live stream as updates (listed as acknowledged, no alarm); over a
        follower they come back from the store's change log, as every node's do."""
        if follower is None:
            publish_alerts(store, hub, no_link, alerts, updated=True)

    # live sightings carry the configured pack's embeddings: match them with that model's references
    matcher = WatchlistMatcher(
        store,
        fanout.alert,
        settings.watchlist_min_similarity,
        model=catalog.live_model,
        default_cooldown_s=settings.alert_cooldown_s,
        on_update=fanout.alert_updated,
    )
    writer.add_listener(matcher)
    writer.add_listener(fanout.sightings)
    writer.add_listener(IdentityGrouper(catalog, settings.identity_min_similarity, clock))  # after the live events
    policy = SourcePolicy.from_settings(settings)
    camera_workers = None
    if Part.CAMERAS in parts and pool is not None:
        camera_workers = CameraSet(
            pool,
            writer,
            WorkerOptions.from_settings(settings),
            embed=pool.embed,
            read=pool.read,
            policy=policy,
        )

    # feed records go the way of the writer's batches: stored, then matched; pushed ones also go live
    feeds = FeedService(
        store,
        auditor,
        clock,
        settings.data_dir,
        match=matcher,
        announce=fanout.sightings,
        candidates=matcher.candidates,
    )
    runner = JobRunner(store.jobs, clock)
    if Part.BACKGROUND in parts:
        roots = ArchiveRoots.from_settings(settings)
        runner.register(FeedImportJobs(feeds, roots))
        if settings.cluster_address:  # archive files fanned out over the cluster's nodes
            from skynet.cluster.reindex import RayArchiveReader  # Ray only where a cluster is configured

            runner.register(ReindexJobs(store, lambda: RayArchiveReader(settings, archive_node), roots, auditor, clock))
        elif pool is not None:
            archive_pool = pool

            def make_reindexer() -> Reindexer:
                return reindexer(settings, catalog, writer, archive_pool, size)

            runner.register(ReindexJobs(store, make_reindexer, roots, auditor, clock))
        runner.register(ReembedJobs(catalog, lambda: _pack_analyzer(settings), matcher.invalidate))

    auth = Auth(
        store.users,
        clock,
        login_throttle=LoginThrottle(settings.login_max_failures, settings.login_window_s),
        token_throttle=TokenThrottle(settings.token_max_failures, settings.token_window_s),
        audit=store.audit.append,
    )
    photos = analyzer if analyzer is not None else (pool.analyze if pool is not None else None)
    searched = SearchedModelAnalyzer(settings, catalog, pool.analyze) if pool is not None else None
    links = MediaLinks(store.audit.derived_key(MEDIA_KEY_PURPOSE), store.users, clock, settings.media_link_ttl_s)
    sightings = SightingService(store, auditor, links)
    faces = FaceQueries(catalog, settings, photos, searched)
    search = SearchService(catalog, sightings, faces, auditor, SimilarityBands.from_settings(settings))
    trajectories = TrajectoryService(search, faces, store, auditor, settings.watchlist_min_similarity)
    system = System(
        settings=settings,
        role=role,
        catalog=catalog,
        clock=clock,
        auditor=auditor,
        hub=hub,
        writer=writer,
        matcher=matcher,
        webhooks=webhooks,
        mqtt=mqtt,
        messages=messages,
        camera_workers=camera_workers,
        pool=pool,
        camera_configs=cameras,
        only_cameras=only_cameras,
        follower=follower,
        runner=runner,
        sightings=sightings,
        faces=faces,
        search=search,
        analytics=AnalyticsService(store, search, auditor, settings),
        identities=IdentityService(store, sightings, auditor, clock),
        trajectories=trajectories,
        exports=ExportService(search, trajectories, faces, sightings, auditor, clock),
        watchlists=WatchlistService(catalog, faces, auditor, clock, matcher.invalidate, show_acknowledged),
        cameras=CameraService(store, auditor, policy, camera_workers),
        jobs=JobService(runner, auditor),
        users=UserService(store.users, auditor, clock, auth.accounts_changed),
        feeds=feeds,
        identity_keys=IdentityKeyService(store, sightings, auditor),
        browse=BrowseService(store, sightings, auditor),
        holds=EvidenceHoldService(store, auditor),
        auth=auth,
    )
    if Part.API in parts:  # imported only here: a camera node (a cluster's camera actor) starts without the API
        from skynet.api.app import create_app

        system.api = create_app(system, lifespan=system.lifespan)
    return system


def _index_shards(settings: Settings, catalog: Catalog) -> FaceSearcher:
    """An API node of a sharded cluster: the index shards placed (idempotent) and searched instead of a face
    index of its own (:mod:`skynet.cluster.sharded_index`; Ray imported only here)."""
    from skynet.cluster.placement import connect
    from skynet.cluster.sharded_index import ShardedFaceIndex, place_shards

    connect(settings)
    place_shards(settings)
    return ShardedFaceIndex(settings, catalog.store, catalog.face_model or catalog.live_model)


def _pack_analyzer(settings: Settings) -> ImageAnalyzer:
    """The configured pack's analyser, loaded for a re-embedding job (beside the cameras')."""
    from skynet.detectors.analyzer import ImageAnalyzer

    return ImageAnalyzer.from_settings(settings)
