"""Face quality: size, sharpness and frontalness each rank faces the way a person would."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from skynet.detectors.face_quality import face_quality, frontalness, sharpness
from skynet.records import Box, FaceDetection

# Landmarks of a frontal face in a 100 x 120 box at (50, 40): eyes, nose, mouth corners.
FRONTAL = np.array([[80, 85], [120, 85], [100, 105], [83, 128], [117, 128]], np.float32)


def _face(box: Box = Box(50, 40, 150, 160), landmarks: np.ndarray = FRONTAL) -> FaceDetection:
    return FaceDetection(box=box, score=0.9, landmarks=landmarks)


def _textured_image(seed: int = 0) -> np.ndarray:
    """A 200 x 200 image with fine random texture (sharp edges everywhere)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    return cv2.resize(blocks, (200, 200), interpolation=cv2.INTER_NEAREST)


def _rotated(points: np.ndarray, degrees: float, centre=(100.0, 100.0)) -> np.ndarray:
    angle = math.radians(degrees)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return ((points - centre) @ rotation.T + centre).astype(np.float32)


def test_sharp_frontal_face_outranks_blurred_and_profile_ones():
    image = _textured_image()
    blurred = cv2.GaussianBlur(image, (0, 0), 3)
    profile = FRONTAL.copy()
    profile[2, 0] = 128  # nose beyond the right eye: a face turned sideways
    sharp_frontal = face_quality(image, _face())
    assert sharp_frontal.score > face_quality(blurred, _face()).score
    assert sharp_frontal.score > face_quality(image, _face(landmarks=profile)).score
    for value in (sharp_frontal.score, sharp_frontal.size, sharp_frontal.sharpness, sharp_frontal.frontalness):
        assert 0.0 <= value <= 1.0


def test_sharpness_falls_with_blur():
    image = _textured_image()
    values = [sharpness(cv2.GaussianBlur(image, (0, 0), s) if s else image, _face()) for s in (0, 1, 2, 4)]
    assert values == sorted(values, reverse=True)
    assert values[0] > 0.8 and values[-1] < 0.3


def test_flat_image_has_no_sharpness():
    flat = np.full((200, 200, 3), 128, np.uint8)
    assert sharpness(flat, _face()) == 0.0


def test_frontalness_falls_with_yaw_and_ignores_small_roll():
    assert frontalness(FRONTAL) == pytest.approx(1.0)
    turned = [FRONTAL.copy() for _ in range(3)]
    for points, nose_x in zip(turned, (106, 115, 125)):
        points[2, 0] = nose_x
    values = [frontalness(points) for points in turned]
    assert values == sorted(values, reverse=True)
    assert values[-1] < 0.5
    assert frontalness(_rotated(FRONTAL, 10)) > 0.95  # a tilted head is still frontal
    assert frontalness(_rotated(FRONTAL, 10)) == pytest.approx(math.cos(math.radians(10)), abs=1e-6)


def test_frontalness_of_degenerate_landmarks_is_zero():
    assert frontalness(np.zeros((5, 2), np.float32)) == 0.0


def test_size_grows_with_the_box_up_to_full():
    image = _textured_image()
    small = face_quality(image, _face(box=Box(90, 90, 118, 118)))
    large = face_quality(image, _face(box=Box(10, 10, 190, 190)))
    assert small.size == pytest.approx(28 / 112)
    assert large.size == 1.0


def test_face_outside_or_at_the_edge_of_the_image_does_not_crash():
    image = _textured_image()
    assert face_quality(image, _face(box=Box(250, 250, 300, 300))).sharpness == 0.0
    assert 0.0 < face_quality(image, _face(box=Box(-20, -20, 60, 60))).sharpness <= 1.0


def test_grayscale_image_is_accepted():
    gray = cv2.cvtColor(_textured_image(), cv2.COLOR_BGR2GRAY)
    assert face_quality(gray, _face()).sharpness > 0.5
