"""One camera of a cluster, run in a Ray actor: the composition root's camera-node role for that camera alone.

Ray restarts the actor wherever its resources fit when its node dies, but Ray alone does not guarantee that the old
instance has stopped: a node cut off from the head (its raylet frozen, its network partitioned) keeps its workers
running while Ray starts the actor elsewhere (measured: benchmarks/bench_ray.py, docs/cluster.md). So an instance
runs its camera only while it holds the camera's lease in PostgreSQL (:mod:`skynet.store.leases`), and every write
of sightings renews the lease in its own transaction (the writer's *fence*): an instance whose lease expired or
passed on writes nothing. The lease is renewed every third of ``cluster_lease_s``; when it cannot be (the database
is away) the camera stops once the lease would have expired, and the instance waits to take it again. An instance
that finds its lease taken by another ends its process.

The actor is handed its parts: ``compose`` (the composition root's :func:`skynet.app.camera_node`, passed by the
placing process) builds them, so this package never imports the composition root.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

import ray

from skynet.config import Settings
from skynet.errors import SkynetError
from skynet.index.catalog import Catalog
from skynet.index.writer import CatalogWriter
from skynet.ingest.cameras import CameraSet
from skynet.store.errors import LeaseLostError
from skynet.store.leases import Lease

IMPORTED_AT = time.time()  # when this worker process had imported the camera's code (status()['timings'])

log = logging.getLogger(__name__)


class CameraState:
    """What a camera actor is doing (its ``status()['state']``)."""

    STARTING = "starting"  # loading the model pack
    WAITING = "waiting for lease"  # another instance holds the camera's lease (until it expires)
    RUNNING = "running"
    LEASE_EXPIRED = "lease expired"  # the database was away too long: camera stopped, waiting to take it again
    FAILED = "failed"  # could not start (see error); tried again


class CameraNode(Protocol):
    """The parts that run one camera (the composition root's camera-node role for it)."""

    catalog: Catalog
    writer: CatalogWriter
    camera_workers: CameraSet | None

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


ComposeCamera = Callable[[Settings, str, Callable[[], None]], CameraNode]
"""Builds the parts of a camera: (settings, camera id, the writer's fence) -> parts (:func:`skynet.app.camera_node`)."""


class CameraActor:
    """A camera's worker in a Ray actor (see the module docstring). Made a Ray actor class by
    :func:`skynet.cluster.placement.actor_class`; ``settings`` are the placing process's, as JSON; ``compose`` builds
    the camera's parts."""

    def __init__(self, camera_id: str, settings: dict[str, Any], compose: ComposeCamera) -> None:
        self.camera_id = camera_id
        self.settings = Settings.model_validate(settings)
        self.compose = compose
        self.instance = uuid.uuid4().hex
        self.node_id = ray.get_runtime_context().get_node_id()
        self.started = time.time()
        # when this instance's process started, had imported the code, built the parts, took the lease
        self.timings: dict[str, float | None] = {"process": _process_start(), "imported": IMPORTED_AT}
        self._cpu_mark = (time.monotonic(), time.process_time())
        self.state = CameraState.STARTING
        self.error: str | None = None
        self.lease: Lease | None = None
        self.system: CameraNode | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_once()
            except Exception as error:  # a bad source, a database away: shown in status, tried again
                self.state, self.error = CameraState.FAILED, str(error)
                log.exception("camera %s failed", self.camera_id)
            self._close()
            self._stop.wait(2.0)

    def _run_once(self) -> None:
        """Build the camera node's parts, take the lease, run the camera while the lease holds."""
        settings, ttl = self.settings, self.settings.cluster_lease_s
        self.state = CameraState.STARTING
        self.system = self.compose(settings, self.camera_id, self._fence)
        self.timings["built"] = time.time()
        leases = self.system.catalog.store.leases
        if self.camera_id not in {camera.id for camera in self.system.catalog.store.cameras.all()}:
            raise SkynetError(f"camera {self.camera_id!r} is not in the store")
        self.state = CameraState.WAITING
        while (lease := leases.acquire(self.camera_id, self.instance, self.node_id, ttl)) is None:
            if self._stop.wait(min(1.0, ttl / 5)):
                return
        self.lease, renewed = lease, time.monotonic()
        self.timings["leased"] = time.time()
        self.system.start()
        self.state, self.error = CameraState.RUNNING, None
        log.info("camera %s runs here (lease token %d)", self.camera_id, lease.token)
        while not self._stop.wait(ttl / 3):
            try:
                held = leases.renew(lease, ttl)
            except SkynetError as error:  # the database is away: the lease holds until it would expire
                self.error = str(error)
                if time.monotonic() - renewed > ttl:
                    self.state = CameraState.LEASE_EXPIRED
                    return
                continue
            if not held:
                self._lost()
            renewed, self.error = time.monotonic(), None

    def _fence(self) -> None:
        """Inside each write of sightings: renew the lease in the same transaction, or refuse the write."""
        lease = self.lease
        if (
            lease is None
            or self.system is None
            or not self.system.catalog.store.leases.renew(lease, self.settings.cluster_lease_s)
        ):
            threading.Thread(target=self._lost, daemon=True).start()
            raise LeaseLostError(f"camera {self.camera_id}: this instance no longer holds the camera's lease")

    def _lost(self) -> None:
        """Another instance took the camera: stop and end this process (Ray has a newer instance)."""
        log.error("camera %s: lease taken by another instance; this one ends", self.camera_id)
        self._stop.set()
        self._close()
        os._exit(0)

    def _close(self) -> None:
        """Stop the camera (open tracks stored) and release the parts; on a stop, give the lease up first."""
        system, self.system = self.system, None
        lease, self.lease = self.lease, None
        if system is None:
            return
        try:
            system.stop()
            if lease is not None and self._stop.is_set():
                system.catalog.store.leases.release(lease)
        except SkynetError as error:
            log.warning("camera %s: stopping: %s (its lease expires)", self.camera_id, error)
        finally:
            system.close()

    def status(self) -> dict[str, Any]:
        """Where and how the camera runs: node, instance, lease token, state, the worker's status, load."""
        system = self.system
        worker = system.camera_workers.status(self.camera_id) if system and system.camera_workers else None
        camera = None
        if worker is not None:
            camera = {k: v for k, v in asdict(worker).items() if k not in ("last_error", "source")}
            camera["state"] = worker.state.value
        return {
            "camera_id": self.camera_id,
            "node_id": self.node_id,
            "instance": self.instance,
            "pid": os.getpid(),
            "state": self.state,
            "error": self.error,
            "lease_token": self.lease.token if self.lease else None,
            "started": self.started,
            "timings": self.timings,
            "camera": camera,
            "stored": system.writer.stored if system else 0,
            "failed": system.writer.failed if system else 0,
            "cpu_percent": self._cpu_percent(),
            "rss_mb": round(_rss_bytes() / 2**20, 1),
        }

    def _cpu_percent(self) -> float:
        """This process's CPU use since the last status (100 = one core busy)."""
        now, used = time.monotonic(), time.process_time()
        last, self._cpu_mark = self._cpu_mark, (now, used)
        return round(100 * (used - last[1]) / max(now - last[0], 1e-6), 1)

    def stop(self) -> None:
        """Stop the camera (open tracks stored) and give the lease up."""
        self._stop.set()
        self._thread.join(60)


def _process_start() -> float | None:
    """When this process started (seconds since the epoch; Linux /proc), or None where that cannot be read."""
    try:
        ticks = int(open("/proc/self/stat").read().rpartition(")")[2].split()[19])
        boot = next(float(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _rss_bytes() -> int:
    """Resident memory of this process (Linux /proc)."""
    try:
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
