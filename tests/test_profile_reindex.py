"""The benchmarks' thread-CPU stage clock: stages timed exclusive of the stages they call; profile_reindex.py's
clp_det looks told apart; its --repeats checked."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import stage_clock
from profile_reindex import ReindexClock, main
from stage_clock import StageClock


class FakeThreadTime:
    """A thread CPU clock that moves only when the test says, per thread: timings independent of the machine."""

    def __init__(self) -> None:
        self.local = threading.local()

    def __call__(self) -> float:
        return getattr(self.local, "now", 0.0)

    def spend(self, seconds: float) -> None:
        self.local.now = self() + seconds


@pytest.fixture
def cpu(monkeypatch) -> FakeThreadTime:
    fake = FakeThreadTime()
    monkeypatch.setattr(stage_clock.time, "thread_time", fake)
    return fake


def test_a_stage_is_timed_without_the_stages_it_calls(cpu):
    clock = StageClock()
    inner = clock.wrap("inner", lambda: cpu.spend(0.03))
    innermost = clock.wrap("innermost", lambda: cpu.spend(0.002))

    def outer_work():
        cpu.spend(0.01)
        inner()
        innermost()
        cpu.spend(0.005)

    clock.wrap("outer", outer_work)()
    assert clock.calls == {"outer": 1, "inner": 1, "innermost": 1}
    assert clock.ms == pytest.approx({"outer": 15.0, "inner": 30.0, "innermost": 2.0})
    assert sum(clock.ms.values()) == pytest.approx(1000 * cpu())  # every ms counted once


def test_stages_of_several_threads_are_kept_apart(cpu):
    clock = StageClock()
    work = clock.wrap("work", lambda seconds: cpu.spend(seconds))
    outer = clock.wrap("outer", lambda seconds: work(seconds))
    threads = [threading.Thread(target=outer, args=(0.001 * (i + 1),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.calls == {"outer": 4, "work": 4}
    assert clock.ms["work"] == pytest.approx(10.0)
    assert clock.ms["outer"] == pytest.approx(0.0)


def test_patch_times_an_attribute_and_reset_clears(cpu):
    class Reader:
        def decode(self):
            cpu.spend(0.004)
            return "read"

    reader = Reader()
    clock = StageClock()
    clock.patch(reader, "decode", "decode")
    assert reader.decode() == "read"
    assert clock.calls == {"decode": 1}
    assert clock.ms["decode"] == pytest.approx(4.0)
    clock.reset()
    assert not clock.calls and not clock.ms


def test_repeats_below_one_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--thread-cpu", "--repeats", "0"])
    assert "must be at least 1" in capsys.readouterr().err


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

    clock = ReindexClock()
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
