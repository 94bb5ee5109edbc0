"""Batching across cameras: concurrent camera calls form batches that run each detector once,
with the results of one-by-one analysis; errors stay with their frame; closing never hangs.

The detectors are the real SCRFD and YOLO back-ends on tiny ONNX models of the same signatures
(tests/onnx_builders.py), whose outputs depend on the red in their input.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
import pytest
from onnx_builders import arcface_model, scrfd_model, yolo_model

from skynet.config import Settings
from skynet.detectors import arcface, scrfd, yolo
from skynet.detectors.analyzer import ImageAnalyzer
from skynet.detectors.batching import BatchingAnalyzer, camera_pool
from skynet.detectors.pool import AnalyzerPool
from skynet.detectors.runtime import create_session
from skynet.records import Box, Detections

CPU = ["CPUExecutionProvider"]
WAIT_MS = 5000.0  # long enough for every thread of a test to join, so batches are full, never waited out


class Counting:
    """A detector wrapper that records how it is called: each ``detect_batch`` call's size, and
    the number of single ``detect`` calls."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.batch_sizes: list[int] = []
        self.single_calls = 0
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray, **options) -> list:
        with self._lock:
            self.single_calls += 1
        return self.detector.detect(image, **options)

    def detect_batch(self, images: Sequence[np.ndarray], **options) -> list[list]:
        with self._lock:
            self.batch_sizes.append(len(images))
        return self.detector.detect_batch(images, **options)


@pytest.fixture(scope="module")
def make_analyzer(tmp_path_factory) -> Callable[[], ImageAnalyzer]:
    """Builds analysers of tiny SCRFD (batched), ArcFace and YOLO (dynamic batch) models, each
    detector wrapped in :class:`Counting`."""
    folder = tmp_path_factory.mktemp("models")
    faces = scrfd_model(folder / "det.onnx", batched=True)
    embeddings = arcface_model(folder / "rec.onnx")
    rows = np.array([[320, 320, 64, 32, 0.0], [100, 100, 20, 20, 0.6]], np.float32).T  # (cx, cy, w, h, score)
    red_rows = np.zeros_like(rows)
    red_rows[4, 0] = 0.95  # the first plate's score is the mean red of the input
    plates = yolo_model(folder / "plates.onnx", rows, red_rows)

    def make() -> ImageAnalyzer:
        return ImageAnalyzer(
            Counting(scrfd.Scrfd(create_session(faces, CPU), 640, 0.5)),
            arcface.load(embeddings, CPU, 1),
            Counting(yolo.YoloPlateDetector(yolo.OnnxYolo(create_session(plates, CPU), 640), 0.01)),
            None,  # plates are left unread (lazy reading, as for cameras)
            face_long_side=640,
            plate_long_side=960,
        )

    return make


def camera_frame(camera: int) -> np.ndarray:
    """A 1280 x 720 frame with red squares where this camera's 'faces' are (32 px cells at half scale)."""
    image = np.zeros((720, 1280, 3), np.uint8)
    for k in range(camera % 3 + 1):
        y, x = 64 * (camera % 4 + 2 * k), 64 * (camera + 3 * k)
        image[y : y + 64, x : x + 64, 2] = 255
    return image


REGIONS = [Box(0, 0, 640, 400), Box(700, 300, 1280, 720)]


def same(result: Detections, expected: Detections) -> None:
    """The same faces and plates (boxes, scores, landmarks/corners, embeddings)."""
    assert (result.image_width, result.image_height) == (expected.image_width, expected.image_height)
    assert len(result.faces) == len(expected.faces) and len(result.plates) == len(expected.plates)
    for got, want in zip(result.faces, expected.faces, strict=True):
        assert got.box.as_list() == pytest.approx(want.box.as_list(), abs=1e-4)
        assert got.score == pytest.approx(want.score, abs=1e-6)
        np.testing.assert_allclose(got.landmarks, want.landmarks, atol=1e-4)
        assert got.quality == want.quality
        assert (got.embedding is None) == (want.embedding is None)
        if want.embedding is not None:
            np.testing.assert_allclose(got.embedding, want.embedding, atol=1e-5)
    for got, want in zip(result.plates, expected.plates, strict=True):
        assert got.box.as_list() == pytest.approx(want.box.as_list(), abs=1e-4)
        assert got.score == pytest.approx(want.score, abs=1e-6)
        np.testing.assert_allclose(got.corners, want.corners, atol=1e-4)


Call = tuple[np.ndarray, list[Box] | None]  # a camera's frame, and the regions to analyse (None: all of it)


def whole(*cameras: int) -> list[Call]:
    return [(camera_frame(c), None) for c in cameras]


def call_together(front: Callable, calls: list[Call]) -> list:
    """Run ``front(image, regions)`` for every call on threads started together; each outcome is
    the result or the exception raised."""
    start = threading.Barrier(len(calls))
    threads = ThreadPoolExecutor(len(calls))

    def run(image: np.ndarray, regions: list[Box] | None) -> Detections:
        start.wait()
        return front(image, regions)

    futures = [threads.submit(run, *call) for call in calls]
    _, hanging = wait(futures, timeout=30)
    threads.shutdown(wait=False)
    assert not hanging, "a camera thread hangs"
    return [future.exception() or future.result() for future in futures]


def test_concurrent_cameras_share_one_detector_run_with_the_results_of_one_by_one(make_analyzer):
    analyzer = make_analyzer()
    front = BatchingAnalyzer([analyzer], lazy_embedding=False, lazy_reading=True, max_batch=6, max_wait_ms=WAIT_MS)
    calls = whole(0, 1, 2, 3) + [(camera_frame(c), REGIONS) for c in (4, 5)]
    outcomes = call_together(front, calls)

    # one run of each detector over 4 whole frames + 2 x 2 region crops
    assert analyzer.face_detector.batch_sizes == [8] and analyzer.plate_detector.batch_sizes == [8]
    assert analyzer.face_detector.single_calls == analyzer.plate_detector.single_calls == 0
    reference = make_analyzer()
    for outcome, (image, regions) in zip(outcomes, calls, strict=True):
        same(outcome, reference.analyze(image, regions=regions, read=False))
    assert sum(len(o.faces) for o in outcomes) >= 6 and all(o.plates for o in outcomes)
    assert all(f.embedding is not None for o in outcomes for f in o.faces)
    assert len({round(o.plates[0].score, 4) for o in outcomes}) > 1  # plate scores follow each frame's content


def test_batches_hold_at_most_max_batch_frames(make_analyzer):
    analyzer = make_analyzer()
    front = BatchingAnalyzer([analyzer], lazy_embedding=True, lazy_reading=True, max_batch=3, max_wait_ms=WAIT_MS)
    outcomes = call_together(front, whole(*range(6)))
    assert analyzer.plate_detector.batch_sizes == [3, 3]
    reference = make_analyzer()
    for camera, outcome in enumerate(outcomes):
        same(outcome, reference.analyze(camera_frame(camera), embed=False, read=False))
        assert all(f.embedding is None for f in outcome.faces)  # lazy: embedded later by the trackers


def test_a_failing_frame_fails_only_its_own_caller(make_analyzer):
    analyzer = make_analyzer()
    front = BatchingAnalyzer([analyzer], lazy_embedding=True, lazy_reading=True, max_batch=4, max_wait_ms=WAIT_MS)
    broken = np.zeros((720, 1280), np.uint8)  # grey, not BGR: the detectors cannot take it
    calls = [*whole(0), (broken, None), (camera_frame(2), REGIONS), *whole(3)]
    outcomes = call_together(front, calls)
    assert isinstance(outcomes[1], Exception)
    reference = make_analyzer()
    for index in (0, 2, 3):
        image, regions = calls[index]
        same(outcomes[index], reference.analyze(image, regions=regions, embed=False, read=False))
    assert analyzer.face_detector.batch_sizes == [5]  # tried together, then one by one
    # the next batch is not affected
    again = call_together(front, whole(0, 1, 2, 3))
    assert all(isinstance(result, Detections) for result in again)


def test_close_releases_a_waiting_frame_and_later_calls_run_alone(make_analyzer):
    analyzer = make_analyzer()
    front = BatchingAnalyzer([analyzer], lazy_embedding=True, lazy_reading=True, max_batch=8, max_wait_ms=60_000.0)
    outcome: list = []
    waiting = threading.Thread(target=lambda: outcome.append(front(camera_frame(1))))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # waits for more cameras to join its batch
    front.close()
    waiting.join(10)
    assert not waiting.is_alive() and analyzer.face_detector.batch_sizes == [1]
    reference = make_analyzer()
    same(outcome[0], reference.analyze(camera_frame(1), embed=False, read=False))
    same(front(camera_frame(2)), reference.analyze(camera_frame(2), embed=False, read=False))
    assert analyzer.face_detector.batch_sizes == [1] and analyzer.face_detector.single_calls == 1


def test_analyze_batch_runs_a_detector_without_detect_batch_once_per_input(make_analyzer):
    analyzer = make_analyzer()
    analyzer.face_detector = analyzer.face_detector.detector  # SCRFD, unwrapped ...
    single = Counting(analyzer.face_detector)
    analyzer.face_detector = type("OneByOne", (), {"detect": single.detect})()  # ... offering detect only
    images = [camera_frame(0), camera_frame(1)]
    results = analyzer.analyze_batch(images, [None, REGIONS], embed=False, read=False)
    assert single.single_calls == 3 and analyzer.plate_detector.batch_sizes == [3]
    reference = make_analyzer()
    same(results[0], reference.analyze(images[0], embed=False, read=False))
    same(results[1], reference.analyze(images[1], regions=REGIONS, embed=False, read=False))
    assert analyzer.analyze_batch([], embed=False, read=False) == []
    with pytest.raises(ValueError, match="2 images but 1 region"):
        analyzer.analyze_batch(images, [None])


def test_unbatched_analysis_calls_detect_once_per_input(make_analyzer):
    analyzer = make_analyzer()
    analyzer.analyze(camera_frame(0), regions=REGIONS, embed=False, read=False)
    assert analyzer.face_detector.single_calls == 2 and analyzer.face_detector.batch_sizes == []


def test_camera_pool_batches_only_when_batch_size_is_above_one(make_analyzer, monkeypatch):
    monkeypatch.setattr(ImageAnalyzer, "from_settings", classmethod(lambda cls, settings: make_analyzer()))
    plain = camera_pool(Settings(), size=2, lazy_embedding=True, lazy_reading=True)
    assert type(plain) is AnalyzerPool and plain.size == 2 and plain.lazy_embedding and plain.lazy_reading
    batching = camera_pool(Settings(batch_size=4, batch_wait_ms=2.5), size=1, lazy_reading=True)
    assert isinstance(batching, BatchingAnalyzer) and batching.max_batch == 4 and batching.max_wait_s == 0.0025
    assert batching.lazy_reading and not batching.lazy_embedding


def test_batch_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SKYNET_BATCH_SIZE", "8")
    monkeypatch.setenv("SKYNET_BATCH_WAIT_MS", "20")
    settings = Settings()
    assert (settings.batch_size, settings.batch_wait_ms) == (8, 20.0)
    assert Settings.model_fields["batch_size"].default == 1
