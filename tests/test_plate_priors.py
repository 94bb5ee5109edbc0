"""RetinaFace-style priors and the decoding of clp_det's box and corner regressions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skynet.detectors.priors import decode_boxes, decode_landmarks, generate_priors


def test_prior_count_follows_ceil_of_each_feature_map():
    height, width = 100, 70  # not multiples of any stride
    expected = sum(2 * math.ceil(height / s) * math.ceil(width / s) for s in (8, 16, 32))
    assert generate_priors(height, width).shape == (expected, 4)


def test_priors_are_row_major_with_two_sizes_per_cell():
    priors = generate_priors(64, 96)
    stride8_cols = 96 // 8
    # first cell: centre (4/W, 4/H), sizes 24 and 48
    np.testing.assert_allclose(priors[0], [4 / 96, 4 / 64, 24 / 96, 24 / 64], rtol=1e-6)
    np.testing.assert_allclose(priors[1], [4 / 96, 4 / 64, 48 / 96, 48 / 64], rtol=1e-6)
    # second cell of the first row moves right by one stride
    np.testing.assert_allclose(priors[2, :2], [12 / 96, 4 / 64], rtol=1e-6)
    # first cell of the second row
    np.testing.assert_allclose(priors[2 * stride8_cols, :2], [4 / 96, 12 / 64], rtol=1e-6)
    # the stride-32 block starts after the stride-8 and stride-16 blocks
    start32 = 2 * (8 * 12 + 4 * 6)
    np.testing.assert_allclose(priors[start32], [16 / 96, 16 / 64, 384 / 96, 384 / 64], rtol=1e-6)
    np.testing.assert_allclose(priors[-1, 2:], [768 / 96, 768 / 64], rtol=1e-6)


def test_zero_regression_decodes_to_the_prior():
    priors = generate_priors(32, 32)
    boxes = decode_boxes(np.zeros((len(priors), 4), np.float32), priors)
    np.testing.assert_allclose(boxes[:, :2], priors[:, :2] - priors[:, 2:] / 2, atol=1e-6)
    np.testing.assert_allclose(boxes[:, 2:], priors[:, :2] + priors[:, 2:] / 2, atol=1e-6)


def test_box_decoding_inverts_the_retinaface_encoding():
    prior = np.array([[0.5, 0.4, 0.2, 0.1]], np.float32)
    x1, y1, x2, y2 = 0.42, 0.33, 0.66, 0.49
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    loc = np.array(
        [[(cx - 0.5) / (0.1 * 0.2), (cy - 0.4) / (0.1 * 0.1), math.log(w / 0.2) / 0.2, math.log(h / 0.1) / 0.2]],
        np.float32,
    )
    np.testing.assert_allclose(decode_boxes(loc, prior)[0], [x1, y1, x2, y2], atol=1e-5)


def test_landmarks_are_offsets_scaled_by_prior_size():
    prior = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    landms = np.array([[1, 0, 0, 1, -1, 0, 0, -1]], np.float32)
    points = decode_landmarks(landms, prior)
    assert points.shape == (1, 4, 2)
    np.testing.assert_allclose(points[0], [[0.52, 0.5], [0.5, 0.54], [0.48, 0.5], [0.5, 0.46]], atol=1e-6)


@pytest.mark.parametrize("rows", [0, 3])
def test_decoding_handles_any_number_of_rows(rows):
    priors = generate_priors(32, 32)[:rows]
    assert decode_boxes(np.zeros((rows, 4), np.float32), priors).shape == (rows, 4)
    assert decode_landmarks(np.zeros((rows, 8), np.float32), priors).shape == (rows, 4, 2)
