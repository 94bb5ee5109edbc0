"""A set of running cameras: start them, read their statuses, stop them together."""

from __future__ import annotations

import time
from collections.abc import Iterable

from skynet.ingest.sources import SourceSpec
from skynet.ingest.status import CameraStatus
from skynet.ingest.worker import Analyze, CameraWorker, WorkerOptions
from skynet.tracking import SightingSink, TrackerOptions
from skynet.tracking.track import Embed, Read


class CameraSet:
    """One :class:`CameraWorker` per camera, sharing an analyser (pool) and a sink."""

    def __init__(
        self,
        analyze: Analyze,
        sink: SightingSink,
        options: WorkerOptions | None = None,
        tracker_options: TrackerOptions | None = None,
        embed: Embed | None = None,
        read: Read | None = None,
    ) -> None:
        self._analyze = analyze
        self._embed = embed
        self._read = read
        self._sink = sink
        self._options = options
        self._tracker_options = tracker_options
        self._workers: dict[str, CameraWorker] = {}

    def start(self, specs: Iterable[SourceSpec], options: WorkerOptions | None = None) -> CameraSet:
        """Start a worker for each spec (with ``options`` instead of the set's, when given);
        camera ids must be unique."""
        for spec in specs:
            if spec.camera_id in self._workers:
                raise ValueError(f"camera {spec.camera_id} is already running")
            worker = CameraWorker(
                spec,
                self._analyze,
                self._sink,
                options or self._options,
                self._tracker_options,
                self._embed,
                self._read,
            )
            self._workers[spec.camera_id] = worker.start()
        return self

    def statuses(self) -> list[CameraStatus]:
        """The status of every camera, in the order they were started."""
        return [worker.status() for worker in self._workers.values()]

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop every camera (open tracks are still published); ``True`` if all ended in time."""
        for worker in self._workers.values():
            worker.stop()
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every worker has ended (archive files end by themselves); ``True`` if all did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in self._workers.values():
            worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return all(not worker.running for worker in self._workers.values())
