"""The live cameras of a running service: started, restarted and stopped one by one."""

from __future__ import annotations

import threading

from skynet.ingest.sources import SourceSpec
from skynet.ingest.status import CameraStatus
from skynet.ingest.worker import Analyze, CameraWorker, WorkerOptions
from skynet.records import Camera, Detections, Frame
from skynet.tracking import SightingSink
from skynet.tracking.track import Embed, Read


class CameraManager:
    """One :class:`CameraWorker` per running camera, sharing an analyser pool and a sink (thread-safe)."""

    def __init__(
        self,
        analyze: Analyze,
        sink: SightingSink,
        embed: Embed | None = None,
        options: WorkerOptions | None = None,
        read: Read | None = None,
    ) -> None:
        self._analyze = analyze
        self._sink = sink
        self._embed = embed
        self._read = read
        self._options = options or WorkerOptions()
        self._workers: dict[str, CameraWorker] = {}
        self._lock = threading.Lock()

    def start_camera(self, camera: Camera) -> None:
        """Start the camera's worker, restarting it when it already runs (e.g. its URL changed)."""
        self.stop_camera(camera.id)
        worker = CameraWorker(
            SourceSpec.live_camera(
                camera.id, camera.source_url, tls_verify=camera.tls_verify, tls_ca_file=camera.tls_ca_file
            ),
            self._analyze,
            self._sink,
            self._options,
            embed=self._embed,
            read=self._read,
        )
        with self._lock:
            self._workers[camera.id] = worker.start()

    def stop_camera(self, camera_id: str) -> None:
        """Stop the camera's worker (its open tracks are still published); no-op when not running."""
        with self._lock:
            worker = self._workers.pop(camera_id, None)
        if worker is not None:
            worker.stop()
            worker.join(10.0)

    def status(self, camera_id: str) -> CameraStatus | None:
        with self._lock:
            worker = self._workers.get(camera_id)
        return worker.status() if worker is not None else None

    def last_analysed(self, camera_id: str) -> tuple[Frame, Detections] | None:
        """The camera's latest analysed frame and its detections, or None."""
        with self._lock:
            worker = self._workers.get(camera_id)
        return worker.last_analysed() if worker is not None else None

    def statuses(self) -> list[CameraStatus]:
        with self._lock:
            workers = list(self._workers.values())
        return [w.status() for w in workers]

    def stop_all(self) -> None:
        with self._lock:
            ids = list(self._workers)
        for camera_id in ids:
            self.stop_camera(camera_id)
