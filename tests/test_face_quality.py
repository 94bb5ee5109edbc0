"""Face quality: size, sharpness, frontalness and exposure each rank faces the way a person would;
landmark plausibility tells a face's landmarks from those regressed on clothing or a profile."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from skynet.detectors.face_quality import exposure, face_quality, frontalness, landmarks_plausible, sharpness
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


def _shifted_texture(mean: float, contrast: float) -> np.ndarray:
    """The textured image with its grey levels scaled to ``contrast`` times as spread around ``mean``."""
    image = _textured_image().astype(np.float32)
    return np.clip((image - image.mean()) * contrast + mean, 0, 255).astype(np.uint8)


def test_exposure_is_full_for_a_well_lit_face_and_falls_when_dark_washed_out_or_flat():
    assert exposure(_textured_image(), _face()) == 1.0
    assert exposure(_shifted_texture(15, 0.3), _face()) == 0.0  # a dark blob: mean grey 15
    assert 0.0 < exposure(_shifted_texture(50, 0.5), _face()) < 1.0  # dim, half the contrast
    assert exposure(_shifted_texture(245, 0.1), _face()) == 0.0  # washed out
    assert exposure(np.full((200, 200, 3), 128, np.uint8), _face()) == 0.0  # no contrast at all


def test_dark_view_ranks_below_the_same_face_well_lit():
    lit = face_quality(_textured_image(), _face())
    dark = face_quality(_shifted_texture(40, 0.4), _face())
    assert dark.exposure < 0.5 < lit.exposure and dark.score < lit.score


def test_landmarks_of_a_frontal_or_tilted_face_are_plausible():
    box = Box(50, 40, 150, 160)
    assert landmarks_plausible(FRONTAL, box)
    assert landmarks_plausible(_rotated(FRONTAL, 25), box)  # a tilted head


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("eyes too close for the box (a profile or a back of a head)", {0: (95, 85), 1: (105, 85)}),
        ("mouth above the eyes (upside down)", {3: (83, 70), 4: (117, 70)}),
        ("mouth far below the eyes", {3: (83, 170), 4: (117, 170), 2: (100, 125)}),
        ("nose below the mouth", {2: (100, 135)}),
        ("mouth three eye distances wide", {3: (40, 128), 4: (160, 128)}),
        ("a point far outside the box", {4: (240, 128)}),
    ],
)
def test_landmarks_that_no_face_has_are_not_plausible(name, change):
    points = FRONTAL.copy()
    for index, xy in change.items():
        points[index] = xy
    assert not landmarks_plausible(points, Box(50, 40, 150, 160)), name


def test_landmarks_rolled_beyond_45_degrees_or_mirrored_are_not_plausible():
    box = Box(0, 0, 200, 200)
    assert not landmarks_plausible(_rotated(FRONTAL, 60), box)
    mirrored = FRONTAL[[1, 0, 2, 4, 3]]  # left and right swapped: the eye line points backwards
    assert not landmarks_plausible(mirrored, box)
    assert not landmarks_plausible(np.zeros((5, 2), np.float32), box)


def test_quality_carries_exposure_and_plausibility():
    quality = face_quality(_textured_image(), _face())
    assert quality.exposure == 1.0 and quality.plausible
    assert quality.score == pytest.approx(
        (quality.size * quality.sharpness * quality.frontalness * quality.exposure) ** 0.25
    )
