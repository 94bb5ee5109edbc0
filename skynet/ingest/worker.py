"""One camera: read, pace, analyse, track, publish, and keep the stream alive (watchdog).

Threads, not processes: OpenCV's FFmpeg decode and onnxruntime release the GIL for their
heavy work, so threads of one process use the cores while sharing one copy of the models,
one sink and the status without pickling frames between processes. Each camera has two
threads: a reader that drains the stream at its own rate (so a live stream never backs up)
and an analyser behind a :class:`~skynet.ingest.pacing.LatestSlot` of a frame or two (live:
``live_backlog``), so a slow analyser drops (and counts) the oldest frames instead of queueing
them. A reader that cannot keep up with a live stream itself (starved of CPU) reconnects once it
is ``max_live_lag_s`` behind, so it goes on from the newest frame instead of working through
seconds-old ones.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from skynet.config import Settings
from skynet.ingest.pacing import LatestSlot, MotionGate, RateGate
from skynet.ingest.regions import RegionOptions, RegionPlanner
from skynet.ingest.settled_regions import unlooked_regions
from skynet.ingest.source_spec import SourceSpec
from skynet.ingest.sources import SourceError, VideoSource, open_source
from skynet.ingest.status import CameraState, CameraStatus, StatusBoard
from skynet.records import Box, Detections, Frame
from skynet.tracking.face_gate import FaceGate
from skynet.tracking.sink import SightingSink
from skynet.tracking.track import Embed, Read
from skynet.tracking.tracker import ArchiveClock, CameraTracker, Published, TrackerOptions

log = logging.getLogger(__name__)


class Analyze(Protocol):
    """Analyses a frame, or only ``regions`` of it (boxes in image pixels) when they are given."""

    def __call__(self, image: np.ndarray, regions: Sequence[Box] | None = None) -> Detections: ...


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """Pacing and reconnection. The stall timeout is the source's ``read_timeout_s``.

    ``live_backlog``: a live camera's analyser may fall this many due frames behind (a burst of work, e.g. a
    whole-frame pass) and catch up before the oldest waiting frame is dropped; latency is bounded by it.
    ``motion_gate`` skips static frames; with ``regions`` set it also limits detection to the
    regions that moved or hold a live track (:mod:`skynet.ingest.regions`), else every frame
    that moved is analysed whole. ``faces`` decides which face tracks become sightings.
    """

    analysis_fps: float = 5.0
    motion_gate: bool = True
    regions: RegionOptions | None = field(default_factory=RegionOptions)
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    idle_check_s: float = 0.5  # how often the analyser finishes tracks while no frame comes
    max_live_lag_s: float = 2.0  # a live reader this far behind its stream reconnects to the newest frame
    live_backlog: int = 2  # due frames a live camera's analyser may fall behind before the oldest is dropped
    faces: FaceGate = field(default_factory=FaceGate)

    @classmethod
    def from_settings(cls, settings: Settings, analysis_fps: float | None = None) -> WorkerOptions:
        """The configured region detection (``SKYNET_REGION_DETECTION``, ``SKYNET_FULL_FRAME_EVERY_S``,
        ``SKYNET_REGION_FINE_EVERY``, ``SKYNET_REGION_SETTLED_EVERY``)
        and face gates (``SKYNET_FACE_MIN_*``), at ``analysis_fps`` (default 5)."""
        fine_every = settings.region_fine_every if settings.region_fine_scale else 1
        regions = (
            RegionOptions(
                full_frame_every_s=settings.full_frame_every_s,
                fine_every=fine_every,
                settled_every=settings.region_settled_every,
            )
            if settings.region_detection
            else None
        )
        options = cls(regions=regions, faces=FaceGate.from_settings(settings))
        return options if analysis_fps is None else dataclasses.replace(options, analysis_fps=analysis_fps)


LIVE_FIRST_SIGHTING_S = 0.2
"""Live cameras publish a track's first sighting after it has been seen this long (then the rest
of the pass when it ends), so watch-list alerts come while the object is still in view."""


class CameraWorker:
    """Runs one camera (live stream or archive file) until stopped or, for a file, its end."""

    def __init__(
        self,
        spec: SourceSpec,
        analyze: Analyze,
        sink: SightingSink,
        options: WorkerOptions | None = None,
        tracker_options: TrackerOptions | None = None,
        embed: Embed | None = None,
        read: Read | None = None,
    ) -> None:
        """``embed`` embeds the best faces of each finished track when ``analyze`` leaves faces
        without embeddings, ``read`` reads plates as each track needs when ``analyze`` leaves
        them unread (:class:`~skynet.detectors.pool.AnalyzerPool` with lazy embedding / reading)."""
        self.spec = spec
        self.options = options or WorkerOptions()
        self._analyze = analyze
        self._sink = sink
        archive = None if spec.live else ArchiveClock(spec.url, spec.start_time or 0.0)
        tracking = tracker_options or TrackerOptions(
            analysis_fps=self.options.analysis_fps,
            first_segment_s=LIVE_FIRST_SIGHTING_S if spec.live else None,
            faces=self.options.faces,
        )
        # Sightings (and the embeddings of their faces, ~80 ms each) are made on a thread of their
        # own, in order, so a finished track never holds up the analysis of the next frames.
        self._finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sightings-{spec.camera_id}")
        self._tracker = CameraTracker(spec.camera_id, tracking, archive, embed, read, defer=self._defer)
        self._board = StatusBoard(spec.camera_id, spec.redacted, spec.read_timeout_s)
        self._slot: LatestSlot[Frame] = LatestSlot(
            block=not spec.live, depth=self.options.live_backlog if spec.live else 1
        )
        self._stop = threading.Event()
        self._latest_timestamp: float | None = None
        self._last_analysed: tuple[Frame, Detections] | None = None
        self._threads = [
            threading.Thread(target=self._read_loop, name=f"read-{spec.camera_id}", daemon=True),
            threading.Thread(target=self._analyse_loop, name=f"analyse-{spec.camera_id}", daemon=True),
        ]

    def start(self) -> CameraWorker:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Ask both threads to finish; open tracks are still published. Returns at once."""
        self._stop.set()
        self._slot.close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end; ``True`` if it did within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.running

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def status(self) -> CameraStatus:
        """A consistent snapshot of this camera's status (safe from any thread)."""
        return dataclasses.replace(self._board.snapshot(), frames_dropped=self._slot.dropped)

    def last_analysed(self) -> tuple[Frame, Detections] | None:
        """The latest analysed frame and what was found in it (for snapshots and previews)."""
        return self._last_analysed

    # --- reader thread -------------------------------------------------------------------

    def _read_loop(self) -> None:
        backoff = self.options.backoff_initial_s
        try:
            while not self._stop.is_set():
                try:
                    source = open_source(self.spec)
                except Exception as exc:  # SourceError, or anything else: a live camera retries for ever
                    error = exc.message if isinstance(exc, SourceError) else f"cannot open: {exc!r}"
                    if not self._retry_after(error, backoff):
                        return
                    backoff = min(backoff * 2, self.options.backoff_max_s)
                    continue
                try:
                    delivered, reason = self._read_frames(source)
                except Exception as exc:  # a bug must not end a live camera for good
                    log.exception("camera %s: reading failed", self.spec.camera_id)
                    delivered, reason = 0, f"reading failed: {exc!r}"
                finally:
                    source.close()
                if not self.spec.live:
                    self._end_archive(source, delivered, reason)
                    return
                if self._stop.is_set():
                    return
                if delivered:
                    backoff = self.options.backoff_initial_s
                self._set_state(CameraState.RECONNECTING, reason)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, self.options.backoff_max_s)
        finally:
            self._slot.close()
            if self._stop.is_set():
                self._board.set_state(CameraState.STOPPED)

    def _retry_after(self, error: str, backoff: float) -> bool:
        """An open failed: archives give up; live cameras wait ``backoff`` and go on (unless stopped)."""
        if not self.spec.live:
            self._set_state(CameraState.FAILED, error)
            return False
        self._set_state(CameraState.OFFLINE, f"{error} (retrying in {backoff:g} s)")
        if self._stop.wait(backoff):
            return False
        self._set_state(CameraState.RECONNECTING)
        return True

    def _read_frames(self, source: VideoSource) -> tuple[int, str]:
        """Read until the stream fails, stalls or ends; returns frames delivered and why it stopped."""
        stall_s = self.spec.read_timeout_s
        rate = RateGate(self.options.analysis_fps)
        delivered = 0
        last_position, advancing = -1.0, False
        last_progress = last_image = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                timestamp = source.grab()
            except cv2.error as exc:
                return delivered, self.spec.redact(f"decoder error: {exc}")
            now = time.monotonic()
            if timestamp is None:
                return delivered, "the stream ended or the connection was lost"
            if now - started > stall_s:
                return delivered, f"stalled: a read took {now - started:.1f} s"
            if self.spec.live and source.behind_s > self.options.max_live_lag_s:
                return delivered, (
                    f"the reader fell {source.behind_s:.1f} s behind the stream: reconnecting to its newest frame"
                )
            position = source.position_s
            if position != last_position:
                advancing = last_position >= 0.0  # some streams (MJPEG, devices) carry no times
                last_position, last_progress = position, now
            elif advancing and now - last_progress > stall_s:
                return delivered, f"stalled: the same frame again for {now - last_progress:.1f} s"
            delivered += 1
            self._board.frame_read(timestamp)
            self._latest_timestamp = timestamp
            if not rate.due(timestamp):
                continue
            image = source.retrieve()
            if image is None:
                if now - last_image > stall_s:  # e.g. a decoder opened without the stream's parameters
                    return delivered, f"frames arrive but cannot be decoded (for {now - last_image:.1f} s)"
                continue
            last_image = now
            frame = Frame(image=image, camera_id=self.spec.camera_id, timestamp=timestamp, index=delivered - 1)
            while not self._slot.put(frame, timeout=0.5):
                if self._stop.is_set():
                    break
        return delivered, "stopped"

    def _motion_gate(self) -> MotionGate | RegionPlanner | None:
        if not self.options.motion_gate:
            return None
        return MotionGate() if self.options.regions is None else RegionPlanner(self.options.regions)

    def _end_archive(self, source: VideoSource, delivered: int, reason: str) -> None:
        """An archive's reader ended: FINISHED if the whole file was read, else FAILED with why."""
        if self._stop.is_set():
            return
        failure = None
        reached = (self._latest_timestamp or 0.0) - (self.spec.start_time or 0.0)
        if reason.startswith(("decoder error", "reading failed")):
            failure = reason
        elif delivered == 0:
            failure = "no decodable video frame."
        elif source.duration_s is not None and reached < source.duration_s - 1.0:
            failure = f"decoding stopped at {reached:.1f} s of {source.duration_s:.1f} s (truncated or damaged file)."
        if failure is None:
            self._set_state(CameraState.FINISHED)
        else:
            self._set_state(CameraState.FAILED, f"archive file {self.spec.url}: {failure}")

    def _set_state(self, state: CameraState, error: str | None = None) -> None:
        safe = self.spec.redact(error) if error else None
        if safe:
            log.warning(
                "camera %s: %s: %s",
                self.spec.camera_id,
                state.value,
                safe.removeprefix(f"camera {self.spec.camera_id}: "),
            )
        self._board.set_state(state, safe)

    # --- analyser thread -----------------------------------------------------------------

    def _analyse_loop(self) -> None:
        # The motion gate runs here, not in the reader: regions include the live tracks as of the
        # previous analysed frame, so archives are analysed the same way however threads interleave.
        gate = self._motion_gate()
        while True:
            frame = self._slot.take(timeout=self.options.idle_check_s)
            if frame is None:
                if self._slot.closed:
                    break
                # Live: the wall clock goes on while a camera is down; archives: presentation time.
                now = time.time() if self.spec.live else self._latest_timestamp
                if now is not None:
                    self._publish(self._tracker.idle(now))
                continue
            regions = None if gate is None else gate.plan(frame.image, frame.timestamp, self._tracker.live_boxes())
            if regions == []:  # nothing moved and nothing is tracked
                self._board.count("static")
                self._publish(self._tracker.idle(frame.timestamp))
                continue
            unlooked = unlooked_regions(regions)
            try:
                detections = self._analysis(frame, regions, unlooked)
            except Exception as exc:  # a failing model must not end the camera
                log.exception("camera %s: analysis failed", self.spec.camera_id)
                self._board.record_error(self.spec.redact(f"analysis failed: {exc}"))
                continue
            self._board.frame_analysed()
            self._last_analysed = (frame, detections)  # one reference swap: safe to read from any thread
            self._publish(self._tracker.update(detections, frame.timestamp, frame.image, unlooked))
        self._publish(self._tracker.flush())
        self._finisher.shutdown(wait=True)  # every sighting is out before the worker ends

    def _analysis(self, frame: Frame, regions: list[Box] | None, unlooked: list[Box]) -> Detections:
        """What the detectors find in ``frame`` (whole, or its ``regions``); nothing when every region is
        ``unlooked`` (its live tracks coast)."""
        if regions is None:
            return self._analyze(frame.image)
        if len(unlooked) == len(regions):
            height, width = frame.image.shape[:2]
            return Detections(width, height)
        return self._analyze(frame.image, regions)

    def _defer(self, make: Callable[[], list[Published]]) -> list[Published]:
        self._finisher.submit(self._make_and_publish, make)
        return []

    def _make_and_publish(self, make: Callable[[], list[Published]]) -> None:
        try:
            published = make()
        except Exception as exc:  # e.g. the embedder failing must not end the camera
            log.exception("camera %s: making sightings failed", self.spec.camera_id)
            self._board.record_error(self.spec.redact(f"making sightings failed: {exc}"))
            return
        self._publish(published)

    def _publish(self, published: list[Published]) -> None:
        for sighting, thumbnail, context in published:
            try:
                self._sink.publish(sighting, thumbnail, context)
            except Exception as exc:  # the store failing must not end the camera
                log.exception("camera %s: publishing a sighting failed", self.spec.camera_id)
                self._board.record_error(self.spec.redact(f"publishing failed: {exc}"))
                continue
            self._board.count("sightings")
