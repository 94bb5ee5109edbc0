"""Pacing what reaches the detectors: an analysis-rate gate, a motion gate, a latest-frame slot, the clock
of live frames."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

import cv2
import numpy as np

T = TypeVar("T")
_TOLERANCE_S = 1e-3  # presentation times are rounded to the stream time base


class RateGate:
    """Passes at most ``fps`` frames per second of frame time (wall clock live, presentation time in archives)."""

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError("analysis rate must be above 0 fps")
        self.interval = 1.0 / fps
        self._next: float | None = None

    def due(self, timestamp: float) -> bool:
        """Whether the frame at ``timestamp`` should be analysed (and, if so, the next slot starts)."""
        if self._next is not None:
            early = timestamp < self._next - _TOLERANCE_S
            jumped_back = timestamp < self._next - self.interval - _TOLERANCE_S  # clock or stream reset
            if early and not jumped_back:
                return False
        if self._next is None or abs(timestamp - self._next) > self.interval:
            self._next = timestamp + self.interval  # first frame, or after a gap or jump: restart the grid
        else:
            self._next += self.interval
        return True


class LiveClock:
    """When the frames of a live stream were shown, and how far behind the stream its reader is.

    Stamping a live frame with the wall clock when it is read is right only while the reader keeps up:
    a reader starved of CPU falls behind (the server and the network buffer what it has not read yet)
    and would stamp frames seconds old as new. The stream's presentation times say how far apart its
    frames are, so the least (wall clock - presentation time) seen so far is the offset of a frame read
    on time: each frame is stamped with its presentation time plus that offset, and how much more the
    reader needed is :attr:`behind_s`. Until the presentation times advance (MJPEG and devices carry
    none) frames get the wall clock and the reader counts as on time. A camera's clock may run a little
    slow against the wall clock: a lag growing by less than ``drift`` (a share of the time passed) is
    taken for that and absorbed into the offset.
    """

    def __init__(self, drift: float = 0.002) -> None:
        self.drift = drift
        self.behind_s = 0.0
        self._offset: float | None = None
        self._last_position: float | None = None
        self._last_now = 0.0
        self._advancing = False

    def stamp(self, now: float, position: float) -> float:
        """The time of the frame at presentation time ``position`` (seconds), read at ``now`` (Unix time)."""
        if self._last_position is not None and position != self._last_position:
            self._advancing = True
        self._last_position = position
        if not self._advancing:
            return now
        offset = now - position
        if self._offset is None or offset < self._offset:
            self._offset = offset
        else:  # a clock drifting this slowly is no reader falling behind
            self._offset = min(offset, self._offset + self.drift * max(0.0, now - self._last_now))
        self._last_now = now
        self.behind_s = offset - self._offset
        return position + self._offset


class MotionGate:
    """Skips frames that barely differ from the last frame that was let through.

    Frames are compared as small blurred grey images (``width`` pixels wide): the fraction of
    pixels whose grey level changed by more than ``pixel_delta`` must reach ``min_changed``.
    A frame is let through anyway after ``max_static_s`` seconds, so still objects are seen
    now and then, and on the first frame or a change of resolution.
    """

    def __init__(
        self, min_changed: float = 0.002, pixel_delta: int = 12, width: int = 160, max_static_s: float = 1.0
    ) -> None:
        self.min_changed = min_changed
        self.pixel_delta = pixel_delta
        self.width = width
        self.max_static_s = max_static_s
        self._reference: np.ndarray | None = None
        self._reference_time = 0.0
        self._shape: tuple[int, ...] | None = None

    def moving(self, image: np.ndarray, timestamp: float) -> bool:
        """Whether ``image`` should be analysed; when it is, it becomes the new reference."""
        small = self._small(image)
        if (
            self._reference is None
            or image.shape != self._shape
            or small.shape != self._reference.shape
            or timestamp - self._reference_time >= self.max_static_s
            or self.changed_fraction(small, self._reference) >= self.min_changed
        ):
            self._reference, self._reference_time, self._shape = small, timestamp, image.shape
            return True
        return False

    def plan(self, image: np.ndarray, timestamp: float, tracked: object = ()) -> list | None:
        """The :class:`~skynet.ingest.regions.RegionPlanner` interface: ``None`` (analyse the
        whole frame) when it moved, ``[]`` (skip it) when static; ``tracked`` is not used."""
        return None if self.moving(image, timestamp) else []

    def changed_fraction(self, small: np.ndarray, reference: np.ndarray) -> float:
        diff = cv2.absdiff(small, reference)
        return float(np.count_nonzero(diff > self.pixel_delta)) / diff.size

    def _small(self, image: np.ndarray) -> np.ndarray:
        return motion_thumbnail(image, self.width)


def motion_thumbnail(image: np.ndarray, width: int) -> np.ndarray:
    """A ``width``-pixel wide blurred grey copy of ``image``: what frame differences compare.

    Large frames are first thinned to every ``step``-th pixel (about three per output pixel
    remain to be averaged) by a nearest-neighbour resize (OpenCV's, a quarter of the cost of
    numpy's strided copy): a twentieth of the cost of averaging a whole 1080p frame, with the
    same noise suppression once blurred."""
    rows, cols = image.shape[:2]
    height = max(1, round(rows * width / cols))
    step = max(1, cols // (3 * width))
    if step > 1:
        image = cv2.resize(image, (cols // step, max(1, rows // step)), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return cv2.GaussianBlur(grey, (5, 5), 0)


class LatestSlot(Generic[T]):
    """A hand-over of the newest ``depth`` items between a reader and an analyser thread.

    Live (``block=False``): a new item that finds ``depth`` items not yet taken replaces the oldest,
    which is counted in :attr:`dropped`, so latency stays bounded (``depth`` items) when analysis falls
    behind; a depth over one lets a burst (a whole-frame pass, a new crowd) be caught up on instead
    of dropped. Archive (``block=True``): :meth:`put` waits until there is room, so nothing is dropped.
    Items are taken oldest first.
    """

    def __init__(self, block: bool, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"a slot holds at least one item, not {depth}")
        self.block = block
        self.depth = depth
        self.dropped = 0
        self._items: deque[T] = deque()
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Offer ``item``; ``False`` if the slot was closed (or, blocking, still full after ``timeout``)."""
        with self._cond:
            if self.block and not self._cond.wait_for(lambda: not self._full() or self._closed, timeout):
                return False
            if self._closed:
                return False
            if self._full():
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def _full(self) -> bool:
        return len(self._items) >= self.depth

    def take(self, timeout: float | None = None) -> T | None:
        """The oldest waiting item, or ``None`` after ``timeout`` or once the slot is closed and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items will come; a waiting :meth:`take` returns what is left, then ``None``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed and not self._items
