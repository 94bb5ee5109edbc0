"""Loading still images safely: size limits checked on the header, before decoding."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from skynet.errors import BadImageError


def load_image(source: Path | bytes, max_pixels: int, max_bytes: int, name: str | None = None) -> np.ndarray:
    """Decode ``source`` (a path or the file's bytes) into a BGR uint8 (H, W, 3) array.

    Grayscale, RGBA and 16-bit images are converted; EXIF orientation is applied. Empty
    files, non-images and images above ``max_pixels`` (read from the header, so a huge image
    is refused without being decoded) or ``max_bytes`` raise :class:`BadImageError`.
    """
    label = name or (str(source) if isinstance(source, Path) else "upload")
    data = _read_bytes(source, max_bytes, label)
    width, height = _header_size(data, label, max_pixels)
    if width * height > max_pixels:
        raise BadImageError(
            f"{label}: {width}x{height} image has {width * height:,} pixels, above the limit of {max_pixels:,}.",
            hint="scale it down, or raise SKYNET_MAX_IMAGE_PIXELS",
        )
    if width < 2 or height < 2:
        raise BadImageError(f"{label}: a {width}x{height} image is too small to hold a face or a plate.")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        image = _decode_with_pillow(data, label)
    return np.ascontiguousarray(image)


def _read_bytes(source: Path | bytes, max_bytes: int, label: str) -> bytes:
    if isinstance(source, Path):
        if not source.is_file():
            raise BadImageError(f"{label}: no such file.")
        size = source.stat().st_size
        if size > max_bytes:
            raise BadImageError(f"{label}: {size:,} bytes is above the limit of {max_bytes:,}.")
        data = source.read_bytes()
    else:
        data = source
        if len(data) > max_bytes:
            raise BadImageError(f"{label}: {len(data):,} bytes is above the limit of {max_bytes:,}.")
    if not data:
        raise BadImageError(f"{label}: the file is empty.")
    return data


def _header_size(data: bytes, label: str, max_pixels: int) -> tuple[int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:
                return header.size
    except Image.DecompressionBombError:
        raise BadImageError(
            f"{label}: image is far above the limit of {max_pixels:,} pixels.",
            hint="scale it down, or raise SKYNET_MAX_IMAGE_PIXELS",
        ) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise BadImageError(f"{label}: not an image in a supported format (JPEG, PNG, BMP, WebP, TIFF).") from None


def _decode_with_pillow(data: bytes, label: str) -> np.ndarray:
    """Fallback for formats OpenCV cannot decode; truncated files end here too."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = np.asarray(img.convert("RGB"))
    except Exception as exc:  # Pillow raises many types for damaged data
        raise BadImageError(f"{label}: the image data is damaged or truncated ({exc}).") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
