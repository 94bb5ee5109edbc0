"""Rectifying a plate from its corners to the character band, including plates cut by the edge."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from skynet.detectors.plate_rectify import CHAR_BAND, PLATE_SIZE, complete_cut_plate, plate_band, plate_colour

BAND_SHAPE = (
    round((CHAR_BAND[3] - CHAR_BAND[1]) * PLATE_SIZE[1]),
    round((CHAR_BAND[2] - CHAR_BAND[0]) * PLATE_SIZE[0]),
)


def checker_plate() -> np.ndarray:
    """A 440x140 plate with a distinct pattern (so a wrong warp shows)."""
    ys, xs = np.mgrid[0 : PLATE_SIZE[1], 0 : PLATE_SIZE[0]]
    plate = np.stack([xs * 255 // PLATE_SIZE[0], ys * 255 // PLATE_SIZE[1], ((xs // 20 + ys // 20) % 2) * 255], -1)
    return plate.astype(np.uint8)


def warp_into(scene_size: tuple[int, int], plate: np.ndarray, corners: np.ndarray) -> np.ndarray:
    source = np.float32([[0, 0], [PLATE_SIZE[0], 0], [PLATE_SIZE[0], PLATE_SIZE[1]], [0, PLATE_SIZE[1]]])
    matrix = cv2.getPerspectiveTransform(source, np.float32(corners))
    return cv2.warpPerspective(plate, matrix, scene_size, flags=cv2.INTER_LINEAR)


def expected_band(plate: np.ndarray) -> np.ndarray:
    """The band cut straight out of the flat plate (band parts left of it repeat its edge)."""
    x1, y1 = CHAR_BAND[0] * PLATE_SIZE[0], CHAR_BAND[1] * PLATE_SIZE[1]
    shift = np.float32([[1, 0, -x1], [0, 1, -y1]])
    return cv2.warpAffine(plate, shift, BAND_SHAPE[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_identity_corners_cut_the_band():
    plate = checker_plate()
    corners = np.float32([[0, 0], [440, 0], [440, 140], [0, 140]])
    band = plate_band(plate, corners)
    assert band.shape == (*BAND_SHAPE, 3)
    np.testing.assert_allclose(band.astype(float), expected_band(plate).astype(float), atol=2)


def test_tilted_plate_is_rectified():
    plate = checker_plate()
    corners = np.float32([[210, 120], [500, 90], [520, 190], [205, 230]])
    scene = warp_into((800, 400), plate, corners)
    band = plate_band(scene, corners).astype(float)
    diff = np.abs(band - expected_band(plate).astype(float))
    # resampling twice blurs edges: compare the bulk of the pixels
    assert np.median(diff) < 6 and np.mean(diff) < 20


@pytest.mark.parametrize(
    "corners",
    [
        [[-80, 10], [150, 12], [148, 80], [-82, 78]],  # cut by the left edge
        [[500, 350], [700, 355], [698, 430], [498, 425]],  # beyond the bottom-right corner
        [[-5000, -5000], [-4000, -5000], [-4000, -4600], [-5000, -4600]],  # wholly outside
        [[10, 10], [10, 10], [10, 10], [10, 10]],  # degenerate
    ],
)
def test_corners_outside_the_image_or_degenerate_still_give_a_full_band(corners):
    scene = np.full((400, 640, 3), 90, np.uint8)
    band = plate_band(scene, np.float32(corners))
    assert band.shape == (*BAND_SHAPE, 3) and band.dtype == np.uint8


def test_visible_part_of_an_edge_plate_is_kept():
    plate = checker_plate()
    corners = np.float32([[-100, 50], [340, 50], [340, 190], [-100, 190]])  # left 100 px cut
    scene = warp_into((480, 300), plate, corners)
    band = plate_band(scene, corners).astype(float)
    right = slice(int(0.4 * BAND_SHAPE[1]), None)  # well inside the visible part
    assert np.mean(np.abs(band[:, right] - expected_band(plate).astype(float)[:, right])) < 3


def test_non_finite_corners_are_refused():
    with pytest.raises(ValueError, match="finite"):
        plate_band(np.zeros((10, 10, 3), np.uint8), np.full((4, 2), np.nan, np.float32))


def test_plate_cut_by_the_left_edge_is_completed_to_its_aspect():
    # a 314 x 100 plate from x = -100: the detector sees x 0..214
    seen = np.float32([[0, 50], [214, 50], [214, 150], [0, 150]])
    completed = complete_cut_plate(seen, width=640, height=480)
    np.testing.assert_allclose(completed, [[-100, 50], [214, 50], [214, 150], [-100, 150]], atol=0.5)


def test_tilted_plate_cut_by_the_top_edge_is_extended_along_its_sides():
    seen = np.float32([[100, 0], [414, 10], [414, 60], [100, 50]])  # 50 of 100 px high visible
    completed = complete_cut_plate(seen, width=640, height=480)
    np.testing.assert_allclose(completed[2:], seen[2:])  # the visible bottom stays
    left_side = completed[3] - completed[0]
    assert left_side[0] == pytest.approx(0) and np.linalg.norm(left_side) == pytest.approx(314 / (440 / 140), rel=1e-3)
    assert completed[0, 1] < 0 and completed[1, 1] < 10


@pytest.mark.parametrize(
    "corners",
    [
        [[100, 100], [414, 100], [414, 200], [100, 200]],  # inside the image
        [[0, 100], [314, 100], [314, 200], [0, 200]],  # touches the edge but is whole
        [[0, 100], [640, 100], [640, 200], [0, 200]],  # cut on both sides: nothing to anchor on
    ],
)
def test_whole_or_doubly_cut_plates_are_left_alone(corners):
    np.testing.assert_allclose(complete_cut_plate(np.float32(corners), width=640, height=480), corners)


@pytest.mark.parametrize(
    ("background", "ink", "colour"),
    [
        ((190, 60, 20), (255, 255, 255), "blue"),
        ((20, 190, 245), (0, 0, 0), "yellow"),
        ((120, 200, 90), (0, 0, 0), "green"),
    ],
)
def test_plate_colour_is_the_background_hue(background, ink, colour):
    band = np.full((106, 414, 3), background, np.uint8)  # BGR
    for x in range(10, 400, 58):  # character-like strokes
        band[15:90, x : x + 30] = ink
    assert plate_colour(band) == colour


def test_grey_plates_have_no_colour():
    band = np.full((106, 414, 3), 128, np.uint8)
    band[15:90, 40:70] = 255
    assert plate_colour(band) is None
