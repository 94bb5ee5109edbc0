"""Which faces become sightings: the gates on views and tracks, with measured faces and real junk."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from skynet.config import Settings
from skynet.records import Box, FaceDetection, FaceQuality
from skynet.tracking.face_gate import FaceGate

GOOD = FaceQuality(score=0.8, size=0.7, sharpness=0.6, frontalness=0.9, exposure=1.0, plausible=True)


def view(size: float = 80.0, score: float = 0.9, **quality) -> FaceDetection:
    return FaceDetection(
        box=Box(100, 100, 100 + size, 100 + size * 1.2),
        score=score,
        landmarks=np.zeros((5, 2), np.float32),
        quality=FaceQuality(**{**{f: getattr(GOOD, f) for f in GOOD.__slots__}, **quality}),
    )


@pytest.mark.parametrize(
    ("face", "problem"),
    [
        (view(), None),
        (view(size=23), "small"),  # the 23 x 27 px jacket of vtest.avi
        (view(plausible=False), "landmarks"),
        (view(frontalness=0.2), "pose"),  # a profile
        (view(sharpness=0.03), "blur"),
        (view(exposure=0.1), "exposure"),  # a dark blob
    ],
)
def test_each_view_gate_names_its_problem(face, problem):
    assert FaceGate().view_problem(face) == problem


def test_a_face_without_measured_quality_is_judged_by_size():
    bare = FaceDetection(box=Box(0, 0, 60, 70), score=0.9, landmarks=np.zeros((5, 2), np.float32))
    assert FaceGate().view_problem(bare) is None
    assert FaceGate(min_px=80).view_problem(bare) == "small"


def test_track_gates_need_frames_a_usable_view_and_a_sure_detector():
    gate = FaceGate()
    assert gate.track_problem(1, [0.95]) == "short"  # one analysed frame
    assert gate.track_problem(5, []) == "no usable view"
    assert gate.track_problem(5, [0.55, 0.52, 0.51, 0.5]) == "not face-like"  # scored at the threshold only
    assert gate.track_problem(5, [0.5, 0.5, 0.9, 0.85, 0.8]) is None  # the best three average 0.85
    assert gate.track_problem(2, [0.7]) is None


def test_thresholds_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("SKYNET_FACE_MIN_PX", "64")
    monkeypatch.setenv("SKYNET_FACE_MIN_TRACK_FRAMES", "4")
    gate = FaceGate.from_settings(Settings())
    assert (gate.min_px, gate.min_frames, gate.min_track_score) == (64.0, 4, 0.6)
    assert gate.view_problem(view(size=60)) == "small"


@pytest.mark.models
def test_real_faces_pass_and_the_real_junk_of_vtest_does_not(analyzer, shared_data, model_settings):
    gate = FaceGate.from_settings(model_settings)
    faces = shared_data("faces_identities")
    photo = cv2.imread(str(faces / "images" / "face_0001.jpg"))
    found = analyzer.analyze(photo, plates=False, embed=False).faces
    best = max(found, key=lambda f: f.box.area)
    assert best.quality.plausible and gate.view_problem(best) is None
    # the jacket that became a face sighting of vtest.avi (frame 752, 23 x 27 px, detector score < 0.5
    # on the whole frame, 0.5+ on a region crop): too small to be a usable view
    capture = cv2.VideoCapture(str(shared_data("videos_surveillance") / "videos" / "vtest.avi"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 752)
    ok, frame = capture.read()
    capture.release()
    assert ok
    crop = frame[200:330, 180:330]
    detector = analyzer.face_detector
    threshold, detector.min_score = detector.min_score, 0.3
    try:
        junk = analyzer.analyze(crop, plates=False, embed=False).faces
    finally:
        detector.min_score = threshold
    assert junk, "the detector no longer finds the jacket: the test no longer shows the gate at work"
    assert all(gate.view_problem(f) is not None for f in junk)
