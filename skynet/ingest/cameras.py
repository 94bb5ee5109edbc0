"""The running cameras: started, restarted and stopped one by one or together, their statuses read."""

from __future__ import annotations

import threading
import time

from skynet.ingest.source_policy import SourcePolicy
from skynet.ingest.source_spec import SourceSpec
from skynet.ingest.status import CameraStatus
from skynet.ingest.worker import Analyze, CameraWorker, WorkerOptions
from skynet.records import Camera, Detections, Frame
from skynet.tracking.sink import SightingSink
from skynet.tracking.track import Embed, Read
from skynet.tracking.tracker import TrackerOptions

STOP_ONE_S = 10.0
"""How long stopping one camera waits for its worker to publish its open tracks and end."""


def camera_source(camera: Camera, policy: SourcePolicy | None = None) -> SourceSpec:
    """The source a stored camera is read from (checked against ``policy`` at every open): the one place a
    :class:`Camera` becomes a :class:`SourceSpec`."""
    return SourceSpec.live_camera(
        camera.id, camera.source_url, tls_verify=camera.tls_verify, tls_ca_file=camera.tls_ca_file, policy=policy
    )


class CameraSet:
    """One :class:`CameraWorker` per running camera, sharing an analyser (pool) and a sink (thread-safe).

    ``skynet serve`` starts, restarts and stops cameras as the API changes them; ``skynet run`` and the
    benchmarks start them together, read their statuses and stop them (or wait for archive files to end).
    Stored cameras are opened only as ``policy`` (the camera allow-list) allows.
    """

    def __init__(
        self,
        analyze: Analyze,
        sink: SightingSink,
        options: WorkerOptions | None = None,
        tracker_options: TrackerOptions | None = None,
        embed: Embed | None = None,
        read: Read | None = None,
        policy: SourcePolicy | None = None,
    ) -> None:
        self._analyze = analyze
        self._policy = policy
        self._sink = sink
        self._options = options
        self._tracker_options = tracker_options
        self._embed = embed
        self._read = read
        self._workers: dict[str, CameraWorker] = {}
        self._lock = threading.Lock()  # guards _workers
        self._changing = threading.RLock()  # one start or stop at a time, so a restart never leaves two workers

    def start(self, spec: SourceSpec, options: WorkerOptions | None = None) -> None:
        """Start a worker reading ``spec`` (with ``options`` instead of the set's, when given); a camera
        that already runs is restarted (its URL or settings changed)."""
        with self._changing:
            self.stop_camera(spec.camera_id)
            worker = CameraWorker(
                spec,
                self._analyze,
                self._sink,
                options or self._options,
                self._tracker_options,
                self._embed,
                self._read,
            )
            with self._lock:
                self._workers[spec.camera_id] = worker.start()

    def start_camera(self, camera: Camera) -> None:
        """Start (or restart) the worker of a stored camera."""
        self.start(camera_source(camera, self._policy))

    def stop_camera(self, camera_id: str) -> None:
        """Stop the camera's worker (its open tracks are still published); no-op when it does not run."""
        with self._changing:
            with self._lock:
                worker = self._workers.pop(camera_id, None)
            if worker is not None:
                worker.stop()
                worker.join(STOP_ONE_S)

    def status(self, camera_id: str) -> CameraStatus | None:
        """The camera's status, or None when it has no running worker."""
        with self._lock:
            worker = self._workers.get(camera_id)
        return worker.status() if worker is not None else None

    def last_analysed(self, camera_id: str) -> tuple[Frame, Detections] | None:
        """The camera's latest analysed frame and its detections, or None."""
        with self._lock:
            worker = self._workers.get(camera_id)
        return worker.last_analysed() if worker is not None else None

    def statuses(self) -> list[CameraStatus]:
        """The status of every camera, in the order they were started."""
        return [worker.status() for worker in self._running()]

    def stop_all(self, timeout: float | None = 30.0) -> bool:
        """Stop every camera (open tracks are still published); ``True`` if all ended in time."""
        for worker in self._running():
            worker.stop()
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every worker has ended (archive files end by themselves); ``True`` if all did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        workers = self._running()
        for worker in workers:
            worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return all(not worker.running for worker in workers)

    def _running(self) -> list[CameraWorker]:
        with self._lock:
            return list(self._workers.values())
