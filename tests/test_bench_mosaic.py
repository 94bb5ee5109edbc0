"""The mosaic benchmark's packing: views placed apart by the gap, inside a canvas of multiples of 32."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_mosaic import ALIGN, shelf_pack, tightest_pack

SIZES = [(141, 161), (96, 200), (180, 175), (40, 64), (160, 160)]


def _apart(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int) -> bool:
    """Whether boxes (y, x, height, width) are at least ``gap`` apart along one axis."""
    (ay, ax, ah, aw), (by, bx, bh, bw) = a, b
    return ay + ah + gap <= by or by + bh + gap <= ay or ax + aw + gap <= bx or bx + bw + gap <= ax


@pytest.mark.parametrize("gap", [0, 8, 32])
def test_packed_views_lie_in_the_canvas_at_least_the_gap_apart(gap):
    corners, (height, width) = tightest_pack(SIZES, gap)
    assert height % ALIGN == 0 and width % ALIGN == 0
    boxes = [(y, x, h, w) for (y, x), (h, w) in zip(corners, SIZES, strict=True)]
    assert all(y >= 0 and x >= 0 and y + h <= height and x + w <= width for y, x, h, w in boxes)
    assert all(_apart(a, b, gap) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_the_tightest_pack_is_no_larger_than_one_row_or_one_column():
    _, (height, width) = tightest_pack(SIZES, 8)
    one_row = shelf_pack(SIZES, 8, sum(w + 8 for _, w in SIZES))[1]
    one_column = shelf_pack(SIZES, 8, max(w for _, w in SIZES))[1]
    assert height * width <= min(one_row[0] * one_row[1], one_column[0] * one_column[1])
    assert one_column[1] == 224 and one_row[0] == 192  # widest view 200 -> 224; tallest 180 -> 192
