"""Bad and unusual image inputs: a clear error or a correct image, never a crash."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from skynet.errors import BadImageError
from skynet.images import load_image

LIMITS = {"max_pixels": 40_000_000, "max_bytes": 50_000_000}


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header but carries almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(BadImageError, match="empty"):
        load_image(path, **LIMITS)


def test_non_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture")
    with pytest.raises(BadImageError, match="not an image"):
        load_image(path, **LIMITS)


def test_missing_file(tmp_path):
    with pytest.raises(BadImageError, match="no such file"):
        load_image(tmp_path / "absent.png", **LIMITS)


def test_one_pixel_image_is_refused_clearly():
    with pytest.raises(BadImageError, match="too small"):
        load_image(_png(np.zeros((1, 1, 3), np.uint8)), **LIMITS)


def test_huge_image_is_refused_from_its_header_before_decoding():
    with pytest.raises(BadImageError, match="limit"):
        load_image(_png_header_only(20_000, 20_000), **LIMITS)
    with pytest.raises(BadImageError, match="above the limit of 1,000,000"):
        load_image(_png_header_only(2000, 1000), max_pixels=1_000_000, max_bytes=LIMITS["max_bytes"])


def test_oversized_file_is_refused():
    with pytest.raises(BadImageError, match="bytes is above the limit"):
        load_image(b"x" * 2048, max_pixels=LIMITS["max_pixels"], max_bytes=1024)


@pytest.mark.parametrize("keep", [20, 300])
def test_truncated_jpeg(keep):
    noisy = np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", noisy)
    with pytest.raises(BadImageError):
        load_image(data.tobytes()[:keep], **LIMITS)


@pytest.mark.parametrize(
    "source",
    [
        np.full((40, 60), 200, np.uint8),  # grayscale
        np.dstack([np.full((40, 60, 3), 200, np.uint8), np.full((40, 60), 255, np.uint8)]),  # RGBA
        np.full((40, 60, 3), 200 * 257, np.uint16),  # 16-bit colour
        np.full((40, 60), 200 * 257, np.uint16),  # 16-bit grayscale
    ],
    ids=["gray", "rgba", "rgb16", "gray16"],
)
def test_unusual_pngs_become_bgr_uint8(source):
    image = load_image(_png(source), **LIMITS)
    assert image.shape == (40, 60, 3) and image.dtype == np.uint8
    assert abs(int(image.mean()) - 200) <= 1
