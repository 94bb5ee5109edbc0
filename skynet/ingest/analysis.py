"""Sharing analysers between camera threads: each analyser serves one frame at a time."""

from __future__ import annotations

import queue
from typing import Protocol

import numpy as np

from skynet.config import Settings
from skynet.records import Detections


class Analyzer(Protocol):
    def analyze(self, image: np.ndarray) -> Detections: ...


class AnalyzerPool:
    """A callable ``image -> Detections`` that lends one of its analysers to each call.

    Model back-ends are not all safe to call from two threads at once (dlib's networks keep
    per-call buffers), so an analyser is never used by two threads together; with ``n``
    analysers, ``n`` frames (of any cameras) are analysed in parallel and other callers wait.
    """

    def __init__(self, analyzers: list[Analyzer]) -> None:
        if not analyzers:
            raise ValueError("an analyser pool needs at least one analyser")
        self.size = len(analyzers)
        self._free: queue.Queue[Analyzer] = queue.Queue()
        for analyzer in analyzers:
            self._free.put(analyzer)

    @classmethod
    def from_settings(cls, settings: Settings, size: int = 1) -> AnalyzerPool:
        """``size`` analysers of the configured model pack (each loads its own sessions)."""
        from skynet.detectors.analyzer import ImageAnalyzer

        return cls([ImageAnalyzer.from_settings(settings) for _ in range(size)])

    def __call__(self, image: np.ndarray) -> Detections:
        analyzer = self._free.get()
        try:
            return analyzer.analyze(image)
        finally:
            self._free.put(analyzer)
