"""The synthetic street scenes that the demo camera, the scenario and many tests are made of."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from skynet.synthetic import paste_plate, render_plate, street_scene


def whole_scene_warp(scene: np.ndarray, plate: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The plain form: the plate and its mask warped to the size of the whole scene."""
    height, width = plate.shape[:2]
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    matrix = cv2.getPerspectiveTransform(source, corners)
    size = (scene.shape[1], scene.shape[0])
    warped = cv2.warpPerspective(plate, matrix, size, flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full((height, width), 255, np.uint8), matrix, size) > 127
    out = scene.copy()
    out[inside] = warped[inside]
    return out


@pytest.mark.parametrize("seed", range(4))
def test_a_plate_is_pasted_with_the_pixels_of_a_whole_scene_warp(seed):
    """paste_plate warps only the corners' bounding box: the same pixels, wherever the plate lies (inside, cut by
    an edge, or wholly outside the scene)."""
    rng = np.random.default_rng(seed)
    scene, plate = street_scene(640, 360, seed=seed), render_plate("粤BD12345")
    pasted = 0
    for _ in range(60):
        x, y, width = rng.uniform(-260, 660), rng.uniform(-80, 380), rng.uniform(30, 260)
        height = width * rng.uniform(0.2, 0.5)
        tilt = rng.uniform(-0.3, 0.3, 3) * height  # a convex quadrilateral: a plate seen in perspective
        corners = np.float32(
            [[x, y], [x + width, y + tilt[0]], [x + width + tilt[1], y + height], [x, y + height + tilt[2]]]
        )
        out = paste_plate(scene, plate, corners)
        np.testing.assert_array_equal(out, whole_scene_warp(scene, plate, corners))
        pasted += not np.array_equal(out, scene)
    assert pasted >= 30, f"only {pasted} of 60 plates landed in the scene"
