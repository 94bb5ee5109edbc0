"""profile_reindex.py's thread-CPU clock: stages timed exclusive of the stages they call, clp_det's looks told apart."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from profile_reindex import StageClock


def spin(seconds: float) -> None:
    """Busy for ``seconds`` of this thread's CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_stage_is_timed_without_the_stages_it_calls():
    clock = StageClock()
    inner = clock.wrap("inner", lambda: spin(0.03))

    def outer_work():
        spin(0.01)
        inner()

    clock.wrap("outer", outer_work)()
    assert clock.calls == {"outer": 1, "inner": 1}
    assert 25 <= clock.ms["inner"] < 60
    assert 5 <= clock.ms["outer"] < 25


def test_clp_det_looks_are_first_looks_zoom_outs_and_zoom_ins():
    class Detector:  # the shape of ClpDetector: detect() makes one look per _detect() call
        def detect(self, image, crops: int = 0, again: bool = False):
            self._detect(image, 1.0)
            if again:
                self._detect(image, 0.5)
            for _ in range(crops):
                self._detect(image[:4, :4], 3.0)

        def _detect(self, image, scale):
            return [], []

    clock = StageClock()
    Detector.detect = clock.wrap("clp_det", Detector.detect)
    Detector._detect = clock.wrap("clp_det look", Detector._detect)
    image = np.zeros((8, 8, 3), np.uint8)
    Detector().detect(image, crops=2, again=True)
    Detector().detect(image)
    assert clock.calls == {
        "clp_det": 2,
        "clp_det look: first look": 2,
        "clp_det look: zoom-out": 1,
        "clp_det look: zoom-in": 2,
    }
