"""The sink camera workers publish to: JPEG-encodes the images and stores sightings in batches."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from skynet.index.catalog import Catalog
from skynet.records import Sighting
from skynet.store.errors import InvalidSightingError, LeaseLostError, StoreError
from skynet.store.sighting_writes import SightingMedia

log = logging.getLogger(__name__)

JPEG_QUALITY = 90
Listener = Callable[[list[Sighting]], object]  # what a listener returns is not used


@dataclass(frozen=True, slots=True)
class _Pending:
    sighting: Sighting
    media: SightingMedia


def encode_jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes of a BGR uint8 image."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("image could not be JPEG-encoded")
    return data.tobytes()


class CatalogWriter:
    """A thread-safe :class:`~skynet.tracking.SightingSink` writing to a :class:`Catalog`.

    ``publish`` encodes the JPEGs in the caller's thread and queues the sighting; one writer
    thread stores what has queued up in one transaction (up to ``batch_size``), then tells the
    listeners (watch-list matching, live feed) about the stored sightings, ids filled in. The
    queue is bounded: publishers wait when the store falls behind instead of using memory
    without limit. A failed batch is logged and counted; the camera workers carry on.

    ``retry_s``: how long a batch is retried (with growing pauses) while the database fails (it went away, or
    a commit went unanswered); the retry cannot duplicate (live sightings are stored once under their
    idempotency key, alerts once per entry and sighting). ``fence``: called inside each write's transaction
    before the sightings are stored; it raises :class:`LeaseLostError` (nothing of the batch is kept, nothing
    retried) when this process may no longer write (skynet.cluster: a camera's lease).
    """

    def __init__(
        self,
        catalog: Catalog,
        batch_size: int = 256,
        queue_size: int = 2048,
        *,
        retry_s: float = 0.0,
        fence: Callable[[], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.batch_size = batch_size
        self.retry_s = retry_s
        self.fence = fence
        self.stored = 0
        self.failed = 0
        self.last_error: str | None = None
        self._listeners: list[Listener] = []
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=queue_size)
        self._idle = threading.Condition()
        self._in_flight = 0
        self._thread = threading.Thread(target=self._run, name="catalog-writer", daemon=True)
        self._thread.start()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(stored_sightings)`` after each stored batch (in the writer thread)."""
        self._listeners.append(listener)

    def publish(self, sighting: Sighting, thumbnail: np.ndarray, context: np.ndarray) -> None:
        media = SightingMedia(thumbnail=encode_jpeg(thumbnail), context=encode_jpeg(context))
        with self._idle:
            self._in_flight += 1
        self._queue.put(_Pending(sighting, media))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published so far is stored (or failed); ``True`` if it was in time."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Store what is queued, then stop the writer thread (the catalog stays open)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._store(batch)
                    return
                batch.append(item)
            self._store(batch)

    def _store(self, batch: list[_Pending]) -> None:
        try:
            ids = self._write(batch)
        except Exception as error:  # a full disk or a bad record must not stop the cameras
            self.failed += len(batch)
            self.last_error = str(error)
            log.error("storing %d sighting(s) failed: %s", len(batch), error)
        else:
            self.stored += len(ids)
            stored = [replace(p.sighting, id=i) for p, i in zip(batch, ids, strict=False)]
            for listener in self._listeners:
                try:
                    listener(stored)
                except Exception:  # one faulty listener must not lose the others' events
                    log.exception("sighting listener failed")
        finally:
            with self._idle:
                self._in_flight -= len(batch)
                self._idle.notify_all()

    def _write(self, batch: list[_Pending]) -> list[int]:
        """Store ``batch`` (fenced), retried for up to ``retry_s`` while the database fails; returns the ids."""
        sightings, media = [p.sighting for p in batch], [p.media for p in batch]
        deadline, pause = time.monotonic() + self.retry_s, 0.1
        while True:
            try:
                if self.fence is None:
                    return self.catalog.add_sightings(sightings, media)
                with self.catalog.store.db.write("storing sightings"):
                    self.fence()
                    return self.catalog.add_sightings(sightings, media)
            except (InvalidSightingError, LeaseLostError):
                raise
            except StoreError as error:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("storing %d sighting(s) failed, retrying in %.1f s: %s", len(batch), pause, error)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
