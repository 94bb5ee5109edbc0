"""Batching across cameras: the frames several camera threads send at about the same time are
analysed together, each detector running once over all of them.

A GPU runs a batch of eight frames in little more time than one, so with many cameras the
detectors keep up with more frames per second; on a CPU a batch costs about as much as its frames
one by one, so batching is off by default (``batch_size`` 1). No thread of its own: the first
frame of a batch is its leader, which waits up to ``max_wait_ms`` (or until ``max_batch`` frames
joined), borrows an analyser of the pool, runs the batch and hands every caller its result. While
all analysers are busy the batch stays open, so batches grow with the load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from skynet.config import Settings
from skynet.detectors.pool import Analyzer, AnalyzerPool
from skynet.errors import SkynetError
from skynet.records import Box, Detections

log = logging.getLogger(__name__)


class BatchAnalyzer(Analyzer, Protocol):
    """An analyser that also analyses several images at once (:class:`ImageAnalyzer`)."""

    def analyze_batch(
        self,
        images: Sequence[np.ndarray],
        regions: Sequence[Sequence[Box] | None] | None = None,
        *,
        embed: bool = True,
        read: bool = True,
        camera: bool = False,
    ) -> list[Detections]: ...


@dataclass
class _Request:
    image: np.ndarray
    regions: Sequence[Box] | None
    result: Future[Detections] = field(default_factory=Future)


@dataclass
class _Batch:
    requests: list[_Request] = field(default_factory=list)
    sealed: threading.Event = field(default_factory=threading.Event)  # full, or the front closed


class BatchingAnalyzer(AnalyzerPool[BatchAnalyzer]):
    """An :class:`AnalyzerPool` whose camera calls (``pool(image, regions)``) are analysed in batches
    of up to ``max_batch`` frames (see :meth:`ImageAnalyzer.analyze_batch`), with the same results as
    one by one. A failing batch is run again frame by frame, so an error reaches only the caller
    whose frame caused it. Uploads (:meth:`analyze`), :meth:`read` and :meth:`embed` are not batched.
    """

    def __init__(
        self,
        analyzers: list[BatchAnalyzer],
        lazy_embedding: bool = False,
        lazy_reading: bool = False,
        *,
        max_batch: int = 8,
        max_wait_ms: float = 10.0,
    ) -> None:
        super().__init__(analyzers, lazy_embedding, lazy_reading)
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0 (got {max_batch}, {max_wait_ms})")
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self._lock = threading.Lock()
        self._forming: _Batch | None = None
        self._closed = False

    def __call__(self, image: np.ndarray, regions: Sequence[Box] | None = None) -> Detections:
        """Analyse a camera frame (or its ``regions``) in a batch with other cameras' frames."""
        request = _Request(image, regions)
        leads = False
        with self._lock:
            if self._closed:
                batch = None
            else:
                batch = self._forming
                leads = batch is None
                if batch is None:
                    batch = self._forming = _Batch()
                batch.requests.append(request)
                if len(batch.requests) >= self.max_batch:
                    self._seal(batch)
        if batch is None:
            return super().__call__(image, regions)
        if leads:
            self._lead(batch)
        return request.result.result()

    def close(self) -> None:
        """Stop batching: a forming batch runs at once and later calls run one by one (nothing waits)."""
        with self._lock:
            self._closed = True
            if self._forming is not None:
                self._seal(self._forming)

    def _seal(self, batch: _Batch) -> None:
        """No more requests join ``batch`` (called with the lock held)."""
        if self._forming is batch:
            self._forming = None
        batch.sealed.set()

    def _lead(self, batch: _Batch) -> None:
        batch.sealed.wait(self.max_wait_s)
        try:
            with self._lend() as analyzer:
                with self._lock:
                    self._seal(batch)  # from here on the batch's requests do not change
                self._run(analyzer, batch.requests)
        finally:  # whatever happened, no caller waits for ever
            with self._lock:
                self._seal(batch)
            for request in batch.requests:
                if not request.result.done():
                    request.result.set_exception(SkynetError("the analysis of this frame was interrupted"))

    def _run(self, analyzer: BatchAnalyzer, requests: list[_Request]) -> None:
        options = {"embed": not self.lazy_embedding, "read": not self.lazy_reading, "camera": True}
        try:
            results = analyzer.analyze_batch([r.image for r in requests], [r.regions for r in requests], **options)
        except Exception:
            log.debug("a batch of %d frames failed; analysing them one by one", len(requests), exc_info=True)
        else:
            for request, result in zip(requests, results, strict=True):
                request.result.set_result(result)
            return
        for request in requests:
            try:
                request.result.set_result(analyzer.analyze(request.image, regions=request.regions, **options))
            except Exception as exc:  # noqa: BLE001 (this frame's own error, raised to its caller only)
                request.result.set_exception(exc)


def camera_pool(
    settings: Settings, size: int, lazy_embedding: bool = False, lazy_reading: bool = False
) -> AnalyzerPool:
    """The ``size`` analysers of the configured pack that camera workers share: batching across
    cameras when ``settings.batch_size`` > 1, else a plain :class:`AnalyzerPool`."""
    if settings.batch_size <= 1:
        return AnalyzerPool.from_settings(settings, size, lazy_embedding, lazy_reading)
    return BatchingAnalyzer.from_settings(
        settings, size, lazy_embedding, lazy_reading, max_batch=settings.batch_size, max_wait_ms=settings.batch_wait_ms
    )
