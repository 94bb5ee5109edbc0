"""Sharing analysers between camera threads: each analyser serves one frame at a time."""

from __future__ import annotations

import queue
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, Protocol, Self, TypeVar, cast

import numpy as np

from skynet.config import Settings
from skynet.records import Box, Detections, FaceDetection, PlateDetection


class Analyzer(Protocol):
    def analyze(
        self,
        image: np.ndarray,
        *,
        embed: bool = True,
        regions: Sequence[Box] | None = None,
        read: bool = True,
        camera: bool = False,
    ) -> Detections: ...

    def read_plates(self, image: np.ndarray, plates: list[PlateDetection]) -> list[PlateDetection]: ...

    def embed_each(self, faces: Sequence[tuple[np.ndarray, FaceDetection]]) -> list[FaceDetection]: ...


A = TypeVar("A", bound=Analyzer)


class AnalyzerPool(Generic[A]):
    """A callable ``image -> Detections`` that lends one of its analysers to each call.

    Model back-ends are not all safe to call from two threads at once (dlib's networks keep
    per-call buffers), so an analyser is never used by two threads together; with ``n``
    analysers, ``n`` frames (of any cameras) are analysed in parallel and other callers wait.

    With ``lazy_embedding`` frames are analysed without face embeddings and the trackers call
    :meth:`embed` for the few best faces of each finished track instead, in one batch (about 3 ms
    per face on one core, alignment included), so pass ``embed`` to the camera workers.
    Likewise ``lazy_reading`` leaves plates unread and the trackers call :meth:`read` only until
    each track has enough good reads (about 25 ms per plate), so pass ``read`` too.
    """

    def __init__(self, analyzers: list[A], lazy_embedding: bool = False, lazy_reading: bool = False) -> None:
        if not analyzers:
            raise ValueError("an analyser pool needs at least one analyser")
        self.size = len(analyzers)
        self.lazy_embedding = lazy_embedding
        self.lazy_reading = lazy_reading
        self._free: queue.Queue[A] = queue.Queue()
        for analyzer in analyzers:
            self._free.put(analyzer)

    @classmethod
    def from_settings(
        cls, settings: Settings, size: int = 1, lazy_embedding: bool = False, lazy_reading: bool = False, **options
    ) -> Self:
        """``size`` analysers of the configured model pack (each loads its own sessions); ``options``
        go to the pool's constructor."""
        from skynet.detectors.analyzer import ImageAnalyzer

        # an ImageAnalyzer is every kind of analyser a pool holds (it also analyses batches)
        analyzers = [cast(A, ImageAnalyzer.from_settings(settings)) for _ in range(size)]
        return cls(analyzers, lazy_embedding, lazy_reading, **options)

    def __call__(self, image: np.ndarray, regions: Sequence[Box] | None = None) -> Detections:
        """Analyse a camera frame, or only its ``regions`` (faces without embeddings, plates
        unread, when lazy; no plate filling the view looked for)."""
        with self._lend() as analyzer:
            return analyzer.analyze(
                image, embed=not self.lazy_embedding, regions=regions, read=not self.lazy_reading, camera=True
            )

    def analyze(self, image: np.ndarray, embed: bool = True, regions: Sequence[Box] | None = None) -> Detections:
        """Analyse ``image`` (or its ``regions``), with face embeddings unless ``embed`` is False
        (uploads always need them)."""
        with self._lend() as analyzer:
            return analyzer.analyze(image, embed=embed, regions=regions)

    def read(self, image: np.ndarray, plates: list[PlateDetection]) -> list[PlateDetection]:
        """``plates`` of ``image`` with their text read."""
        with self._lend() as analyzer:
            return analyzer.read_plates(image, plates)

    def embed(self, faces: Sequence[tuple[np.ndarray, FaceDetection]]) -> list[FaceDetection]:
        """Each of ``faces`` (given with the image it lies in) with its embedding, in one batch."""
        with self._lend() as analyzer:
            return analyzer.embed_each(faces)

    @contextmanager
    def _lend(self) -> Iterator[A]:
        analyzer = self._free.get()
        try:
            yield analyzer
        finally:
            self._free.put(analyzer)
