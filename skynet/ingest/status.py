"""Per-camera status (state, rates, counters, last error), updated by the worker, read by anyone."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

SOURCE_PROBLEM = (
    "cannot read the camera: check its address, its credentials and the allowed camera sources "
    "(an admin sees the details)"
)
PROCESSING_PROBLEM = "analysing the camera's frames failed (an admin sees the details)"


class CameraState(StrEnum):
    CONNECTING = "connecting"  # first open in progress
    ONLINE = "online"  # frames arriving
    STALLED = "stalled"  # online, but no frame for longer than the stall timeout
    RECONNECTING = "reconnecting"  # lost the stream; reopening
    OFFLINE = "offline"  # the last open failed; waiting to retry (back-off)
    FINISHED = "finished"  # an archive file was read to its end
    FAILED = "failed"  # an archive file could not be read (archives are not retried)
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A snapshot of one camera; ``source`` is redacted, ``last_error`` is credential-free.

    ``last_error`` is the diagnosis (what answered, how it failed: for admins, the log and the console of
    ``skynet run``), kept out of ``repr`` and so out of live events; ``problem`` is what anyone may see:
    one sentence per kind of failure that tells nothing about the network (no port scanner).
    """

    camera_id: str
    source: str
    state: CameraState
    input_fps: float
    analysed_fps: float
    last_frame_time: float | None
    reconnects: int
    last_error: str | None = field(repr=False)
    problem: str | None
    frames_read: int
    frames_analysed: int
    frames_static: int
    frames_dropped: int
    sightings: int


class RateMeter:
    """Events per second over a sliding window of ``window_s`` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._since: float | None = None

    def add(self, now: float) -> None:
        if self._since is None:
            self._since = now
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        """Events per second; over the time since the first event while that is under the window."""
        self._trim(now)
        if self._since is None:
            return 0.0
        return len(self._times) / max(1.0, min(self.window_s, now - self._since))

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()


class StatusBoard:
    """The mutable, lock-protected status of one camera."""

    def __init__(self, camera_id: str, source: str, stall_timeout_s: float) -> None:
        self._lock = threading.Lock()
        self._camera_id = camera_id
        self._source = source
        self._stall_timeout_s = stall_timeout_s
        self._state = CameraState.CONNECTING
        self._input = RateMeter()
        self._analysed = RateMeter()
        self._last_frame_time: float | None = None
        self._last_frame_mono: float | None = None
        self._reconnects = 0
        self._last_error: str | None = None
        self._problem: str | None = None
        self._counts = {"read": 0, "analysed": 0, "static": 0, "dropped": 0, "sightings": 0}

    def set_state(self, state: CameraState, error: str | None = None) -> None:
        with self._lock:
            if state is CameraState.RECONNECTING and self._state is CameraState.ONLINE:
                self._reconnects += 1
            self._state = state
            if error is not None:
                self._last_error, self._problem = error, SOURCE_PROBLEM

    def record_error(self, error: str) -> None:
        """Keep ``error`` (already redacted) as the last error without changing the state."""
        with self._lock:
            self._last_error, self._problem = error, PROCESSING_PROBLEM

    def frame_read(self, timestamp: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._counts["read"] += 1
            self._input.add(now)
            self._last_frame_time = timestamp
            self._last_frame_mono = now
            if self._state is not CameraState.ONLINE:
                self._state = CameraState.ONLINE

    def frame_analysed(self) -> None:
        with self._lock:
            self._counts["analysed"] += 1
            self._analysed.add(time.monotonic())

    def count(self, what: str, n: int = 1) -> None:
        """Add ``n`` to counter ``what``: ``static``, ``dropped`` or ``sightings``."""
        with self._lock:
            self._counts[what] += n

    def snapshot(self) -> CameraStatus:
        now = time.monotonic()
        with self._lock:
            state = self._state
            if (
                state is CameraState.ONLINE
                and self._last_frame_mono is not None
                and now - self._last_frame_mono > self._stall_timeout_s
            ):
                state = CameraState.STALLED
            return CameraStatus(
                camera_id=self._camera_id,
                source=self._source,
                state=state,
                input_fps=self._input.rate(now),
                analysed_fps=self._analysed.rate(now),
                last_frame_time=self._last_frame_time,
                reconnects=self._reconnects,
                last_error=self._last_error,
                problem=self._problem,
                frames_read=self._counts["read"],
                frames_analysed=self._counts["analysed"],
                frames_static=self._counts["static"],
                frames_dropped=self._counts["dropped"],
                sightings=self._counts["sightings"],
            )
