"""Perspective rectification of a plate from its 4 corners, the character band inside it, and
the plate's background colour."""

from __future__ import annotations

import cv2
import numpy as np

PLATE_SIZE = (440, 140)
"""Width and height of a rectified single-row plate (the Chinese plate's 440 x 140 mm)."""

CHAR_BAND = (-0.03, 0.12, 0.97, 0.88)
"""The part of a rectified plate holding the characters, as fractions ``(x1, y1, x2, y2)``.

It reaches 3 % past the plate's left edge: clp_det's left corners often cut into the province
character, and this measured better (EasyPR DEV 84 -> 87 % exact) than the 3-97 % band.
"""

WIDE_CHAR_BAND = (-0.08, 0.10, 1.05, 0.90)
"""A band reaching further past the plate's left and right edges than :data:`CHAR_BAND`.

clp_det's corners often cut into the first or last character on plates unlike its training set:
on the DEV EasyPR plates its left corners lie up to 6 % of the plate width inside the plate (90th
percentile; up to 12 % on the misread ones) and its right corners up to 5 %, while on CCPD they
are within 1 %. Plates are read from this band first and from :data:`CHAR_BAND` when that read is
unsure (see :meth:`~skynet.detectors.plate_readers.CtcPlateReader.read`): 93.8 % of the detected
EasyPR plates are read right against 91.7 % with :data:`CHAR_BAND` alone, 100 % of the CCPD ones
(99.3 %); this band alone takes some plates' rim for a character.
"""

_HUES = (("yellow", 10, 40), ("green", 40, 90), ("blue", 90, 135))  # OpenCV hue, 0..180
MIN_COLOURED = 0.05


def plate_band(
    image: np.ndarray,
    corners: np.ndarray,
    band: tuple[float, float, float, float] = CHAR_BAND,
    plate_size: tuple[int, int] = PLATE_SIZE,
) -> np.ndarray:
    """The character band of the plate whose corners (left-top, right-top, right-bottom,
    left-bottom, image pixels) are ``corners``, warped upright in one resampling step.

    Corners may lie outside the image (plates cut by its edge): the missing part is filled by
    repeating the edge pixels, so the band always has the full size.
    """
    corners = np.asarray(corners, np.float32).reshape(4, 2)
    if not np.all(np.isfinite(corners)):
        raise ValueError("plate corners must be finite numbers")
    width, height = plate_size
    x1, y1, x2, y2 = band[0] * width, band[1] * height, band[2] * width, band[3] * height
    out_w, out_h = max(1, round(x2 - x1)), max(1, round(y2 - y1))
    # plate corners in band coordinates: the plate rectangle shifted by the band's top-left
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32) - np.array([x1, y1], np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    return cv2.warpPerspective(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def complete_cut_plate(
    corners: np.ndarray, width: int, height: int, margin: float = 2.0, aspect: float = PLATE_SIZE[0] / PLATE_SIZE[1]
) -> np.ndarray:
    """Corners of a plate cut by the image edge, extended past that edge to the plate's aspect.

    A detector sees only the visible part of such a plate, so its corners sit on the edge (within
    ``margin`` pixels) and the plate looks too narrow (or too low); rectifying that would stretch
    the characters. The cut side is moved outwards along the plate's own edges until width /
    height is ``aspect``. Plates cut on both opposite sides, or not short by at least 5 %, are
    returned unchanged.
    """
    lt, rt, rb, lb = (np.asarray(p, np.float64) for p in np.asarray(corners, np.float64).reshape(4, 2))
    left = min(lt[0], lb[0]) <= margin
    right = max(rt[0], rb[0]) >= width - margin
    top = min(lt[1], rt[1]) <= margin
    bottom = max(lb[1], rb[1]) >= height - margin
    if left != right:
        full = aspect * float(np.linalg.norm((rb - rt) if left else (lb - lt)))
        if left:
            lt, lb = _reach(rt, lt, full), _reach(rb, lb, full)
        else:
            rt, rb = _reach(lt, rt, full), _reach(lb, rb, full)
    if top != bottom:
        full = float(np.linalg.norm((rb - lb) if top else (rt - lt))) / aspect
        if top:
            lt, rt = _reach(lb, lt, full), _reach(rb, rt, full)
        else:
            lb, rb = _reach(lt, lb, full), _reach(rt, rb, full)
    return np.stack([lt, rt, rb, lb]).astype(np.float32)


def _reach(anchor: np.ndarray, point: np.ndarray, length: float) -> np.ndarray:
    """``point`` moved along the line from ``anchor`` so it lies ``length`` away, if it is
    at least 5 % closer than that."""
    span = point - anchor
    current = float(np.linalg.norm(span))
    if current <= 0.0 or current >= 0.95 * length:
        return point
    return anchor + span * (length / current)


def plate_colour(band: np.ndarray) -> str | None:
    """``blue``, ``yellow`` or ``green``: the hue most of the band's saturated pixels have;
    None when under ``MIN_COLOURED`` of them are saturated (grey or night images, white plates)."""
    hsv = cv2.cvtColor(band, cv2.COLOR_BGR2HSV)
    hues = hsv[..., 0][(hsv[..., 1] > 70) & (hsv[..., 2] > 50)]
    if hues.size < MIN_COLOURED * band.shape[0] * band.shape[1]:
        return None
    votes = {name: int(np.count_nonzero((hues >= low) & (hues < high))) for name, low, high in _HUES}
    best = max(votes, key=votes.__getitem__)
    return best if votes[best] > 0 else None
