"""Frames with their detections drawn on: boxes, and labels (plate text in Chinese, face quality)."""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from skynet.records import Detections, Frame

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)
FACE_COLOUR = (0, 200, 255)  # RGB
PLATE_COLOUR = (60, 220, 60)
JPEG_QUALITY = 80


@functools.cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """A font with Chinese glyphs when one is installed (fonts-wqy-zenhei), else Pillow's default."""
    for path in FONT_CANDIDATES:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def annotate(image: np.ndarray, detections: Detections) -> np.ndarray:
    """A BGR copy of ``image`` with every face and plate boxed and labelled."""
    canvas = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(canvas)
    font = _font(max(12, image.shape[0] // 40))
    labels = [
        (f.box, FACE_COLOUR, f"face {f.quality.score:.2f}" if f.quality else f"face {f.score:.2f}")
        for f in detections.faces
    ]
    labels += [(p.box, PLATE_COLOUR, p.read.text if p.read else "plate") for p in detections.plates]
    for box, colour, label in labels:
        draw.rectangle((box.x1, box.y1, box.x2, box.y2), outline=colour, width=max(2, image.shape[0] // 300))
        left, top, right, bottom = draw.textbbox((box.x1, box.y1), label, font=font)
        lift = bottom - top + 4
        draw.rectangle((left - 2, top - lift - 2, right + 2, bottom - lift + 2), fill=colour)
        draw.text((box.x1, box.y1 - lift), label, fill=(0, 0, 0), font=font)
    return cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2BGR)


def jpeg(image: np.ndarray) -> bytes:
    """``image`` (BGR) encoded as JPEG."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def annotated_jpeg(frame: Frame, detections: Detections) -> bytes:
    """The frame with its detections drawn on, as JPEG."""
    return jpeg(annotate(frame.image, detections))
